// tests/unit/delivery/test_tls_report_events.cpp — relay/delivery/tls_report_events.hpp:
// which policy a decision reports under, and which RFC 8460 result a session or refusal is.
#include <gtest/gtest.h>

#include "relay/delivery/tls_report_events.hpp"

namespace {

using namespace signpost;
using namespace signpost::delivery;
using tlsrpt::PolicyType;
using tlsrpt::ResultType;

mtasts::Policy sts(mtasts::Mode mode) {
    mtasts::Policy p;
    p.mode = mode;
    p.mx = {"mx.example.org", "*.backup.example.org"};
    p.max_age = 604800;
    p.id = "1";
    return p;
}

TlsDecision decision(PolicySource source, TlsPolicy session, bool listed = true) {
    TlsDecision d;
    d.source = source;
    d.session = session;
    d.listed = listed;
    return d;
}

SessionResult session(std::string tls, std::string verification, std::string enhanced = "", std::string text = "",
                      bool try_next = false) {
    SessionResult r;
    r.tls = std::move(tls);
    r.verification = std::move(verification);
    r.local_ip = "127.0.0.1";
    RecipientResult rr;
    rr.enhanced = std::move(enhanced);
    rr.text = std::move(text);
    r.recipients.push_back(rr);
    r.try_next = try_next;
    return r;
}

TEST(delivery_TlsReport, PolicyStringsForStsAndTlsa) {
    auto p = report_policy("example.org", decision(PolicySource::mta_sts_enforce, TlsPolicy::required_verified),
                           sts(mtasts::Mode::enforce), {});
    ASSERT_TRUE(p);
    EXPECT_EQ(p->type, PolicyType::sts);
    EXPECT_EQ(p->strings, (std::vector<std::string>{"version: STSv1", "mode: enforce", "mx: mx.example.org",
                                                    "mx: *.backup.example.org", "max_age: 604800"}));
    EXPECT_EQ(p->mx_host, (std::vector<std::string>{"mx.example.org", "*.backup.example.org"}));
    HostDane dane;
    dane.kind = HostDane::Kind::usable;
    dns::TlsaRecord r;
    r.usage = 3;
    r.selector = 1;
    r.matching = 1;
    r.data.assign(32, 0xab);
    dane.records = {r};
    auto t = report_policy("example.org", decision(PolicySource::dane, TlsPolicy::dane), std::nullopt, dane);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->type, PolicyType::tlsa);
    std::string hex = "3 1 1 ";
    for (int i = 0; i < 32; ++i) hex += "ab";
    EXPECT_EQ(t->strings, std::vector<std::string>{hex});
    EXPECT_EQ(report_policy("example.org", decision(PolicySource::opportunistic, TlsPolicy::opportunistic), std::nullopt, {})->type,
              PolicyType::no_policy_found);
    EXPECT_FALSE(report_policy("example.org", decision(PolicySource::route, TlsPolicy::required_verified), std::nullopt, {}));
}

TEST(delivery_TlsReport, SessionResults) {
    tlsrpt::Policy p;
    p.type = PolicyType::sts;
    p.domain = "example.org";
    const auto enforce = decision(PolicySource::mta_sts_enforce, TlsPolicy::required_verified);
    auto ok = session_event(p, enforce, session("TLSv1.3 X", "verified"), "mx.example.org", "192.0.2.1");
    ASSERT_TRUE(ok);
    EXPECT_TRUE(ok->success);
    EXPECT_EQ(ok->sending_mta_ip, "127.0.0.1");
    EXPECT_EQ(ok->receiving_ip, "192.0.2.1");
    struct Row {
        SessionResult res;
        ResultType want;
    };
    const std::vector<Row> rows = {
        {session("none", "", "4.7.4", "mx does not offer STARTTLS, and TLS is required"), ResultType::starttls_not_supported},
        {session("none", "", "4.7.5", "TLS certificate of mx not verified: hostname mismatch"), ResultType::certificate_host_mismatch},
        {session("none", "", "4.7.5", "TLS certificate of mx not verified: certificate has expired"), ResultType::certificate_expired},
        {session("none", "", "4.7.5", "TLS certificate of mx not verified: self-signed certificate"), ResultType::certificate_not_trusted},
        {session("none", "", "4.7.5", "unexpected eof in the TLS handshake"), ResultType::validation_failure},
    };
    for (const auto& row : rows) {
        auto e = session_event(p, enforce, row.res, "mx.example.org", "192.0.2.1");
        ASSERT_TRUE(e) << row.res.recipients[0].text;
        EXPECT_FALSE(e->success);
        EXPECT_EQ(e->result, row.want) << row.res.recipients[0].text;
    }
    // Never reached TLS (connection refused): not counted.
    EXPECT_FALSE(session_event(p, enforce, session("none", "", "4.4.1", "Connection refused while connecting", true), "mx", "ip"));
    // Testing mode, host not listed: a failure even though delivered.
    auto testing = decision(PolicySource::mta_sts_testing, TlsPolicy::opportunistic, false);
    auto unlisted = session_event(p, testing, session("TLSv1.3 X", "verified", "", "", false), "mx.other.org", "192.0.2.9");
    ASSERT_TRUE(unlisted);
    EXPECT_EQ(unlisted->result, ResultType::validation_failure);
}

TEST(delivery_TlsReport, DaneVerdictsAndRefusals) {
    tlsrpt::Policy p;
    p.type = PolicyType::tlsa;
    p.domain = "example.org";
    const auto dane = decision(PolicySource::dane, TlsPolicy::dane);
    auto res = session("TLSv1.3 X", "", "4.7.5", "DANE: ...", true);
    const std::vector<std::pair<const char*, ResultType>> verdicts = {
        {"no-match", ResultType::validation_failure}, {"name-mismatch", ResultType::certificate_host_mismatch},
        {"expired", ResultType::certificate_expired}, {"starttls-not-supported", ResultType::starttls_not_supported}};
    for (const auto& [label, want] : verdicts) {
        res.dane_failure = label;
        auto e = session_event(p, dane, res, "mx.example.org", "192.0.2.1");
        ASSERT_TRUE(e) << label;
        EXPECT_EQ(e->result, want) << label;
    }
    auto ok = session_event(p, dane, session("TLSv1.3 X", "dane: DANE-EE TLSA 3 1 1 ab matches"), "mx.example.org", "192.0.2.1");
    ASSERT_TRUE(ok);
    EXPECT_TRUE(ok->success);
    // Only unusable records: TLS without the check went ahead, reported as tlsa-invalid.
    auto encrypt = session_event(p, decision(PolicySource::dane, TlsPolicy::required_encrypted),
                                 session("TLSv1.3 X", "not checked (DANE: no usable TLSA record)"), "mx.example.org", "192.0.2.1");
    ASSERT_TRUE(encrypt);
    EXPECT_EQ(encrypt->result, ResultType::tlsa_invalid);
    TlsDecision refused = dane;
    refused.allowed = false;
    refused.dane_failure = "dnssec-invalid";
    auto r = refusal_event(p, refused, "mx.example.org");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result, ResultType::dnssec_invalid);
}

TEST(delivery_TlsReport, StsFetchFailures) {
    mtasts::Lookup lk;
    lk.failure = mtasts::Lookup::Failure::webpki;
    lk.detail = "fetch: https://mta-sts.example.org/.well-known/mta-sts.txt: certificate of mta-sts.example.org not verified";
    auto e = sts_fetch_event("example.org", lk);
    EXPECT_EQ(e.policy.type, PolicyType::sts);
    EXPECT_TRUE(e.policy.strings.empty());
    EXPECT_EQ(e.result, ResultType::sts_webpki_invalid);
    lk.failure = mtasts::Lookup::Failure::invalid;
    lk.policy = sts(mtasts::Mode::enforce);  // the cached policy stays in force
    e = sts_fetch_event("example.org", lk);
    EXPECT_EQ(e.result, ResultType::sts_policy_invalid);
    EXPECT_EQ(e.policy.mx_host.size(), 2u);
    lk.failure = mtasts::Lookup::Failure::fetch;
    EXPECT_EQ(sts_fetch_event("example.org", lk).result, ResultType::sts_policy_fetch_error);
}

}  // namespace
