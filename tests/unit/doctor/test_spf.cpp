// tests/unit/doctor/test_spf.cpp — relay/doctor/spf: the record parser, macro expansion
// (with the RFC 7208 §7.4 examples from tests/data/spf/macro-examples.txt), check_host()
// against a scripted resolver (every mechanism, qualifiers, include/redirect, the §4.6.4
// limits, temperror) and lookup_count().
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "tests/unit/doctor/run.hpp"
#include "relay/doctor/spf.hpp"

namespace signpost::doctor::spf {
namespace {

namespace asio = boost::asio;
using signpost::doctor::test::run;

// Answers from maps. A name in no map is NXDOMAIN; a name in some map but not asked type
// is NODATA (ok, no records). `fail(...)` makes one question answer servfail or timeout.
class ScriptedDns final : public dns::Resolver {
public:
    std::map<std::string, std::vector<std::string>> txt_records;
    std::map<std::string, std::vector<std::string>> a_records, aaaa_records;
    std::map<std::string, std::vector<dns::MxRecord>> mx_records;
    std::map<std::string, std::vector<std::string>> ptr_records;  // by address text
    std::map<std::string, dns::Status> failures;                  // "TXT name", "A name", "PTR ip"
    std::vector<std::string> queries;                             // "TXT name", in order

    void txt(const std::string& name, std::string record) { txt_records[name].push_back(std::move(record)); }
    void a(const std::string& name, std::string address) { a_records[name].push_back(std::move(address)); }
    void aaaa(const std::string& name, std::string address) { aaaa_records[name].push_back(std::move(address)); }
    void mx(const std::string& name, std::uint16_t pref, std::string host) {
        mx_records[name].push_back(dns::MxRecord{pref, std::move(host)});
    }
    void ptr(const std::string& ip, std::string name) { ptr_records[ip].push_back(std::move(name)); }
    void fail(const std::string& question, dns::Status s = dns::Status::servfail) { failures[question] = s; }
    int count(const std::string& prefix) const {
        int n = 0;
        for (const auto& q : queries) n += q.rfind(prefix, 0) == 0;
        return n;
    }

    asio::awaitable<dns::MxAnswer> mx(std::string name) override {
        dns::MxAnswer r;
        answer(r, "MX " + name, name);
        if (r.status == dns::Status::ok && mx_records.count(name)) r.records = mx_records[name];
        co_return r;
    }
    asio::awaitable<dns::AddressAnswer> a(std::string name) override {
        dns::AddressAnswer r = addresses("A ", name, a_records);
        co_return r;
    }
    asio::awaitable<dns::AddressAnswer> aaaa(std::string name) override {
        dns::AddressAnswer r = addresses("AAAA ", name, aaaa_records);
        co_return r;
    }
    asio::awaitable<dns::TxtRecords> txt(std::string name) override {
        dns::TxtRecords r;
        answer(r, "TXT " + name, name);
        if (r.status == dns::Status::ok && txt_records.count(name)) r.records = txt_records[name];
        co_return r;
    }
    asio::awaitable<dns::TlsaAnswer> tlsa(std::string) override { co_return dns::TlsaAnswer{}; }
    asio::awaitable<dns::NameAnswer> ptr(asio::ip::address ip) override {
        dns::NameAnswer r;
        const std::string key = ip.to_string();
        queries.push_back("PTR " + key);
        r.status = dns::Status::nxdomain;
        if (auto f = failures.find("PTR " + key); f != failures.end()) r.status = f->second;
        else if (ptr_records.count(key)) {
            r.status = dns::Status::ok;
            r.names = ptr_records[key];
        }
        co_return r;
    }

private:
    bool known(const std::string& name) const {
        return txt_records.count(name) || a_records.count(name) || aaaa_records.count(name) || mx_records.count(name);
    }
    void answer(dns::Answer& r, const std::string& question, const std::string& name) {
        queries.push_back(question);
        if (auto f = failures.find(question); f != failures.end()) {
            r.status = f->second;
            r.why = f->second == dns::Status::timeout ? "timeout after 10s" : "SERVFAIL";
            return;
        }
        r.status = known(name) ? dns::Status::ok : dns::Status::nxdomain;
    }
    dns::AddressAnswer addresses(const std::string& type, const std::string& name,
                                 const std::map<std::string, std::vector<std::string>>& m) {
        dns::AddressAnswer r;
        answer(r, type + name, name);
        if (r.status != dns::Status::ok) return r;
        if (auto it = m.find(name); it != m.end())
            for (const auto& s : it->second) r.addresses.push_back(asio::ip::make_address(s));
        return r;
    }
};


Evaluation check(ScriptedDns& dns, const std::string& ip, const std::string& sender,
                 const std::string& helo = "mail.helo.example") {
    return run(check_host(dns, asio::ip::make_address(ip), "", sender, helo));
}

Record parsed(const std::string& text) {
    auto r = parse_record(text);
    if (auto* e = std::get_if<ParseError>(&r)) ADD_FAILURE() << text << ": " << e->why;
    return std::get_if<Record>(&r) ? std::get<Record>(r) : Record{};
}

// --- the parser ---

TEST(doctor_SpfParse, AcceptsValidRecords) {
    for (const char* text : {
             "v=spf1", "v=spf1 -all", "V=SPF1 +ALL", "v=spf1  -all  ", "v=spf1 a mx ptr ~all",
             "v=spf1 ip4:192.0.2.0/24 ip4:0.0.0.0/0 ip4:198.51.100.7 ?all",
             "v=spf1 ip6:2001:db8::/32 ip6:::1 ip6:::ffff:192.0.2.1/128 ip6:2001:DB8::1/0 -all",
             "v=spf1 a/24//64 a//64 a/0 mx/32 mx:mail.example.com/24 a:Example.COM. -all",
             "v=spf1 include:_spf.example.com include:%{d2} exists:%{ir}.%{l1r+-}._spf.%{d} -all",
             "v=spf1 exists:%{i}.%{L}.%{ir}.%{v}.%{h}.%{o}.%{s}.%{p}.x.example exists:%%.%_.%-.example.com",
             "v=spf1 a:xn--p1ai.example.xn--p1ai a:host.1-2 ptr:example.com -all",
             "v=spf1 redirect=_spf.example.com", "v=spf1 exp=explain.%{d} -all",
             "v=spf1 moo= foo=bar a-b.c_d=%{l} v=spf1 -all", "v=spf1 ip4=1.2.3.4 all=yes -all",
             "v=spf1 exists:%{d100r+-.,/_=}.example.com",
         }) {
        auto r = parse_record(text);
        EXPECT_TRUE(std::holds_alternative<Record>(r))
            << text << ": " << (std::holds_alternative<ParseError>(r) ? std::get<ParseError>(r).why : "");
    }
}

TEST(doctor_SpfParse, RejectsSyntaxErrors) {
    for (const char* text : {
             "v=spf2 -all", "v=spf1x -all", "spf1 -all", "v=spf1 moo", "v=spf1 -all:foo", "v=spf1 all/24",
             "v=spf1 ip4:1.2.3.4/33", "v=spf1 ip4:1.2.3", "v=spf1 ip4:01.2.3.4", "v=spf1 ip4:256.1.1.1",
             "v=spf1 ip4:1.2.3.4//24", "v=spf1 ip4:1.2.3.4/", "v=spf1 ip4:1.2.3.4/024", "v=spf1 ip4",
             "v=spf1 ip6:2001:db8::/129", "v=spf1 ip6:zz::1", "v=spf1 ip6:1.2.3.4", "v=spf1 ip6:fe80::1%eth0",
             "v=spf1 a/33", "v=spf1 a//129", "v=spf1 a/024", "v=spf1 a:", "v=spf1 a:example", "v=spf1 a:192.0.2.1",
             "v=spf1 a:example.123", "v=spf1 a:example.com/", "v=spf1 a:example.-com", "v=spf1 mx:ex ample.com",
             "v=spf1 include", "v=spf1 include:", "v=spf1 exists", "v=spf1 include:example.com/24", "v=spf1 ptr/24",
             "v=spf1 redirect=a.example redirect=b.example", "v=spf1 exp=a.example EXP=b.example",
             "v=spf1 redirect=", "v=spf1 redirect=localhost", "v=spf1 exists:%{x}.example.com",
             "v=spf1 exists:%{c}.example.com", "v=spf1 exists:%{r}.example.com", "v=spf1 exists:%{t}.example.com",
             "v=spf1 exists:%(ir).example.com", "v=spf1 exists:%{i0}.example.com", "v=spf1 exists:%{i.example.com",
             "v=spf1 exists:%{i:}.example.com", "v=spf1 a:foo.%{d}.", "v=spf1 exists:%", "v=spf1 foo=%{t}",
             "v=spf1 foo=%", "v=spf1 -all\t", "v=spf1 a:ex\x80" "ample.com", "v=spf1 +redirect=x.example",
             "v=spf1 =a", "v=spf1 +", "v=spf1 a:foo\x01.example.com",
         }) {
        auto r = parse_record(text);
        ASSERT_TRUE(std::holds_alternative<ParseError>(r)) << text;
        EXPECT_FALSE(std::get<ParseError>(r).why.empty()) << text;
    }
}

TEST(doctor_SpfParse, TermsAndModifiers) {
    Record r = parsed("v=spf1 -a:Mail.Example.com/24//64 ~ip4:192.0.2.0/24 ?exists:%{i}.x.example "
                      "ip6:2001:db8::/48 Redirect=r.example exp=e.example Foo=bar mx");
    ASSERT_EQ(r.terms.size(), 8u);
    const Term& a = r.terms[0];
    EXPECT_FALSE(a.is_modifier);
    EXPECT_EQ(a.qualifier, Qualifier::fail);
    EXPECT_EQ(a.mechanism, Mechanism::a);
    EXPECT_EQ(a.domain_spec, "Mail.Example.com");
    EXPECT_EQ(a.cidr4, 24);
    EXPECT_EQ(a.cidr6, 64);
    EXPECT_EQ(a.text, "-a:Mail.Example.com/24//64");
    EXPECT_EQ(r.terms[1].qualifier, Qualifier::softfail);
    EXPECT_EQ(r.terms[1].address, "192.0.2.0");
    EXPECT_EQ(r.terms[1].cidr4, 24);
    EXPECT_EQ(r.terms[2].qualifier, Qualifier::neutral);
    EXPECT_EQ(r.terms[2].mechanism, Mechanism::exists);
    EXPECT_EQ(r.terms[2].domain_spec, "%{i}.x.example");
    EXPECT_EQ(r.terms[3].address, "2001:db8::");
    EXPECT_EQ(r.terms[3].cidr6, 48);
    EXPECT_TRUE(r.terms[4].is_modifier);
    EXPECT_EQ(r.terms[4].name, "redirect");
    EXPECT_EQ(r.terms[4].value, "r.example");
    EXPECT_EQ(r.terms[6].name, "foo");
    EXPECT_EQ(r.terms[7].qualifier, Qualifier::pass);
    EXPECT_EQ(r.terms[7].domain_spec, "");
    ASSERT_NE(r.redirect(), nullptr);
    EXPECT_EQ(r.redirect()->value, "r.example");
    EXPECT_EQ(r.all(), nullptr);
    EXPECT_NE(parsed("v=spf1 -all").all(), nullptr);
    EXPECT_EQ(parsed("v=spf1 -all").redirect(), nullptr);
}

TEST(doctor_SpfParse, ErrorNamesTheTerm) {
    auto r = parse_record("v=spf1 ip4:1.2.3.4/33 -all");
    ASSERT_TRUE(std::holds_alternative<ParseError>(r));
    EXPECT_NE(std::get<ParseError>(r).why.find("ip4:1.2.3.4/33"), std::string::npos);
    r = parse_record("v=spf1 foo -all");
    EXPECT_NE(std::get<ParseError>(r).why.find("unknown mechanism \"foo\""), std::string::npos);
}

TEST(doctor_SpfParse, SelectsRecords) {
    auto r = spf_records({"v=spf1 -all", "V=SPF1", "v=spf10 -all", "google-site-verification=x", "v=spf1x",
                          " v=spf1 -all", "v=spf1"});
    EXPECT_EQ(r, (std::vector<std::string>{"v=spf1 -all", "V=SPF1", "v=spf1"}));
}

TEST(doctor_SpfParse, ResultNames) {
    EXPECT_STREQ(to_string(Result::none), "none");
    EXPECT_STREQ(to_string(Result::neutral), "neutral");
    EXPECT_STREQ(to_string(Result::pass), "pass");
    EXPECT_STREQ(to_string(Result::fail), "fail");
    EXPECT_STREQ(to_string(Result::softfail), "softfail");
    EXPECT_STREQ(to_string(Result::temperror), "temperror");
    EXPECT_STREQ(to_string(Result::permerror), "permerror");
}

// --- macros ---

TEST(doctor_SpfMacro, Rfc7208Examples) {
    std::ifstream in(std::string(SIGNPOST_TEST_DATA_DIR) + "/spf/macro-examples.txt");
    ASSERT_TRUE(in) << "tests/data/spf/macro-examples.txt";
    std::string line, first;
    std::getline(in, first);
    EXPECT_NE(first.find("Source: RFC 7208 §7.4"), std::string::npos);
    std::string sender, ip, p;
    int n = 0;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream words(line);
        std::string a, b, c;
        words >> a >> b >> c;
        if (a == "with") {
            if (b == "sender") sender = c;
            if (b == "ip") ip = c;
            if (b == "p") p = c;
            continue;
        }
        MacroValues v = macro_values(asio::ip::make_address(ip), sender, "", "mx.example.org");
        v.p = p;
        EXPECT_EQ(expand_macros(a, v), b) << line;
        ++n;
    }
    EXPECT_EQ(n, 20);
}

TEST(doctor_SpfMacro, EscapesSpecialsAndUppercase) {
    MacroValues v = macro_values(asio::ip::make_address("192.0.2.3"), "strong bad+x@email.example.com", "",
                                 "mx.example.org");
    EXPECT_EQ(expand_macros("%{S}", v, false), "strong%20bad%2Bx%40email.example.com");
    EXPECT_EQ(expand_macros("%{L}.%{l}", v, false), "strong%20bad%2Bx.strong bad+x");
    EXPECT_EQ(expand_macros("%{l+}", v, false), "strong bad.x");
    EXPECT_EQ(expand_macros("%%a%_b%-c", v, false), "%a b%20c");
    EXPECT_EQ(expand_macros("%{V}.%{h}.%{H2r}", v, false), "in-addr.mx.example.org.example.mx");
    EXPECT_EQ(expand_macros("%{d9}", v, false), "email.example.com");
    EXPECT_EQ(expand_macros("%{p}", v, false), "unknown");
    EXPECT_EQ(expand_macros("%{i}x", v), "192.0.2.3x");
    EXPECT_EQ(expand_macros("%{d}.", v), "email.example.com");  // trailing dot dropped (§7.3)
    EXPECT_EQ(expand_macros("%{d}.", v, false), "email.example.com.");
    EXPECT_EQ(expand_macros("%{c}", v), std::nullopt);
    EXPECT_EQ(expand_macros("%{i0}", v), std::nullopt);
    EXPECT_EQ(expand_macros("%x", v), std::nullopt);
    EXPECT_EQ(expand_macros("%{i", v), std::nullopt);
}

TEST(doctor_SpfMacro, LongExpansionsLoseLeftLabels) {
    const std::string sender = std::string(60, 'a') + "@example.com";
    MacroValues v = macro_values(asio::ip::make_address("192.0.2.3"), sender, "", "h.example");
    std::string spec = "%{l}.%{l}.%{l}.%{l}.%{l}.example.com";  // 5*61 + 11 = 316 octets
    auto out = expand_macros(spec, v);
    ASSERT_TRUE(out);
    EXPECT_LE(out->size(), 253u);
    // 316 octets: two labels go (255 is still too long).
    EXPECT_EQ(*out, std::string(60, 'a') + "." + std::string(60, 'a') + "." + std::string(60, 'a') + ".example.com");
}

TEST(doctor_SpfMacro, ValuesOfSenderAndAddress) {
    MacroValues v = macro_values(asio::ip::make_address("::ffff:192.0.2.1"), "", "", "helo.example");
    EXPECT_EQ(v.s, "postmaster@helo.example");
    EXPECT_EQ(v.l, "postmaster");
    EXPECT_EQ(v.o, "helo.example");
    EXPECT_EQ(v.d, "helo.example");
    EXPECT_EQ(v.i, "192.0.2.1");
    EXPECT_EQ(v.v, "in-addr");
    v = macro_values(asio::ip::make_address("2001:db8::1"), "@example.com", "other.example", "h");
    EXPECT_EQ(v.s, "postmaster@example.com");
    EXPECT_EQ(v.d, "other.example");
    EXPECT_EQ(v.v, "ip6");
    EXPECT_EQ(v.i, "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1");
    EXPECT_EQ(macro_values(asio::ip::make_address("192.0.2.1"), "user", "", "h.example").s, "postmaster@h.example");
}

TEST(doctor_SpfMacro, DomainSpecSyntax) {
    EXPECT_FALSE(check_domain_spec("example.com"));
    EXPECT_FALSE(check_domain_spec("example.com."));
    EXPECT_FALSE(check_domain_spec("%{d}"));
    EXPECT_FALSE(check_domain_spec("x.%{d}"));
    EXPECT_FALSE(check_domain_spec("foo.%%"));
    EXPECT_TRUE(check_domain_spec(""));
    EXPECT_TRUE(check_domain_spec("com"));
    EXPECT_TRUE(check_domain_spec("%{d}."));
    EXPECT_TRUE(check_domain_spec("example.c_m"));
    EXPECT_TRUE(check_domain_spec("example.-x"));
}

// --- check_host ---

TEST(doctor_SpfCheck, EveryMechanismMatches) {
    ScriptedDns dns;
    dns.txt("ip4.example", "v=spf1 ip4:192.0.2.0/24 -all");
    dns.txt("ip6.example", "v=spf1 ip6:2001:db8::/32 -all");
    dns.txt("a.example", "v=spf1 a/28 -all");
    dns.a("a.example", "192.0.2.17");
    dns.txt("a6.example", "v=spf1 a:host.a6.example//64 -all");
    dns.aaaa("host.a6.example", "2001:db8:1:2::99");
    dns.txt("mx.example", "v=spf1 mx:mx.example/30 -all");
    dns.mx("mx.example", 10, "mx1.mx.example");
    dns.mx("mx.example", 20, "mx2.mx.example");
    dns.a("mx2.mx.example", "198.51.100.9");
    dns.txt("exists.example", "v=spf1 exists:%{ir}.list.exists.example -all");
    dns.a("3.2.0.192.list.exists.example", "127.0.0.2");
    dns.txt("ptr.example", "v=spf1 ptr -all");
    dns.ptr("192.0.2.3", "mail.ptr.example");
    dns.a("mail.ptr.example", "192.0.2.3");
    dns.txt("all.example", "v=spf1 +all");
    dns.txt("inc.example", "v=spf1 include:ip4.example -all");

    struct Case {
        const char* ip;
        const char* sender;
        Result want;
    };
    for (const Case& c : std::vector<Case>{
             {"192.0.2.200", "u@ip4.example", Result::pass}, {"192.0.3.1", "u@ip4.example", Result::fail},
             {"2001:db8::5", "u@ip6.example", Result::pass}, {"2001:db9::5", "u@ip6.example", Result::fail},
             {"2001:db8::5", "u@ip4.example", Result::fail},  // ip4 never matches IPv6
             {"192.0.2.30", "u@a.example", Result::pass}, {"192.0.2.33", "u@a.example", Result::fail},
             {"2001:db8:1:2::1", "u@a6.example", Result::pass}, {"2001:db8:1:3::1", "u@a6.example", Result::fail},
             {"198.51.100.10", "u@mx.example", Result::pass}, {"198.51.100.13", "u@mx.example", Result::fail},
             {"192.0.2.3", "u@exists.example", Result::pass}, {"192.0.2.4", "u@exists.example", Result::fail},
             {"192.0.2.3", "u@ptr.example", Result::pass}, {"192.0.2.4", "u@ptr.example", Result::fail},
             {"203.0.113.1", "u@all.example", Result::pass},
             {"192.0.2.1", "u@inc.example", Result::pass}, {"192.0.3.1", "u@inc.example", Result::fail},
         }) {
        Evaluation e = check(dns, c.ip, c.sender);
        EXPECT_EQ(e.result, c.want) << c.ip << " " << c.sender << ": " << e.why;
    }
}

TEST(doctor_SpfCheck, QualifiersAndDefault) {
    ScriptedDns dns;
    dns.txt("q.example", "v=spf1 +ip4:192.0.2.1 -ip4:192.0.2.2 ~ip4:192.0.2.3 ?ip4:192.0.2.4");
    EXPECT_EQ(check(dns, "192.0.2.1", "u@q.example").result, Result::pass);
    EXPECT_EQ(check(dns, "192.0.2.2", "u@q.example").result, Result::fail);
    EXPECT_EQ(check(dns, "192.0.2.3", "u@q.example").result, Result::softfail);
    EXPECT_EQ(check(dns, "192.0.2.4", "u@q.example").result, Result::neutral);
    Evaluation e = check(dns, "192.0.2.5", "u@q.example");
    EXPECT_EQ(e.result, Result::neutral);  // §4.7
    EXPECT_NE(e.why.find("no term matched in q.example"), std::string::npos) << e.why;
    e = check(dns, "192.0.2.3", "u@q.example");
    EXPECT_EQ(e.why, "matched ~ip4:192.0.2.3 in q.example");
    EXPECT_EQ(e.record, "v=spf1 +ip4:192.0.2.1 -ip4:192.0.2.2 ~ip4:192.0.2.3 ?ip4:192.0.2.4");
    EXPECT_EQ(e.dns_lookups, 0);
}

TEST(doctor_SpfCheck, NoneCases) {
    ScriptedDns dns;
    dns.txt("other.example", "google-site-verification=abc");
    Evaluation e = check(dns, "192.0.2.1", "u@missing.example");
    EXPECT_EQ(e.result, Result::none);
    EXPECT_EQ(e.why, "no SPF record at missing.example (NXDOMAIN)");
    EXPECT_EQ(e.record, "");
    EXPECT_EQ(check(dns, "192.0.2.1", "u@other.example").result, Result::none);
    const int before = dns.count("TXT");
    EXPECT_EQ(check(dns, "192.0.2.1", "u@localhost").result, Result::none);  // §4.3: single label
    EXPECT_EQ(check(dns, "192.0.2.1", "u@" + std::string(64, 'x') + ".example").result, Result::none);
    EXPECT_EQ(check(dns, "192.0.2.1", "u@a..example").result, Result::none);
    EXPECT_EQ(dns.count("TXT"), before);  // not asked
}

TEST(doctor_SpfCheck, NullSenderUsesHelo) {
    ScriptedDns dns;
    dns.txt("helo.example", "v=spf1 exists:%{l}.%{o}.chk.helo.example -all");
    dns.a("postmaster.helo.example.chk.helo.example", "127.0.0.2");
    EXPECT_EQ(run(check_host(dns, asio::ip::make_address("192.0.2.1"), "", "", "helo.example")).result, Result::pass);
}

TEST(doctor_SpfCheck, MultipleRecordsAndSyntaxErrors) {
    ScriptedDns dns;
    dns.txt("two.example", "v=spf1 -all");
    dns.txt("two.example", "v=spf1 +all");
    dns.txt("bad.example", "v=spf1 ip4:192.0.2.1 moo -all");
    Evaluation e = check(dns, "192.0.2.1", "u@two.example");
    EXPECT_EQ(e.result, Result::permerror);
    EXPECT_EQ(e.why, "2 SPF records at two.example (RFC 7208 §4.5)");
    e = check(dns, "192.0.2.1", "u@bad.example");  // §4.6: even though ip4 would match first
    EXPECT_EQ(e.result, Result::permerror);
    EXPECT_NE(e.why.find("unknown mechanism \"moo\""), std::string::npos) << e.why;
    EXPECT_EQ(e.record, "v=spf1 ip4:192.0.2.1 moo -all");
}

TEST(doctor_SpfCheck, IncludeSemantics) {
    ScriptedDns dns;
    dns.txt("top.example", "v=spf1 include:pass.example include:fail.example include:soft.example "
                           "include:neutral.example ip4:192.0.2.50 -all");
    dns.txt("pass.example", "v=spf1 ip4:192.0.2.1 -all");
    dns.txt("fail.example", "v=spf1 -ip4:192.0.2.2 -all");
    dns.txt("soft.example", "v=spf1 ~all");
    dns.txt("neutral.example", "v=spf1 ?all");
    Evaluation e = check(dns, "192.0.2.1", "u@top.example");
    EXPECT_EQ(e.result, Result::pass);
    EXPECT_EQ(e.why, "matched ip4:192.0.2.1 in pass.example via include:pass.example in top.example");
    EXPECT_EQ(check(dns, "192.0.2.2", "u@top.example").result, Result::fail);  // the -all of top
    EXPECT_EQ(check(dns, "192.0.2.50", "u@top.example").result, Result::pass);
    EXPECT_EQ(check(dns, "192.0.2.50", "u@top.example").dns_lookups, 4);

    dns.txt("none.example", "v=spf1 include:nothing.example +all");
    dns.txt("nothing.example", "not spf");
    e = check(dns, "192.0.2.1", "u@none.example");
    EXPECT_EQ(e.result, Result::permerror);  // §5.2: none is a permerror
    EXPECT_EQ(e.why, "include:nothing.example in none.example: no SPF record at nothing.example (RFC 7208 §5.2)");
    dns.txt("perm.example", "v=spf1 include:broken.example +all");
    dns.txt("broken.example", "v=spf1 bogus");
    EXPECT_EQ(check(dns, "192.0.2.1", "u@perm.example").result, Result::permerror);
    dns.txt("temp.example", "v=spf1 include:down.example +all");
    dns.fail("TXT down.example");
    e = check(dns, "192.0.2.1", "u@temp.example");
    EXPECT_EQ(e.result, Result::temperror);
    EXPECT_NE(e.why.find("TXT down.example: SERVFAIL"), std::string::npos) << e.why;
    EXPECT_NE(e.why.find("via include:down.example in temp.example"), std::string::npos) << e.why;
    dns.txt("negated.example", "v=spf1 -include:pass.example +all");
    EXPECT_EQ(check(dns, "192.0.2.1", "u@negated.example").result, Result::fail);
}

TEST(doctor_SpfCheck, IncludeMacroDomainIsTheIncludedOne) {
    ScriptedDns dns;
    dns.txt("outer.example", "v=spf1 include:inner.example -all");
    dns.txt("inner.example", "v=spf1 exists:%{d}.%{o}.x.example -all");
    dns.a("inner.example.outer.example.x.example", "127.0.0.2");
    EXPECT_EQ(check(dns, "192.0.2.1", "u@outer.example").result, Result::pass);
}

TEST(doctor_SpfCheck, RedirectSemantics) {
    ScriptedDns dns;
    dns.txt("r.example", "v=spf1 ip4:192.0.2.1 redirect=target.example");
    dns.txt("target.example", "v=spf1 ip4:192.0.2.2 ~all");
    Evaluation e = check(dns, "192.0.2.2", "u@r.example");
    EXPECT_EQ(e.result, Result::pass);
    EXPECT_EQ(e.why, "matched ip4:192.0.2.2 in target.example via redirect=target.example in r.example");
    EXPECT_EQ(e.dns_lookups, 1);
    EXPECT_EQ(check(dns, "192.0.2.3", "u@r.example").result, Result::softfail);
    e = check(dns, "192.0.2.1", "u@r.example");
    EXPECT_EQ(e.result, Result::pass);
    EXPECT_EQ(e.dns_lookups, 0);  // not followed

    dns.txt("ra.example", "v=spf1 -all redirect=target.example");  // §6.1: all wins
    const int before = dns.count("TXT target.example");
    EXPECT_EQ(check(dns, "192.0.2.2", "u@ra.example").result, Result::fail);
    EXPECT_EQ(dns.count("TXT target.example"), before);

    dns.txt("rn.example", "v=spf1 redirect=nothing.example");
    e = check(dns, "192.0.2.2", "u@rn.example");
    EXPECT_EQ(e.result, Result::permerror);  // §6.1
    EXPECT_NE(e.why.find("(RFC 7208 §6.1)"), std::string::npos) << e.why;
    dns.txt("rm.example", "v=spf1 redirect=_spf.%{d}");
    dns.txt("_spf.rm.example", "v=spf1 exists:%{d}.x.example -all");
    dns.a("_spf.rm.example.x.example", "127.0.0.2");
    EXPECT_EQ(check(dns, "192.0.2.2", "u@rm.example").result, Result::pass);  // d is the target's
}

TEST(doctor_SpfCheck, TenDnsTermsAndNoMore) {
    ScriptedDns dns;
    dns.txt("ten.example", "v=spf1 a:h.example a:h.example a:h.example a:h.example a:h.example "
                           "a:h.example a:h.example a:h.example a:h.example a:h.example ip4:192.0.2.9 -all");
    dns.a("h.example", "198.51.100.1");
    Evaluation e = check(dns, "192.0.2.9", "u@ten.example");
    EXPECT_EQ(e.result, Result::pass) << e.why;
    EXPECT_EQ(e.dns_lookups, 10);

    dns.txt("eleven.example", "v=spf1 a:h.example a:h.example a:h.example a:h.example a:h.example "
                              "a:h.example a:h.example a:h.example a:h.example a:h.example a:h.example -all");
    e = check(dns, "198.51.100.2", "u@eleven.example");
    EXPECT_EQ(e.result, Result::permerror);
    EXPECT_NE(e.why.find("more than 10 DNS-querying terms"), std::string::npos) << e.why;
    EXPECT_EQ(dns.count("A h.example"), 20);  // the 11th term asked nothing
    // The limit is met only when reached: a match before the 11th term decides.
    EXPECT_EQ(check(dns, "198.51.100.1", "u@eleven.example").result, Result::pass);

    // Across includes and a followed redirect: one global count (§4.1).
    dns.txt("nest.example", "v=spf1 include:n1.example include:n2.example redirect=n3.example");
    dns.txt("n1.example", "v=spf1 a:h.example a:h.example a:h.example");
    dns.txt("n2.example", "v=spf1 mx:h.example exists:h.example");  // exists matches A 198.51.100.1
    dns.txt("n3.example", "v=spf1 ptr -all");
    e = check(dns, "192.0.2.7", "u@nest.example");
    EXPECT_EQ(e.result, Result::pass);  // exists matched inside n2
    EXPECT_EQ(e.dns_lookups, 7);
    dns.txt("loop.example", "v=spf1 include:loop2.example -all");
    dns.txt("loop2.example", "v=spf1 include:loop.example -all");
    e = check(dns, "192.0.2.7", "u@loop.example");
    EXPECT_EQ(e.result, Result::permerror);
    EXPECT_NE(e.why.find("more than 10 DNS-querying terms"), std::string::npos) << e.why;
    // The 10-deep chain is shortened: innermost steps, a count, the outermost.
    EXPECT_NE(e.why.find(" via (8 more) via include:loop2.example in loop.example"), std::string::npos) << e.why;
}

TEST(doctor_SpfCheck, VoidLookups) {
    ScriptedDns dns;
    dns.txt("two.example", "v=spf1 a:nx1.example exists:nx2.example ?all");
    Evaluation e = check(dns, "192.0.2.1", "u@two.example");
    EXPECT_EQ(e.result, Result::neutral);
    EXPECT_EQ(e.void_lookups, 2);
    dns.txt("three.example", "v=spf1 a:nx1.example mx:nx2.example exists:nx3.example ?all");
    e = check(dns, "192.0.2.1", "u@three.example");
    EXPECT_EQ(e.result, Result::permerror);
    EXPECT_EQ(e.why, "more than 2 void lookups (RFC 7208 §4.6.4) at exists:nx3.example in three.example");
    // NODATA counts as void too; an include of a name without records is one.
    dns.txt("nodata.example", "v=spf1 a:two.example a:three.example include:nx.example ?all");
    e = check(dns, "192.0.2.1", "u@nodata.example");
    EXPECT_EQ(e.result, Result::permerror);
    EXPECT_NE(e.why.find("void lookups"), std::string::npos) << e.why;
    // The addresses of MX hosts are not the term's own query: no void count (§4.6.4 counts terms).
    dns.txt("mxv.example", "v=spf1 mx ?all");
    dns.mx("mxv.example", 1, "m1.mxv.example");
    dns.mx("mxv.example", 2, "m2.mxv.example");
    dns.mx("mxv.example", 3, "m3.mxv.example");
    e = check(dns, "192.0.2.1", "u@mxv.example");
    EXPECT_EQ(e.result, Result::neutral);
    EXPECT_EQ(e.void_lookups, 0);
}

TEST(doctor_SpfCheck, MxAndPtrNameLimits) {
    ScriptedDns dns;
    dns.txt("mx11.example", "v=spf1 mx -all");
    for (int i = 0; i < 11; ++i) {
        std::string host = "m";  // appended: GCC 12 -O3 false -Wrestrict on "m" + std::string
        host += std::to_string(i) + ".example";
        dns.mx("mx11.example", static_cast<std::uint16_t>(i), host);
    }
    dns.a("m0.example", "192.0.2.1");
    Evaluation e = check(dns, "192.0.2.1", "u@mx11.example");
    EXPECT_EQ(e.result, Result::permerror);
    EXPECT_NE(e.why.find("more than 10 MX records"), std::string::npos) << e.why;

    dns.txt("ptr.example", "v=spf1 ptr -all");
    for (int i = 0; i < 11; ++i) {
        std::string host = "h";
        host += std::to_string(i) + ".other.example";
        dns.ptr("192.0.2.5", host);
    }
    dns.ptr("192.0.2.5", "mail.ptr.example");
    dns.a("mail.ptr.example", "192.0.2.5");
    EXPECT_EQ(check(dns, "192.0.2.5", "u@ptr.example").result, Result::fail);  // 12th name ignored
    EXPECT_EQ(dns.count("A h"), 10);
    EXPECT_EQ(dns.count("A mail.ptr.example"), 0);
}

TEST(doctor_SpfCheck, PtrValidationAndErrors) {
    ScriptedDns dns;
    dns.txt("p.example", "v=spf1 ptr:p.example -all");
    dns.ptr("192.0.2.1", "liar.p.example");  // no address back to 192.0.2.1
    dns.a("liar.p.example", "192.0.2.99");
    dns.ptr("192.0.2.1", "mail.elsewhere.example");
    dns.a("mail.elsewhere.example", "192.0.2.1");
    EXPECT_EQ(check(dns, "192.0.2.1", "u@p.example").result, Result::fail);
    dns.ptr("192.0.2.2", "Host.P.Example");
    dns.a("Host.P.Example", "192.0.2.2");
    EXPECT_EQ(check(dns, "192.0.2.2", "u@p.example").result, Result::pass);
    // §5.5: a PTR lookup error does not match (no temperror); an address error skips the name.
    dns.fail("PTR 192.0.2.3");
    EXPECT_EQ(check(dns, "192.0.2.3", "u@p.example").result, Result::fail);
    dns.ptr("192.0.2.4", "bad.p.example");
    dns.ptr("192.0.2.4", "good.p.example");
    dns.fail("A bad.p.example");
    dns.a("good.p.example", "192.0.2.4");
    EXPECT_EQ(check(dns, "192.0.2.4", "u@p.example").result, Result::pass);
    // %{p}: the validated name, a subdomain of <domain> preferred.
    dns.txt("pm.example", "v=spf1 exists:%{p}.allow.example -all");
    dns.ptr("192.0.2.6", "x.other.example");
    dns.ptr("192.0.2.6", "mail.pm.example");
    dns.a("x.other.example", "192.0.2.6");
    dns.a("mail.pm.example", "192.0.2.6");
    dns.a("mail.pm.example.allow.example", "127.0.0.2");
    EXPECT_EQ(check(dns, "192.0.2.6", "u@pm.example").result, Result::pass);
    dns.a("unknown.allow.example", "127.0.0.2");
    EXPECT_EQ(check(dns, "192.0.2.7", "u@pm.example").result, Result::pass);  // no PTR: "unknown"
}

TEST(doctor_SpfCheck, TemporaryErrors) {
    ScriptedDns dns;
    dns.fail("TXT down.example");
    Evaluation e = check(dns, "192.0.2.1", "u@down.example");
    EXPECT_EQ(e.result, Result::temperror);
    EXPECT_EQ(e.why, "DNS lookup failed: TXT down.example: SERVFAIL (RFC 7208 §4.4)");
    dns.txt("t.example", "v=spf1 a:slow.example mx:t.example +all");
    dns.fail("A slow.example", dns::Status::timeout);
    e = check(dns, "192.0.2.1", "u@t.example");
    EXPECT_EQ(e.result, Result::temperror);
    EXPECT_EQ(e.why, "DNS lookup failed: A slow.example: timeout after 10s for a:slow.example in t.example");
    dns.txt("m.example", "v=spf1 mx +all");
    dns.mx("m.example", 10, "mx.m.example");
    dns.fail("A mx.m.example");
    EXPECT_EQ(check(dns, "192.0.2.1", "u@m.example").result, Result::temperror);
    dns.txt("e.example", "v=spf1 exists:x.e.example +all");
    dns.fail("A x.e.example");
    EXPECT_EQ(check(dns, "192.0.2.1", "u@e.example").result, Result::temperror);
}

TEST(doctor_SpfCheck, Ipv4MappedAddressesAreIpv4) {
    ScriptedDns dns;
    dns.txt("m.example", "v=spf1 ip6:::ffff:0:0/96 a -all");
    dns.a("m.example", "192.0.2.1");
    dns.aaaa("m.example", "::ffff:192.0.2.2");
    EXPECT_EQ(check(dns, "::ffff:192.0.2.1", "u@m.example").result, Result::pass);
    EXPECT_EQ(check(dns, "::ffff:192.0.2.2", "u@m.example").result, Result::fail);
    EXPECT_EQ(dns.count("AAAA"), 0);
    dns.txt("m4.example", "v=spf1 ip4:192.0.2.0/24 -all");
    EXPECT_EQ(check(dns, "::ffff:192.0.2.9", "u@m4.example").result, Result::pass);
}

TEST(doctor_SpfCheck, MacrosInQueries) {
    ScriptedDns dns;
    dns.txt("email.example.com", "v=spf1 exists:%{ir}.%{l1r-}.lp._spf.%{d2} -all");
    dns.a("3.2.0.192.strong.lp._spf.example.com", "127.0.0.2");
    EXPECT_EQ(check(dns, "192.0.2.3", "strong-bad@email.example.com").result, Result::pass);
    EXPECT_EQ(check(dns, "192.0.2.4", "strong-bad@email.example.com").result, Result::fail);
    EXPECT_EQ(dns.count("A 4.2.0.192.strong.lp._spf.example.com"), 1);
    dns.txt("v6.example", "v=spf1 exists:%{ir}.%{v}._spf.v6.example -all");
    dns.a("1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.v6.example", "127.0.0.2");
    EXPECT_EQ(check(dns, "2001:db8::cb01", "u@v6.example").result, Result::pass);
    // A target that is not a valid name after expansion is not asked and does not match.
    dns.txt("empty.example", "v=spf1 exists:%{l}..empty.example ?all");
    const auto before = dns.queries.size();
    EXPECT_EQ(check(dns, "192.0.2.1", "u@empty.example").result, Result::neutral);
    EXPECT_EQ(dns.queries.size(), before + 1);  // the TXT only
}

// --- lookup_count ---

TEST(doctor_SpfLookupCount, WalksTheWholeTree) {
    ScriptedDns dns;
    dns.txt("top.example", "v=spf1 ip4:192.0.2.0/24 include:a.example include:b.example mx a ptr -all");
    dns.txt("a.example", "v=spf1 include:c.example exists:%{i}.x.example ~all");
    dns.txt("b.example", "v=spf1 a:x.b.example redirect=r.example");
    dns.txt("c.example", "v=spf1 ip6:2001:db8::/32 -all");
    dns.txt("r.example", "v=spf1 mx -all redirect=never.example");  // all: redirect not followed
    LookupCount n = run(lookup_count(dns, "top.example"));
    EXPECT_TRUE(n.complete) << n.why;
    EXPECT_EQ(n.lookups, 10) << n.why;  // top 5, a.example 2, b.example 2 (a, redirect), r.example 1
    EXPECT_EQ(n.why, "");
}

TEST(doctor_SpfLookupCount, IncompleteCases) {
    ScriptedDns dns;
    dns.txt("m.example", "v=spf1 include:%{l}._spf.m.example include:_spf.%{d} -all");
    dns.txt("_spf.m.example", "v=spf1 a mx");
    LookupCount n = run(lookup_count(dns, "m.example"));
    EXPECT_FALSE(n.complete);
    EXPECT_EQ(n.lookups, 4);  // both includes, and a, mx of _spf.m.example (%{d} is known)
    EXPECT_NE(n.why.find("depends on the sender"), std::string::npos) << n.why;

    dns.txt("f.example", "v=spf1 include:down.example a -all");
    dns.fail("TXT down.example");
    n = run(lookup_count(dns, "f.example"));
    EXPECT_FALSE(n.complete);
    EXPECT_EQ(n.lookups, 2);
    EXPECT_NE(n.why.find("TXT down.example"), std::string::npos) << n.why;

    dns.txt("l.example", "v=spf1 include:l2.example -all");
    dns.txt("l2.example", "v=spf1 include:l.example -all");
    n = run(lookup_count(dns, "l.example"));
    EXPECT_FALSE(n.complete);
    EXPECT_NE(n.why.find("loop"), std::string::npos) << n.why;

    n = run(lookup_count(dns, "nothing.example"));
    EXPECT_TRUE(n.complete);
    EXPECT_EQ(n.lookups, 0);

    dns.txt("x.example", "v=spf1 include:nothing.example -all");
    n = run(lookup_count(dns, "x.example"));
    EXPECT_FALSE(n.complete);
    EXPECT_EQ(n.lookups, 1);
    EXPECT_NE(n.why.find("no SPF record at nothing.example"), std::string::npos) << n.why;
}

TEST(doctor_SpfLookupCount, CountsPastTheLimit) {
    ScriptedDns dns;
    std::string top = "v=spf1";
    for (int i = 0; i < 6; ++i) {
        std::string name = "i";
        name += std::to_string(i) + ".example";
        top += " include:" + name;
        dns.txt(name, "v=spf1 a mx -all");
    }
    dns.txt("big.example", top + " -all");
    LookupCount n = run(lookup_count(dns, "big.example"));
    EXPECT_TRUE(n.complete);
    EXPECT_EQ(n.lookups, 18);
}

}  // namespace
}  // namespace signpost::doctor::spf
