// Unit tests for relay/queue/spool: envelope records round-trip exactly, damaged
// envelopes are refused, commit makes a complete pair, abort and start-up leave no
// temporaries, ids are unique and sort by time.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <thread>
#include <unistd.h>

#include "relay/queue/spool.hpp"

using namespace signpost::queue;
namespace fs = std::filesystem;

namespace {

Envelope sample() {
    Envelope e;
    e.id = "00HOFGO6F3U700NNAOVB";
    e.mail_from = "alice@example.test";
    e.rcpt_to = {"bob@example.org", "carol@example.net"};
    e.user = "dev";
    e.client = "127.0.0.1";
    e.prepend = "DKIM-Signature: v=1; a=ed25519-sha256;\r\n\tb=abc\r\nReceived: by x;\r\n\tdate\r\n";
    e.arrival = std::chrono::system_clock::time_point(std::chrono::microseconds(1795437654123456));
    e.size = 4242;
    e.smtputf8 = true;
    return e;
}

TEST(Envelope, RoundTripsEveryFieldExactly) {
    Envelope e = sample();
    auto back = decode_envelope(encode_envelope(e));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->id, e.id);
    EXPECT_EQ(back->mail_from, e.mail_from);
    EXPECT_EQ(back->rcpt_to, e.rcpt_to);
    EXPECT_EQ(back->user, e.user);
    EXPECT_EQ(back->client, e.client);
    EXPECT_EQ(back->prepend, e.prepend);
    EXPECT_EQ(back->arrival, e.arrival);
    EXPECT_EQ(back->size, e.size);
    EXPECT_TRUE(back->smtputf8);
    EXPECT_FALSE(back->body_8bit);
}

TEST(Envelope, DamagedOrTornRecordsAreRefused) {
    std::string good = encode_envelope(sample());
    for (std::size_t cut = 0; cut < good.size(); cut += 7)
        EXPECT_FALSE(decode_envelope(good.substr(0, cut))) << "cut at " << cut;
    std::string bad_len = good;
    bad_len.replace(bad_len.find("from 18"), 7, "from 99");
    EXPECT_FALSE(decode_envelope(bad_len));
    EXPECT_FALSE(decode_envelope("signpost-envelope 2\n" + good.substr(20)));
    Envelope no_rcpt = sample();
    no_rcpt.rcpt_to.clear();
    EXPECT_FALSE(decode_envelope(encode_envelope(no_rcpt)));
}

class SpoolTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("sp-spool-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(SpoolTest, CommitWritesAPairAndAbortLeavesNothing) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    std::unique_ptr<IncomingMessage> m;
    ASSERT_FALSE(spool.begin(m));
    ASSERT_FALSE(m->write("Subject: x\r\n\r\n"));
    ASSERT_FALSE(m->write(std::string(200000, 'a')));
    Envelope e = sample();
    ASSERT_FALSE(m->commit(e));
    EXPECT_EQ(e.id, m->id());
    EXPECT_EQ(spool.list(), std::vector<std::string>{e.id});
    EXPECT_EQ(fs::file_size(spool.message_path(e.id)), 14u + 200000u);
    auto back = spool.read_envelope(e.id);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->rcpt_to, e.rcpt_to);

    std::unique_ptr<IncomingMessage> gone;
    ASSERT_FALSE(spool.begin(gone));
    ASSERT_FALSE(gone->write("partial"));
    gone->abort();
    EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));
    EXPECT_EQ(spool.list().size(), 1u);
}

TEST_F(SpoolTest, StartUpRemovesTemporariesAndUncommittedMessages) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail));
    std::ofstream(dir_ / "tmp" / "X.msg") << "half";
    std::ofstream(dir_ / "queue" / "Y.msg") << "renamed but no envelope";
    ASSERT_FALSE(Spool(dir_).open(detail));
    EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));
    EXPECT_FALSE(fs::exists(dir_ / "queue" / "Y.msg"));
}

TEST_F(SpoolTest, UnusableDirectoryIsReportedByName) {
    fs::create_directories(dir_);
    std::ofstream(dir_ / "file") << "x";
    Spool spool(dir_ / "file" / "spool");
    std::string detail;
    EXPECT_TRUE(spool.open(detail));
    EXPECT_NE(detail.find("file/spool"), std::string::npos) << detail;
}

TEST(QueueId, UniqueSortableAndFileSafe) {
    std::set<std::string> seen;
    std::string prev;
    for (int i = 0; i < 2000; ++i) {
        bool after_pause = i > 0 && i % 500 == 0;
        if (after_pause) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        std::string id = Spool::new_id();
        ASSERT_EQ(id.size(), 20u);
        for (char c : id) ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) << id;
        ASSERT_TRUE(seen.insert(id).second) << id;
        // Ids made later sort later: the first 12 characters are the time.
        if (after_pause) {
            EXPECT_LT(prev.substr(0, 12), id.substr(0, 12));
        }
        prev = id;
    }
}

}  // namespace
