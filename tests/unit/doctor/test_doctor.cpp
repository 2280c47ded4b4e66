// tests/unit/doctor/test_doctor.cpp — the report model, DMARC records (RFC 7489 §6.3 and
// the §6.6.3 fallback), organizational domains through the Public Suffix List, alignment,
// the SPF and TXT record builders, the DMARC and posture checks against a scripted
// resolver, and the text/JSON output.
#include <gtest/gtest.h>

#include <exception>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "tests/unit/doctor/run.hpp"
#include "relay/doctor/check.hpp"
#include "relay/doctor/dmarc.hpp"
#include "relay/doctor/domain_checks.hpp"
#include "relay/doctor/render.hpp"

namespace {

namespace asio = boost::asio;
using signpost::doctor::test::run;
using namespace signpost;
using doctor::Status;
namespace dmarc = doctor::dmarc;

// Answers from maps; anything else is NXDOMAIN.
class Scripted final : public dns::Resolver {
public:
    std::map<std::string, dns::TxtRecords> txt_answers;
    std::map<std::string, dns::MxAnswer> mx_answers;

    void set_txt(const std::string& name, std::vector<std::string> records) {
        dns::TxtRecords r;
        r.status = dns::Status::ok;
        r.records = std::move(records);
        txt_answers[name] = std::move(r);
    }
    void fail_txt(const std::string& name) {
        dns::TxtRecords r;
        r.status = dns::Status::servfail;
        r.why = "SERVFAIL";
        txt_answers[name] = std::move(r);
    }

    asio::awaitable<dns::MxAnswer> mx(std::string name) override { co_return find(mx_answers, name); }
    asio::awaitable<dns::AddressAnswer> a(std::string) override { co_return nx<dns::AddressAnswer>(); }
    asio::awaitable<dns::AddressAnswer> aaaa(std::string) override { co_return nx<dns::AddressAnswer>(); }
    asio::awaitable<dns::TxtRecords> txt(std::string name) override { co_return find(txt_answers, name); }
    asio::awaitable<dns::TlsaAnswer> tlsa(std::string) override { co_return nx<dns::TlsaAnswer>(); }

private:
    template <class T>
    static T nx() {
        T r;
        r.status = dns::Status::nxdomain;
        return r;
    }
    template <class T>
    static T find(const std::map<std::string, T>& m, const std::string& name) {
        auto it = m.find(name);
        return it == m.end() ? nx<T>() : it->second;
    }
};


const doctor::Check* find(const std::vector<doctor::Check>& checks, const std::string& id, const std::string& subject) {
    for (const auto& c : checks)
        if (c.id == id && c.subject == subject) return &c;
    return nullptr;
}

config::DomainConfig domain(const std::string& name, bool subdomains = false) {
    config::DomainConfig d;
    d.name = name;
    d.sign_subdomains = subdomains;
    return d;
}

// ---- the model ---------------------------------------------------------------------------

TEST(doctor_Model, WorseOrdersOkSkippedWarnFail) {
    EXPECT_EQ(doctor::worse(Status::ok, Status::fail), Status::fail);
    EXPECT_EQ(doctor::worse(Status::warn, Status::skipped), Status::warn);
    EXPECT_EQ(doctor::worse(Status::skipped, Status::ok), Status::skipped);
    doctor::Report r;
    r.checks.push_back(doctor::make_check("spf", "a.test", "", Status::warn, "x"));
    EXPECT_FALSE(r.failed());
    r.checks.push_back(doctor::make_check("spf", "a.test", "", Status::fail, "y"));
    EXPECT_TRUE(r.failed());
}

// ---- DMARC records -------------------------------------------------------------------------

TEST(doctor_Dmarc, ParsesTheRfcExampleRecords) {
    // RFC 7489 §B.2.1 and §B.2.3's records.
    auto a = dmarc::parse_dmarc("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com");
    ASSERT_TRUE(a.record) << a.error;
    EXPECT_EQ(a.record->policy, dmarc::Policy::none);
    ASSERT_EQ(a.record->rua.size(), 1u);
    EXPECT_EQ(a.record->rua[0], "mailto:dmarc-feedback@example.com");
    auto b = dmarc::parse_dmarc("v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,"
                                "mailto:tld-test@thirdparty.example.net!10m; pct=25");
    ASSERT_TRUE(b.record) << b.error;
    EXPECT_EQ(b.record->policy, dmarc::Policy::quarantine);
    EXPECT_EQ(b.record->pct, 25);
    EXPECT_EQ(b.record->rua.size(), 2u);
    auto c = dmarc::parse_dmarc("v=DMARC1;p=reject;sp=none;adkim=s;aspf=S;fo=1;unknown=x");
    ASSERT_TRUE(c.record) << c.error;
    EXPECT_EQ(c.record->policy, dmarc::Policy::reject);
    EXPECT_EQ(c.record->subdomain_policy, dmarc::Policy::none);
    EXPECT_TRUE(c.record->strict_dkim);
    EXPECT_TRUE(c.record->strict_spf);
}

TEST(doctor_Dmarc, RefusesBadRecordsAndReadsMissingPolicyWithRuaAsNone) {
    EXPECT_FALSE(dmarc::parse_dmarc("p=reject; v=DMARC1").record);     // v= must come first
    EXPECT_FALSE(dmarc::parse_dmarc("v=DMARC2; p=reject").record);
    EXPECT_FALSE(dmarc::parse_dmarc("v=DMARC1").record);               // no p=, no rua=
    EXPECT_FALSE(dmarc::parse_dmarc("v=DMARC1; p=block").record);
    EXPECT_FALSE(dmarc::parse_dmarc("v=DMARC1; p=none; adkim=x").record);
    EXPECT_FALSE(dmarc::parse_dmarc("v=DMARC1; p=none; pct=101").record);
    auto r = dmarc::parse_dmarc("v=DMARC1; p=bogus; rua=mailto:a@example.com");  // §6.6.3
    ASSERT_TRUE(r.record) << r.error;
    EXPECT_EQ(r.record->policy, dmarc::Policy::none);
    EXPECT_FALSE(r.record->policy_given);
}

TEST(doctor_Dmarc, RecordsAreThoseThatStartWithTheVersion) {
    auto r = dmarc::dmarc_records({"v=DMARC1; p=none", "v=spf1 -all", "v=DMARC1", "v=DMARC10; p=none", "hello"});
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0], "v=DMARC1; p=none");
}

TEST(doctor_Dmarc, OrganizationalDomainsAndAlignment) {
    EXPECT_EQ(dmarc::organizational_domain("mail.example.com"), "example.com");
    EXPECT_EQ(dmarc::organizational_domain("a.b.example.co.uk"), "example.co.uk");
    EXPECT_EQ(dmarc::organizational_domain("Sub.Example.COM."), "example.com");
    EXPECT_EQ(dmarc::organizational_domain("co.uk"), "co.uk");  // a public suffix itself
    EXPECT_EQ(dmarc::organizational_domain("x.strict.test"), "strict.test");
    EXPECT_TRUE(dmarc::aligned("example.com", "news.example.com", false));
    EXPECT_FALSE(dmarc::aligned("example.com", "news.example.com", true));
    EXPECT_TRUE(dmarc::aligned("Example.com", "example.com.", true));
    EXPECT_FALSE(dmarc::aligned("example.co.uk", "other.co.uk", false));
}

// ---- record builders -----------------------------------------------------------------------

TEST(doctor_Records, SpfRecordWithInsertsBeforeAll) {
    auto ip = [](const char* s) { return asio::ip::make_address(s); };
    EXPECT_EQ(doctor::spf_record_with("", {ip("192.0.2.7")}), "v=spf1 ip4:192.0.2.7 ~all");
    EXPECT_EQ(doctor::spf_record_with("v=spf1 mx -all", {ip("192.0.2.7"), ip("2001:db8::7")}),
              "v=spf1 mx ip4:192.0.2.7 ip6:2001:db8::7 -all");
    EXPECT_EQ(doctor::spf_record_with("v=spf1  include:_spf.example.net  ~ALL", {ip("192.0.2.7")}),
              "v=spf1 include:_spf.example.net ip4:192.0.2.7 ~ALL");
    EXPECT_EQ(doctor::spf_record_with("v=spf1 redirect=_spf.example.net", {ip("192.0.2.7")}),
              "v=spf1 redirect=_spf.example.net ip4:192.0.2.7");
}

TEST(doctor_Records, TxtLinesSplitAt255) {
    EXPECT_EQ(doctor::txt_record_line("a.test", "v=spf1 -all"), "a.test. IN TXT \"v=spf1 -all\"");
    std::string long_value(300, 'x');
    EXPECT_EQ(doctor::txt_record_line("a.test", long_value),
              "a.test. IN TXT ( \"" + std::string(255, 'x') + "\" \"" + std::string(45, 'x') + "\" )");
}

// ---- DMARC and posture checks ----------------------------------------------------------------

TEST(doctor_DmarcCheck, MissingEverywhereFailsWithTheRecordToPublish) {
    Scripted dns;
    auto checks = run(doctor::check_dmarc(dns, domain("mail.example.com")));
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks[0].status, Status::fail);
    EXPECT_NE(checks[0].evidence.find("_dmarc.mail.example.com or _dmarc.example.com"), std::string::npos);
    EXPECT_NE(checks[0].fix.find("_dmarc.mail.example.com. IN TXT \"v=DMARC1; p=none; rua=mailto:"), std::string::npos);
}

TEST(doctor_DmarcCheck, FoundAtTheOrganizationalDomainUsesSp) {
    Scripted dns;
    dns.set_txt("_dmarc.example.com", {"v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com"});
    auto checks = run(doctor::check_dmarc(dns, domain("mail.example.com")));
    const auto* a = find(checks, "dmarc", "alignment");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, Status::ok);
    EXPECT_NE(a->evidence.find("p=quarantine at _dmarc.example.com"), std::string::npos) << a->evidence;
    EXPECT_EQ(find(checks, "dmarc", "rua")->status, Status::ok);
}

TEST(doctor_DmarcCheck, StrictDkimWithSubdomainsFailsAndNoRuaWarns) {
    Scripted dns;
    dns.set_txt("_dmarc.example.com", {"v=DMARC1; p=reject; adkim=s"});
    auto checks = run(doctor::check_dmarc(dns, domain("example.com", true)));
    const auto* a = find(checks, "dmarc", "alignment");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, Status::fail);
    EXPECT_NE(a->fix.find("\"v=DMARC1; p=reject; adkim=r\""), std::string::npos) << a->fix;
    const auto* rua = find(checks, "dmarc", "rua");
    ASSERT_TRUE(rua);
    EXPECT_EQ(rua->status, Status::warn);
    EXPECT_NE(rua->fix.find("\"v=DMARC1; p=reject; adkim=s; rua=mailto:dmarc-reports@example.com\""), std::string::npos);
    // Without sign_subdomains, strict alignment is fine: d= is the From domain.
    auto plain = run(doctor::check_dmarc(dns, domain("example.com")));
    EXPECT_EQ(find(plain, "dmarc", "alignment")->status, Status::ok);
}

TEST(doctor_DmarcCheck, TwoRecordsFailAndDnsTroubleWarns) {
    Scripted dns;
    dns.set_txt("_dmarc.example.com", {"v=DMARC1; p=none", "v=DMARC1; p=reject"});
    auto two = run(doctor::check_dmarc(dns, domain("example.com")));
    ASSERT_EQ(two.size(), 1u);
    EXPECT_EQ(two[0].status, Status::fail);
    dns.fail_txt("_dmarc.example.com");
    auto trouble = run(doctor::check_dmarc(dns, domain("example.com")));
    ASSERT_EQ(trouble.size(), 1u);
    EXPECT_EQ(trouble[0].status, Status::warn);
}

TEST(doctor_PostureCheck, AdviceNeverFails) {
    Scripted dns;
    config::Config cfg;
    cfg.server.hostname = "mail.example.com";
    auto none = run(doctor::check_posture(dns, cfg, domain("example.com")));
    for (const auto& c : none) EXPECT_NE(c.status, Status::fail) << c.id;
    EXPECT_EQ(find(none, "mx", "")->status, Status::warn);
    EXPECT_NE(find(none, "mx", "")->fix.find("example.com. IN MX 10 mail.example.com."), std::string::npos);
    EXPECT_EQ(find(none, "tls_rpt", "")->status, Status::warn);
    EXPECT_EQ(find(none, "dnssec", "")->status, Status::skipped);

    dns::MxAnswer mx;
    mx.status = dns::Status::ok;
    mx.records.push_back({10, "mx.example.com"});
    dns.mx_answers["example.com"] = mx;
    dns.set_txt("_mta-sts.example.com", {"v=STSv1; id=1"});
    dns.set_txt("_smtp._tls.example.com", {"v=TLSRPTv1; rua=mailto:t@example.com"});
    auto good = run(doctor::check_posture(dns, cfg, domain("example.com")));
    EXPECT_EQ(find(good, "mx", "")->status, Status::ok);
    EXPECT_EQ(find(good, "mta_sts", "")->status, Status::ok);
    EXPECT_EQ(find(good, "tls_rpt", "")->status, Status::ok);
}

// ---- output ----------------------------------------------------------------------------------

TEST(doctor_Render, JsonFollowsTheSchemaAndTextShowsFixes) {
    doctor::Report r;
    r.checks.push_back(doctor::make_check("dkim", "a.test", "s1", Status::ok, "published"));
    r.checks.push_back(doctor::make_check("spf", "a.test", "", Status::fail, "no SPF record", "publish:\nA\nB"));
    r.checks.push_back(doctor::make_check("certificate", "", "/c.pem", Status::warn, "10 days", "renew"));
    auto doc = boost::json::parse(doctor::render_json(r)).as_object();
    EXPECT_EQ(doc.at("version").as_int64(), 1);
    EXPECT_FALSE(doc.at("ok").as_bool());
    EXPECT_EQ(doc.at("summary").at("fail").as_int64(), 1);
    EXPECT_EQ(doc.at("summary").at("ok").as_int64(), 1);
    const auto& checks = doc.at("checks").as_array();
    ASSERT_EQ(checks.size(), 3u);
    EXPECT_EQ(checks[1].at("check").as_string(), "spf");
    EXPECT_EQ(checks[1].at("fix").as_string(), "publish:\nA\nB");
    EXPECT_EQ(checks[2].at("domain").as_string(), "");

    std::string text = doctor::render_text(r);
    EXPECT_NE(text.find("a.test\n"), std::string::npos);
    EXPECT_NE(text.find("relay host\n"), std::string::npos);
    EXPECT_NE(text.find("        fix: publish:\n             A\n             B\n"), std::string::npos) << text;
    EXPECT_NE(text.find("1 ok, 1 warning, 1 failure, 0 skipped"), std::string::npos) << text;

    auto worst = doctor::worst_by_check(r);
    EXPECT_EQ(worst.size(), 3u);
    EXPECT_EQ((worst[{"spf", "a.test"}]), Status::fail);
    EXPECT_EQ(doctor::metric_value(Status::fail), 2);
    EXPECT_EQ(doctor::metric_value(Status::skipped), -1);
}

}  // namespace
