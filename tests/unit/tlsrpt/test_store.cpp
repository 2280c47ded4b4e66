// tests/unit/tlsrpt/test_store.cpp — relay/tlsrpt/store.hpp: events as JSON lines and back,
// a day's file read into counts, a torn or damaged line skipped and counted, the sent
// marks, the day list and pruning, in a temporary directory.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "relay/tlsrpt/report.hpp"
#include "relay/tlsrpt/store.hpp"

namespace {

namespace fs = std::filesystem;
using namespace signpost::tlsrpt;

SessionEvent event(bool ok) {
    SessionEvent e;
    e.policy.type = PolicyType::sts;
    e.policy.domain = "example.org";
    e.policy.strings = {"version: STSv1", "mode: enforce", "mx: mx.example.org", "max_age: 86400"};
    e.policy.mx_host = {"mx.example.org"};
    e.success = ok;
    if (!ok) {
        e.result = ResultType::certificate_host_mismatch;
        e.sending_mta_ip = "192.0.2.1";
        e.receiving_mx_hostname = "mx.example.org";
        e.receiving_ip = "198.51.100.7";
        e.additional_information = "a \"quoted\"\nline";
        e.failure_reason_code = "X509_V_ERR_HOSTNAME_MISMATCH";
    }
    return e;
}

class tlsrpt_store : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("signpost-tlsrpt-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

// 2026-12-06T12:00:00Z
const auto kNoon = std::chrono::system_clock::time_point(std::chrono::seconds(1796558400));

TEST(tlsrpt_event_line, RoundTripsEveryField) {
    for (bool ok : {true, false}) {
        const SessionEvent e = event(ok);
        const std::string line = encode_event(e);
        EXPECT_EQ(line.find('\n'), std::string::npos) << line;
        auto back = decode_event(line);
        ASSERT_TRUE(back) << line;
        EXPECT_EQ(*back, e);
    }
}

TEST(tlsrpt_event_line, RefusesWhatIsNotAnEvent) {
    for (const char* bad : {"", "{", "[]", "{}", R"({"type":"sts","ok":true})", R"({"type":"xyz","domain":"a","ok":true})",
                            R"({"type":"sts","domain":"a","ok":false})", R"({"type":"sts","domain":"a","ok":false,"result":"nope"})",
                            R"({"type":"sts","domain":"a","ok":"yes"})", R"({"type":"sts","domain":"a","ok":true,"strings":"x"})"})
        EXPECT_FALSE(decode_event(bad)) << bad;
}

TEST_F(tlsrpt_store, RecordsLoadsAndSkipsATornLine) {
    Store s(dir_);
    EXPECT_EQ(fs::status(dir_).permissions() & fs::perms::all, fs::perms::owner_all);
    ASSERT_FALSE(s.record(event(true), kNoon));
    ASSERT_FALSE(s.record(event(true), kNoon));
    ASSERT_FALSE(s.record(event(false), kNoon));
    {
        std::ofstream torn(dir_ / "2026-12-06.events", std::ios::app);
        torn << R"({"type":"sts","domain":"exa)";  // a power loss mid-line
    }
    std::size_t bad = 0;
    auto counts = s.load_day("2026-12-06", &bad);
    EXPECT_EQ(bad, 1u);
    ASSERT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts[0].successful, 2u);
    EXPECT_EQ(counts[0].failed, 1u);
    ASSERT_EQ(counts[0].failures.size(), 1u);
    EXPECT_EQ(counts[0].failures[0].result, ResultType::certificate_host_mismatch);
    // A new Store (a restart) reads the same.
    Store again(dir_);
    EXPECT_EQ(again.load_day("2026-12-06")[0].successful, 2u);
    EXPECT_EQ(again.days(), std::vector<std::string>{"2026-12-06"});
}

TEST_F(tlsrpt_store, SentMarksDaysAndPrune) {
    Store s(dir_);
    ASSERT_FALSE(s.record(event(true), kNoon - std::chrono::hours(48)));
    ASSERT_FALSE(s.record(event(true), kNoon));
    EXPECT_EQ(s.days(), (std::vector<std::string>{"2026-12-04", "2026-12-06"}));
    EXPECT_TRUE(s.sent("2026-12-04").empty());
    ASSERT_FALSE(s.mark_sent("2026-12-04", "example.org"));
    ASSERT_FALSE(s.mark_sent("2026-12-04", "example.net"));
    EXPECT_EQ(s.sent("2026-12-04"), (std::set<std::string>{"example.org", "example.net"}));
    s.prune("2026-12-05");
    EXPECT_EQ(s.days(), std::vector<std::string>{"2026-12-06"});
    EXPECT_FALSE(fs::exists(dir_ / "2026-12-04.sent"));
    EXPECT_TRUE(s.load_day("2026-12-04").empty());
}

}  // namespace
