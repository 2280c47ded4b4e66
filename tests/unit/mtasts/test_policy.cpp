// tests/unit/mtasts/test_policy.cpp — the pure part of relay/mtasts: the policy files of
// tests/data/mtasts (table-driven over expected.txt), the size bounds, the TXT record
// (RFC 8461 §3.1), MX matching (§4.1), and the [mta_sts] https_port config key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "relay/mtasts/mtasts.hpp"
#include "tests/unit/config/test_util.hpp"

namespace signpost::mtasts {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kData = fs::path(SIGNPOST_TEST_DATA_DIR) / "mtasts";

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string join(const std::vector<std::string>& v) {
    if (v.empty()) return "-";
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
}

// ---- policy files ------------------------------------------------------------------------

struct Expectation {
    bool valid = false;
    std::string mode, max_age, mx;  // valid
    std::string error;               // invalid: a substring of the message
};

std::map<std::string, Expectation> read_expected() {
    std::map<std::string, Expectation> out;
    std::istringstream in(read_file(kData / "expected.txt"));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        std::string file, verdict;
        fields >> file >> verdict;
        Expectation e;
        e.valid = verdict == "valid";
        if (e.valid) {
            fields >> e.mode >> e.max_age >> e.mx;
        } else {
            EXPECT_EQ(verdict, "invalid") << line;
            std::getline(fields >> std::ws, e.error);
        }
        EXPECT_TRUE(out.emplace(file, e).second) << "duplicate line for " << file;
    }
    return out;
}

TEST(mtasts_policy, FilesMatchExpectations) {
    const auto expected = read_expected();
    std::set<std::string> seen;
    std::size_t valid = 0, invalid = 0;
    for (const auto& entry : fs::directory_iterator(kData / "policies")) {
        const std::string name = entry.path().filename().string();
        seen.insert(name);
        auto it = expected.find(name);
        if (it == expected.end()) {
            ADD_FAILURE() << name << " has no line in expected.txt";
            continue;
        }
        const Expectation& e = it->second;
        std::string error;
        const auto p = parse_policy(read_file(entry.path()), error);
        if (e.valid) {
            ++valid;
            ASSERT_TRUE(p) << name << ": " << error;
            EXPECT_EQ(to_string(p->mode), e.mode) << name;
            EXPECT_EQ(std::to_string(p->max_age), e.max_age) << name;
            EXPECT_EQ(join(p->mx), e.mx) << name;
            EXPECT_EQ(error, "") << name;
            EXPECT_EQ(p->id, "") << name;  // set by the store, not the parser
        } else {
            ++invalid;
            EXPECT_FALSE(p) << name << " parsed";
            EXPECT_THAT(error, HasSubstr(e.error)) << name;
        }
    }
    for (const auto& [file, e] : expected) EXPECT_TRUE(seen.count(file)) << file << " is in expected.txt but missing";
    EXPECT_GE(valid, 20u);
    EXPECT_GE(invalid, 30u);
}

TEST(mtasts_policy, SizeLimitIs64KiB) {
    std::string text = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 86400\r\n";
    const std::size_t room = 64 * 1024 - text.size();
    text += "x: " + std::string(room - 5, 'q') + "\r\n";  // one long extension line
    ASSERT_EQ(text.size(), 64u * 1024);
    std::string error;
    EXPECT_TRUE(parse_policy(text, error)) << error;
    text += "\n";
    EXPECT_FALSE(parse_policy(text, error));
    EXPECT_THAT(error, HasSubstr("65537 octets, more than the limit of 65536"));
}

TEST(mtasts_policy, ErrorIsClearedOnSuccessAndNeverHoldsRawControlBytes) {
    std::string error = "stale";
    EXPECT_TRUE(parse_policy("version: STSv1\nmode: none\nmax_age: 0\n", error));
    EXPECT_EQ(error, "");
    EXPECT_FALSE(parse_policy("version: STSv1\nmode: \x1b[31menforce\nmx: a.test\nmax_age: 1\n", error));
    EXPECT_EQ(error.find('\x1b'), std::string::npos) << error;
    EXPECT_THAT(error, HasSubstr("\\x1b"));
}

TEST(mtasts_policy, ModeNames) {
    EXPECT_STREQ(to_string(Mode::enforce), "enforce");
    EXPECT_STREQ(to_string(Mode::testing), "testing");
    EXPECT_STREQ(to_string(Mode::none), "none");
}

TEST(mtasts_policy, Expiry) {
    Policy p;
    p.max_age = 100;
    p.fetched = std::chrono::system_clock::time_point(std::chrono::seconds(1000));
    EXPECT_FALSE(p.expired(p.fetched));
    EXPECT_FALSE(p.expired(p.fetched + std::chrono::seconds(99)));
    EXPECT_TRUE(p.expired(p.fetched + std::chrono::seconds(100)));
    p.max_age = 0;  // max_age 0: never usable from the cache
    EXPECT_TRUE(p.expired(p.fetched));
}

// ---- TXT records ---------------------------------------------------------------------------

struct TxtCase {
    const char* record;
    const char* id;     // nullptr: invalid
    const char* error;  // invalid: a substring of the message
};

class mtasts_txt : public ::testing::TestWithParam<TxtCase> {};

TEST_P(mtasts_txt, Parses) {
    const TxtCase& c = GetParam();
    std::string error;
    const auto id = parse_txt_record(c.record, error);
    if (c.id) {
        ASSERT_TRUE(id) << c.record << ": " << error;
        EXPECT_EQ(*id, c.id) << c.record;
        EXPECT_EQ(error, "");
    } else {
        EXPECT_FALSE(id) << c.record << " gave " << id.value_or("");
        EXPECT_THAT(error, HasSubstr(c.error)) << c.record;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Records, mtasts_txt,
    ::testing::Values(
        // RFC 8461 §3.1's example.
        TxtCase{"v=STSv1; id=20160831085700Z;", "20160831085700Z", nullptr},
        TxtCase{"v=STSv1; id=20160831085700Z", "20160831085700Z", nullptr},  // final ";" optional
        TxtCase{"v=STSv1;id=abc", "abc", nullptr},
        TxtCase{"v=STSv1 ; id=abc ;", "abc", nullptr},  // *WSP ";" *WSP
        TxtCase{"v=STSv1;\tid=abc;\t", "abc", nullptr},
        TxtCase{"v=STSv1; id=a", "a", nullptr},
        TxtCase{"v=STSv1; id=0123456789abcdefABCDEF0123456789", "0123456789abcdefABCDEF0123456789", nullptr},
        TxtCase{"v=STSv1; foo=bar; id=x1", "x1", nullptr},  // unknown fields ignored, any order
        TxtCase{"v=STSv1; id=x1; ext.name-2_a=!~:<>", "x1", nullptr},
        // Invalid.
        TxtCase{"", nullptr, "does not begin with \"v=STSv1\""},
        TxtCase{"id=abc; v=STSv1;", nullptr, "does not begin"},  // v must be first
        TxtCase{" v=STSv1; id=abc;", nullptr, "does not begin"},
        TxtCase{"v=stsv1; id=abc;", nullptr, "does not begin"},
        TxtCase{"v=STSv2; id=abc;", nullptr, "does not begin"},
        TxtCase{"v=STSv10; id=abc;", nullptr, "must be followed by \";\""},
        TxtCase{"v=STSv1", nullptr, "no id"},
        TxtCase{"v=STSv1;", nullptr, "no id"},
        TxtCase{"v=STSv1; foo=bar;", nullptr, "no id"},
        TxtCase{"v=STSv1 id=abc", nullptr, "must be followed by \";\""},
        TxtCase{"v=STSv1; id=", nullptr, "id must be 1 to 32"},
        TxtCase{"v=STSv1; id=0123456789abcdefABCDEF0123456789x", nullptr, "id must be 1 to 32"},
        TxtCase{"v=STSv1; id=abc-def", nullptr, "id must be 1 to 32"},
        TxtCase{"v=STSv1; id=abc def", nullptr, "id must be 1 to 32"},
        TxtCase{"v=STSv1; id=abc; id=def", nullptr, "more than one id"},
        TxtCase{"v=STSv1; ID=abc", nullptr, "no id"},  // %s"id=": ID is an extension
        TxtCase{"v=STSv1;; id=abc", nullptr, "not name=value"},
        TxtCase{"v=STSv1; id=abc; foo", nullptr, "not name=value"},
        TxtCase{"v=STSv1; id=abc; foo=", nullptr, "malformed field"},
        TxtCase{"v=STSv1; id=abc; _foo=bar", nullptr, "malformed field"},
        TxtCase{"v=STSv1; id=abc; foo=b=r", nullptr, "malformed field"},
        TxtCase{"v=STSv1; id=abc; foo=b\x01r", nullptr, "malformed field"}));

TEST(mtasts_txt_bounds, LongRecordRefused) {
    std::string error;
    std::string record = "v=STSv1; id=abc; x=" + std::string(5000, 'y');
    EXPECT_FALSE(parse_txt_record(record, error));
    EXPECT_THAT(error, HasSubstr("more than 4096"));
}

// ---- MX matching (§4.1) --------------------------------------------------------------------

struct MatchCase {
    const char* host;
    bool matches;
};

class mtasts_match : public ::testing::TestWithParam<MatchCase> {};

TEST_P(mtasts_match, Matches) {
    Policy p;
    p.mode = Mode::enforce;
    p.mx = {"mail.example.com", "*.example.net", "*.mx.example.org"};
    EXPECT_EQ(p.matches(GetParam().host), GetParam().matches) << GetParam().host;
}

INSTANTIATE_TEST_SUITE_P(Hosts, mtasts_match,
                         ::testing::Values(MatchCase{"mail.example.com", true},
                                           MatchCase{"MAIL.Example.COM", true},  // case-insensitive
                                           MatchCase{"mail.example.com.", true},  // trailing dot
                                           MatchCase{"example.com", false},
                                           MatchCase{"mx.mail.example.com", false},
                                           MatchCase{"mail.example.co", false},
                                           MatchCase{"xmail.example.com", false},
                                           // §4.1: "*.example.com" matches "mail.example.com"
                                           // but not "example.com" or "foo.bar.example.com".
                                           MatchCase{"mx1.example.net", true},
                                           MatchCase{"MX1.EXAMPLE.NET", true},
                                           MatchCase{"example.net", false},
                                           MatchCase{"a.b.example.net", false},
                                           MatchCase{".example.net", false},
                                           MatchCase{"mx1example.net", false},
                                           MatchCase{"a.mx.example.org", true},
                                           MatchCase{"mx.example.org", false},
                                           MatchCase{"", false},
                                           MatchCase{".", false}));

TEST(mtasts_match_policy, PatternsFromAParsedPolicy) {
    std::string error;
    const auto p = parse_policy("version: STSv1\nmode: enforce\nmx: *.Example.NET\nmx: MX.example.com\nmax_age: 1\n", error);
    ASSERT_TRUE(p) << error;
    EXPECT_EQ(p->mx, (std::vector<std::string>{"*.example.net", "mx.example.com"}));
    EXPECT_TRUE(p->matches("a.example.net"));
    EXPECT_TRUE(p->matches("mx.example.com"));
    EXPECT_FALSE(p->matches("example.net"));
    Policy empty;
    EXPECT_FALSE(empty.matches("mx.example.com"));
}

// ---- [mta_sts] https_port ------------------------------------------------------------------

TEST(mtasts_config, HttpsPortDefaultsTo443AndIsRead) {
    auto r = config::test::load(std::string(config::test::kMinimal));
    ASSERT_TRUE(r.ok()) << config::test::dump(r);
    EXPECT_EQ(r.config->mta_sts.https_port, 443);
    r = config::test::load(std::string(config::test::kMinimal) + "[mta_sts]\nhttps_port = 8443\n");
    ASSERT_TRUE(r.ok()) << config::test::dump(r);
    EXPECT_EQ(r.config->mta_sts.https_port, 8443);
    EXPECT_THAT(config::to_toml(*r.config), HasSubstr("\nhttps_port = 8443\n"));
}

TEST(mtasts_config, HttpsPortOutOfRangeIsAnError) {
    for (const char* bad : {"0", "65536", "\"443\""}) {
        auto r = config::test::load(std::string(config::test::kMinimal) + "[mta_sts]\nhttps_port = " + bad + "\n");
        ASSERT_FALSE(r.ok()) << bad;
        ASSERT_EQ(r.errors.size(), 1u) << config::test::dump(r);
        EXPECT_EQ(r.errors[0].key, "mta_sts.https_port");
        EXPECT_EQ(r.errors[0].line, config::test::kMinimalLines + 2);
        EXPECT_THAT(r.errors[0].message, HasSubstr("an integer from 1 to 65535"));
    }
}

}  // namespace
}  // namespace signpost::mtasts
