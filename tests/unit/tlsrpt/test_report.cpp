// tests/unit/tlsrpt/test_report.cpp — relay/tlsrpt/report.hpp: the report JSON (RFC 8460
// §4.4), its file name (§5.1), gzip (§5.2), the TXT record (§3) and UTC days (§4.1). The
// names and add()/for_domain() alone are tested in test_tlsrpt.cpp.
//
// Vector: tests/data/tlsrpt/rfc8460-example.json, the example report of RFC 8460 §4.5
// retyped as data (see the README there for the erratum it follows). The same counts are
// built here through add() and report_json(), and both documents are compared member by
// member after parsing with Boost.JSON (failure-details as a set).
#include <zlib.h>

#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "relay/tlsrpt/report.hpp"
#include "relay/tlsrpt/tlsrpt.hpp"

namespace signpost::tlsrpt {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string read_data(const std::string& name) {
    std::ifstream in(std::string(SIGNPOST_TEST_DATA_DIR) + "/tlsrpt/" + name, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// ---- JSON comparison ---------------------------------------------------------------------

// Appends to `diffs` every difference between `want` and `got` below `path`. Objects must
// have the same keys; arrays are compared in order, except "failure-details" (a set).
void compare(const json::value& want, const json::value& got, const std::string& path, std::vector<std::string>& diffs);

std::vector<std::string> differences(const json::value& want, const json::value& got) {
    std::vector<std::string> diffs;
    compare(want, got, "$", diffs);
    return diffs;
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        out.append(s);
        out.push_back('\n');
    }
    return out;
}

void compare(const json::value& want, const json::value& got, const std::string& path, std::vector<std::string>& diffs) {
    if (want.kind() != got.kind()) {
        std::string d(path);
        d.append(": want ").append(json::serialize(want)).append(", got ").append(json::serialize(got));
        diffs.push_back(d);
        return;
    }
    if (want.is_object()) {
        const auto& w = want.as_object();
        const auto& g = got.as_object();
        for (const auto& [key, value] : w) {
            std::string sub(path);
            sub.append(".").append(key);
            if (const json::value* other = g.if_contains(key)) compare(value, *other, sub, diffs);
            else diffs.push_back(sub.append(": missing"));
        }
        for (const auto& [key, value] : g) {
            std::string sub(path);
            sub.append(".").append(key);
            if (!w.contains(key)) diffs.push_back(sub.append(": unexpected ").append(json::serialize(value)));
        }
        return;
    }
    if (want.is_array()) {
        const auto& w = want.as_array();
        const auto& g = got.as_array();
        if (w.size() != g.size()) {
            std::string d(path);
            d.append(": want ").append(std::to_string(w.size())).append(" elements, got ").append(std::to_string(g.size()));
            diffs.push_back(d);
            return;
        }
        const bool as_set = path.ends_with(".failure-details");
        std::vector<bool> used(g.size(), false);
        for (std::size_t i = 0; i < w.size(); ++i) {
            std::string sub(path);
            sub.append("[").append(std::to_string(i)).append("]");
            if (!as_set) {
                compare(w[i], g[i], sub, diffs);
                continue;
            }
            bool found = false;
            for (std::size_t j = 0; j < g.size() && !found; ++j) {
                if (!used[j] && differences(w[i], g[j]).empty()) found = used[j] = true;
            }
            if (!found) diffs.push_back(sub.append(": no equal element in ").append(json::serialize(got)));
        }
        return;
    }
    if (want != got) {
        std::string d(path);
        d.append(": want ").append(json::serialize(want)).append(", got ").append(json::serialize(got));
        diffs.push_back(d);
    }
}

// ---- the report (§4.4, §4.5) -------------------------------------------------------------

// The counts of the RFC 8460 §4.5 example, built session by session (interleaved, so the
// failure details are not created in the RFC's order).
std::vector<PolicyCounts> rfc_example_counts() {
    Policy p;
    p.type = PolicyType::sts;
    p.domain = "company-y.example";
    p.strings = {"version: STSv1", "mode: testing", "mx: *.mail.company-y.example", "max_age: 86400"};
    p.mx_host = {"*.mail.company-y.example"};

    SessionEvent success;
    success.policy = p;
    SessionEvent expired;
    expired.policy = p;
    expired.success = false;
    expired.result = ResultType::certificate_expired;
    expired.sending_mta_ip = "2001:db8:abcd:0012::1";
    expired.receiving_mx_hostname = "mx1.mail.company-y.example";
    SessionEvent no_starttls;
    no_starttls.policy = p;
    no_starttls.success = false;
    no_starttls.result = ResultType::starttls_not_supported;
    no_starttls.sending_mta_ip = "2001:db8:abcd:0013::1";
    no_starttls.receiving_mx_hostname = "mx2.mail.company-y.example";
    no_starttls.receiving_ip = "203.0.113.56";
    no_starttls.additional_information =
        "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported";
    SessionEvent invalid;
    invalid.policy = p;
    invalid.success = false;
    invalid.result = ResultType::validation_failure;
    invalid.sending_mta_ip = "198.51.100.62";
    invalid.receiving_mx_hostname = "mx-backup.mail.company-y.example";
    invalid.receiving_ip = "203.0.113.58";
    invalid.failure_reason_code = "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED";

    std::vector<PolicyCounts> day;
    int s = 5326, e = 100, n = 200, v = 3;
    const auto some = [&](int& left, const SessionEvent& event, int batch) {
        for (int i = 0; i < batch && left > 0; ++i, --left) add(day, event);
    };
    while (s + e + n + v > 0) {
        some(v, invalid, 1);
        some(n, no_starttls, 1);
        some(s, success, 20);
        some(e, expired, 1);
    }
    return day;
}

ReportMeta rfc_example_meta() {
    ReportMeta m;
    m.organization = "Company-X";
    m.contact = "sts-reporting@company-x.example";
    m.report_id = "5065427c-23d3-47ca-b6e0-946ea0e8c4be";
    m.day = "2016-04-01";
    return m;
}

TEST(tlsrpt_report, Rfc8460Example) {
    const std::string file = read_data("rfc8460-example.json");
    ASSERT_FALSE(file.empty()) << "tests/data/tlsrpt/rfc8460-example.json";
    const json::value want = json::parse(file);

    const auto day = rfc_example_counts();
    ASSERT_EQ(day.size(), 1u);
    EXPECT_EQ(day[0].successful, 5326u);
    EXPECT_EQ(day[0].failed, 303u);
    const std::string text = report_json(rfc_example_meta(), for_domain(day, "company-y.example"));
    boost::system::error_code ec;
    const json::value got = json::parse(text, ec);
    ASSERT_FALSE(ec) << ec.message() << "\n" << text;

    const auto diffs = differences(want, got);
    EXPECT_TRUE(diffs.empty()) << join(diffs) << text;
    // The RFC's member order at the top (a reader may not care; a human diffing does).
    EXPECT_TRUE(text.starts_with("{\"organization-name\":\"Company-X\",\"date-range\":{")) << text;
}

TEST(tlsrpt_report, ComparisonNoticesDifferences) {
    // The comparison itself must not pass everything: change one count in the RFC example.
    const json::value want = json::parse(read_data("rfc8460-example.json"));
    auto day = rfc_example_counts();
    day[0].failures[0].count += 1;
    const json::value got = json::parse(report_json(rfc_example_meta(), day));
    EXPECT_FALSE(differences(want, got).empty());
    auto meta = rfc_example_meta();
    meta.day = "2016-04-02";
    EXPECT_FALSE(differences(want, json::parse(report_json(meta, rfc_example_counts()))).empty());
}

TEST(tlsrpt_report, OptionalMembersLeftOutWhenEmpty) {
    Policy none;
    none.type = PolicyType::no_policy_found;
    none.domain = "example.org";
    SessionEvent e;
    e.policy = none;
    std::vector<PolicyCounts> day;
    add(day, e);
    e.success = false;
    e.result = ResultType::starttls_not_supported;
    PolicyCounts only_success = day[0];
    add(day, e);

    ReportMeta meta = rfc_example_meta();
    meta.day = "2024-02-29";
    const json::value r = json::parse(report_json(meta, {only_success}));
    const json::object& policy = r.at("policies").at(0).as_object();
    EXPECT_FALSE(policy.contains("failure-details"));
    EXPECT_EQ(policy.at("policy").as_object().size(), 2u);  // policy-type, policy-domain
    EXPECT_EQ(policy.at("policy").at("policy-type"), "no-policy-found");
    EXPECT_EQ(policy.at("policy").at("policy-domain"), "example.org");
    EXPECT_EQ(policy.at("summary").at("total-successful-session-count"), 1);
    EXPECT_EQ(policy.at("summary").at("total-failure-session-count"), 0);
    EXPECT_EQ(r.at("date-range").at("start-datetime"), "2024-02-29T00:00:00Z");
    EXPECT_EQ(r.at("date-range").at("end-datetime"), "2024-02-29T23:59:59Z");

    const json::value r2 = json::parse(report_json(meta, day));
    const json::object& detail = r2.at("policies").at(0).at("failure-details").at(0).as_object();
    EXPECT_EQ(detail.size(), 2u) << json::serialize(detail);  // no IPs, host, information, code
    EXPECT_EQ(detail.at("result-type"), "starttls-not-supported");
    EXPECT_EQ(detail.at("failed-session-count"), 1);

    const json::value empty = json::parse(report_json(meta, {}));
    EXPECT_TRUE(empty.at("policies").as_array().empty());
}

TEST(tlsrpt_report, StringsAreEscapedAndMadeUtf8) {
    Policy p;
    p.type = PolicyType::sts;
    p.domain = "example.net";
    // From a policy file or DNS: a quote, a backslash, a control character, valid UTF-8 (é,
    // U+1F600) and invalid bytes (a lone continuation, an overlong "/", a surrogate, a
    // truncated sequence at the end).
    p.strings = {"mx: \"quoted\" \\ \x01 caf\xC3\xA9 \xF0\x9F\x98\x80",
                 "bad: \x80 \xC0\xAF \xED\xA0\x80 \xE2\x82"};
    SessionEvent e;
    e.policy = p;
    std::vector<PolicyCounts> day;
    add(day, e);
    const std::string text = report_json(rfc_example_meta(), day);
    boost::system::error_code ec;
    const json::value r = json::parse(text, ec);  // Boost.JSON rejects invalid UTF-8
    ASSERT_FALSE(ec) << ec.message() << "\n" << text;
    const auto& strings = r.at("policies").at(0).at("policy").at("policy-string").as_array();
    EXPECT_EQ(strings.at(0), "mx: \"quoted\" \\ \x01 caf\xC3\xA9 \xF0\x9F\x98\x80");
    const std::string fffd = "\xEF\xBF\xBD";
    std::string repaired = "bad: ";
    repaired.append(fffd).append(" ").append(fffd).append(fffd).append(" ");
    repaired.append(fffd).append(fffd).append(fffd).append(" ").append(fffd).append(fffd);
    EXPECT_EQ(strings.at(1), repaired.c_str());
}

// ---- file name (§5.1) --------------------------------------------------------------------

TEST(tlsrpt_filename, RfcPattern) {
    // filename = sender "!" policy-domain "!" begin-timestamp "!" end-timestamp
    //            [ "!" unique-id ] "." extension;  unique-id = 1*(ALPHA / DIGIT)
    const std::regex pattern(R"(^[^!]+![^!]+!([0-9]+)!([0-9]+)(![A-Za-z0-9]+)?\.json\.gz$)");
    // The RFC's own example name matches the pattern.
    EXPECT_TRUE(std::regex_match("mail.sndr.example.com!example.net!1470013207!1470186007!001.json.gz", pattern));

    const std::string name = report_filename("mail.sndr.example.com", "example.net", "2016-04-01", "001");
    EXPECT_EQ(name, "mail.sndr.example.com!example.net!1459468800!1459555199!001.json.gz");
    std::smatch m;
    ASSERT_TRUE(std::regex_match(name, m, pattern)) << name;
    EXPECT_EQ(std::stoll(m[2].str()) - std::stoll(m[1].str()), 86399);

    EXPECT_EQ(report_filename("mail.sndr.example.com", "example.net", "2016-04-01", ""),
              "mail.sndr.example.com!example.net!1459468800!1459555199.json.gz");
    // A UUID report-id keeps only its letters and digits.
    const std::string uuid = report_filename("relay.example", "company-y.example", "2024-02-29",
                                             "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
    EXPECT_EQ(uuid, "relay.example!company-y.example!1709164800!1709251199!5065427c23d347cab6e0946ea0e8c4be.json.gz");
    EXPECT_TRUE(std::regex_match(uuid, pattern)) << uuid;
    EXPECT_EQ(report_filename("a.example", "b.example", "2016-04-01", "--"), "a.example!b.example!1459468800!1459555199.json.gz");
    // An invalid day is visible, never a plausible time.
    EXPECT_EQ(report_filename("a.example", "b.example", "2016-02-30", "x"), "a.example!b.example!-1!-1!x.json.gz");
}

// ---- gzip (§5.2) -------------------------------------------------------------------------

// RFC 1952 decoding with zlib (windowBits 15+32: gzip or zlib header, detected); nullopt
// when the stream is not whole or has bytes after its end.
std::optional<std::string> gunzip(const std::string& gz) {
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 32) != Z_OK) return std::nullopt;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
    zs.avail_in = static_cast<uInt>(gz.size());
    std::string out;
    char buf[16384];
    int rc = Z_OK;
    do {
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof buf;
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) break;
        out.append(buf, sizeof buf - zs.avail_out);
    } while (rc != Z_STREAM_END);
    const bool whole = rc == Z_STREAM_END && zs.avail_in == 0;
    inflateEnd(&zs);
    if (!whole) return std::nullopt;
    return out;
}

TEST(tlsrpt_gzip, RoundTrip) {
    std::string random(1 << 20, '\0');  // incompressible: the output is larger than one buffer
    std::mt19937 rng(8460);
    for (char& c : random) c = static_cast<char>(rng() & 0xFF);
    std::string repetitive;
    while (repetitive.size() < (3u << 20)) repetitive.append("{\"result-type\":\"certificate-expired\"},");
    const std::vector<std::string> inputs = {"", "a", std::string("\0\x01\xFF", 3), read_data("rfc8460-example.json"),
                                             random, repetitive};
    for (const auto& in : inputs) {
        const std::string gz = gzip(in);
        ASSERT_GE(gz.size(), 18u) << in.size();  // 10-byte header, 8-byte trailer
        EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1F);
        EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8B);
        EXPECT_EQ(static_cast<unsigned char>(gz[2]), 8);  // CM = deflate
        const auto back = gunzip(gz);
        ASSERT_TRUE(back) << in.size();
        EXPECT_TRUE(*back == in) << in.size();
    }
    EXPECT_LT(gzip(repetitive).size(), repetitive.size() / 50);
    // A truncated stream is noticed by the check above (the helper is not too lenient).
    const std::string gz = gzip("hello, world");
    EXPECT_FALSE(gunzip(gz.substr(0, gz.size() - 4)));
}

// ---- TXT record (§3) ---------------------------------------------------------------------

struct RecordCase {
    const char* txt;
    std::optional<std::vector<std::string>> want;
};

TEST(tlsrpt_record, Table) {
    using V = std::vector<std::string>;
    const std::vector<RecordCase> cases = {
        // valid
        {"v=TLSRPTv1;rua=mailto:reports@example.com", V{"mailto:reports@example.com"}},  // §3.1's first example
        {"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", V{"https://reporting.example.com/v1/tlsrpt"}},
        {"v=TLSRPTv1; rua=mailto:a@b.example,https://x.example/y", V{"mailto:a@b.example", "https://x.example/y"}},
        {"v=TLSRPTv1 ;\trua=mailto:a@b.example , https://x.example/y ; ", V{"mailto:a@b.example", "https://x.example/y"}},
        {"v=TLSRPTv1; rua=mailto:a@b.example;", V{"mailto:a@b.example"}},
        {"v=TLSRPTv1; ext_1=x-y!z; rua=MAILTO:a@b.example", V{"mailto:a@b.example"}},  // scheme in any case, lower-cased
        {"v=TLSRPTv1; rua=mailto:a@b.example; rua=https://x.example/", V{"mailto:a@b.example", "https://x.example/"}},
        {"v=TLSRPTv1; rua=mailto:a%2Cb@c.example", V{"mailto:a%2Cb@c.example"}},
        // valid records whose only URIs we cannot use: an empty list, not nullopt
        {"v=TLSRPTv1; rua=ftp://x.example/, mailto:a@b.example", V{"mailto:a@b.example"}},
        {"v=TLSRPTv1; rua=http://x.example/report", V{}},
        {"v=TLSRPTv1; rua=mailto:", V{}},
        // invalid
        {"", std::nullopt},
        {"rua=mailto:a@b.example", std::nullopt},                     // no version
        {"rua=mailto:a@b.example; v=TLSRPTv1", std::nullopt},         // version not first
        {"v=TLSRPTv2; rua=mailto:a@b.example", std::nullopt},         // wrong version
        {"v=tlsrptv1; rua=mailto:a@b.example", std::nullopt},         // %s: case-sensitive
        {"V=TLSRPTv1; rua=mailto:a@b.example", std::nullopt},
        {"v=TLSRPTv10; rua=mailto:a@b.example", std::nullopt},
        {" v=TLSRPTv1; rua=mailto:a@b.example", std::nullopt},        // leading space
        {"v=TLSRPTv1 rua=mailto:a@b.example", std::nullopt},          // no ";" after the version
        {"v=TLSRPTv1", std::nullopt},                                 // no rua
        {"v=TLSRPTv1;", std::nullopt},
        {"v=TLSRPTv1; ext=1", std::nullopt},
        {"v=TLSRPTv1; RUA=mailto:a@b.example", std::nullopt},         // an extension, so no rua
        {"v=TLSRPTv1; rua = mailto:a@b.example", std::nullopt},       // no spaces around "="
        {"v=TLSRPTv1; rua=", std::nullopt},
        {"v=TLSRPTv1; rua=mailto:a@b.example,,https://x.example/", std::nullopt},
        {"v=TLSRPTv1; rua=mailto:a@b.example,", std::nullopt},
        {"v=TLSRPTv1;; rua=mailto:a@b.example", std::nullopt},
        {"v=TLSRPTv1; rua=mailto:a b@c.example", std::nullopt},
        {"v=TLSRPTv1; rua=reports@example.com", std::nullopt},        // no scheme
        {"v=TLSRPTv1; rua=mailto:a@b.example; junk", std::nullopt},   // a field without "="
        {"v=TLSRPTv1; rua=mailto:a@b.example; x=", std::nullopt},     // an empty extension value
        {"v=TLSRPTv1; rua=mailto:caf\xC3\xA9@b.example", std::nullopt},
    };
    for (const auto& c : cases) {
        const auto got = parse_tlsrpt_record(c.txt);
        ASSERT_EQ(got.has_value(), c.want.has_value()) << c.txt;
        if (got) {
            EXPECT_EQ(*got, *c.want) << c.txt;
        }
    }
}

// ---- days (§4.1) -------------------------------------------------------------------------

TEST(tlsrpt_days, DayStart) {
    const std::vector<std::pair<const char*, std::int64_t>> days = {
        {"1970-01-01", 0},
        {"2016-04-01", 1459468800},  // the RFC 8460 example's day
        {"2016-02-29", 1456704000},  // leap days
        {"2000-02-29", 951782400},
        {"2024-02-29", 1709164800},
        {"2016-12-31", 1483142400},
        {"2038-01-19", 2147472000},
        {"9999-12-31", 253402214400},
    };
    for (const auto& [day, start] : days) EXPECT_EQ(day_start_unix(day), start) << day;
    for (const char* bad : {"", "2016-4-01", "2016-04-1", "2016/04/01", "2016-04-01T", "2016-13-01", "2016-00-10",
                            "2016-04-00", "2016-04-31", "2023-02-29", "2100-02-29", "1969-12-31", "+016-04-01",
                            "2016-0a-01", " 2016-04-0"})
        EXPECT_EQ(day_start_unix(bad), -1) << bad;
}

TEST(tlsrpt_days, DayOf) {
    using std::chrono::system_clock;
    const auto at = [](std::int64_t t) { return system_clock::time_point(std::chrono::seconds(t)); };
    EXPECT_EQ(day_of(at(0)), "1970-01-01");
    EXPECT_EQ(day_of(at(1459468800)), "2016-04-01");
    EXPECT_EQ(day_of(at(1459468800 + 86399)), "2016-04-01");
    EXPECT_EQ(day_of(at(1459468800 + 86399) + 999ms), "2016-04-01");
    EXPECT_EQ(day_of(at(1459468800 + 86400)), "2016-04-02");
    EXPECT_EQ(day_of(at(1459468800) - 1ms), "2016-03-31");
    EXPECT_EQ(day_of(at(1456704000 + 43200)), "2016-02-29");
    EXPECT_EQ(day_of(at(951782400)), "2000-02-29");
    EXPECT_EQ(day_of(at(951782400 + 86400)), "2000-03-01");
    EXPECT_EQ(day_of(at(2147483647)), "2038-01-19");
    EXPECT_EQ(day_of(at(-1)), std::nullopt);
    // day_of and day_start_unix agree over 1970-2200, every day.
    for (std::int64_t t = 0; t < 7'000'000'000; t += 86400) {
        const auto d = day_of(at(t + 3600));
        ASSERT_TRUE(d) << t;
        ASSERT_EQ(day_start_unix(*d), t) << *d;
    }
}

}  // namespace
}  // namespace signpost::tlsrpt
