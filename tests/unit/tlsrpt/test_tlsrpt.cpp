// tests/unit/tlsrpt/test_tlsrpt.cpp — relay/tlsrpt/tlsrpt.hpp: the RFC 8460 names
// (policy types §4.4, result types §4.3) and a day's counts: add() aggregates sessions
// into policies and failure details, for_domain() picks one policy domain's.
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "relay/tlsrpt/tlsrpt.hpp"

namespace signpost::tlsrpt {
namespace {

// ---- names (§4.3, §4.4) ------------------------------------------------------------------

TEST(tlsrpt_names, PolicyTypes) {
    const std::vector<std::pair<PolicyType, std::string>> all = {
        {PolicyType::sts, "sts"}, {PolicyType::tlsa, "tlsa"}, {PolicyType::no_policy_found, "no-policy-found"}};
    for (const auto& [t, name] : all) {
        EXPECT_EQ(to_string(t), name);
        EXPECT_EQ(policy_type_from(name), t) << name;
    }
    for (const char* bad : {"", "STS", "no_policy_found", "dane", "sts "}) EXPECT_FALSE(policy_type_from(bad)) << bad;
}

TEST(tlsrpt_names, ResultTypes) {
    const std::vector<std::pair<ResultType, std::string>> all = {
        {ResultType::starttls_not_supported, "starttls-not-supported"},
        {ResultType::certificate_host_mismatch, "certificate-host-mismatch"},
        {ResultType::certificate_expired, "certificate-expired"},
        {ResultType::certificate_not_trusted, "certificate-not-trusted"},
        {ResultType::validation_failure, "validation-failure"},
        {ResultType::tlsa_invalid, "tlsa-invalid"},
        {ResultType::dnssec_invalid, "dnssec-invalid"},
        {ResultType::dane_required, "dane-required"},
        {ResultType::sts_policy_fetch_error, "sts-policy-fetch-error"},
        {ResultType::sts_policy_invalid, "sts-policy-invalid"},
        {ResultType::sts_webpki_invalid, "sts-webpki-invalid"},
    };
    for (const auto& [r, name] : all) {
        EXPECT_EQ(to_string(r), name);
        EXPECT_EQ(result_type_from(name), r) << name;
    }
    for (const char* bad : {"", "Certificate-Expired", "certificate_expired", "starttls-not-supported ", "other"})
        EXPECT_FALSE(result_type_from(bad)) << bad;
}

// ---- counts ------------------------------------------------------------------------------

Policy sts_policy(std::string domain) {
    Policy p;
    p.type = PolicyType::sts;
    p.domain = std::move(domain);
    p.strings = {"version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 86400"};
    p.mx_host = {"mx.example.net"};
    return p;
}

SessionEvent ok(const Policy& p) {
    SessionEvent e;
    e.policy = p;
    e.success = true;
    e.sending_mta_ip = "192.0.2.1";
    e.receiving_mx_hostname = "mx.example.net";
    e.receiving_ip = "198.51.100.7";
    return e;
}

SessionEvent failed(const Policy& p, ResultType r) {
    SessionEvent e = ok(p);
    e.success = false;
    e.result = r;
    return e;
}

TEST(tlsrpt_counts, SuccessesAndFailuresAggregate) {
    const Policy p = sts_policy("example.net");
    std::vector<PolicyCounts> day;
    for (int i = 0; i < 3; ++i) add(day, ok(p));
    for (int i = 0; i < 2; ++i) add(day, failed(p, ResultType::certificate_expired));
    add(day, failed(p, ResultType::starttls_not_supported));
    add(day, ok(p));
    ASSERT_EQ(day.size(), 1u);
    EXPECT_EQ(day[0].policy, p);
    EXPECT_EQ(day[0].successful, 4u);
    EXPECT_EQ(day[0].failed, 3u);
    ASSERT_EQ(day[0].failures.size(), 2u);  // in order of first occurrence
    EXPECT_EQ(day[0].failures[0].result, ResultType::certificate_expired);
    EXPECT_EQ(day[0].failures[0].count, 2u);
    EXPECT_EQ(day[0].failures[0].sending_mta_ip, "192.0.2.1");
    EXPECT_EQ(day[0].failures[0].receiving_mx_hostname, "mx.example.net");
    EXPECT_EQ(day[0].failures[0].receiving_ip, "198.51.100.7");
    EXPECT_EQ(day[0].failures[1].result, ResultType::starttls_not_supported);
    EXPECT_EQ(day[0].failures[1].count, 1u);
}

TEST(tlsrpt_counts, EachKeyFieldMakesItsOwnDetail) {
    const Policy p = sts_policy("example.net");
    const SessionEvent base = failed(p, ResultType::certificate_host_mismatch);
    std::vector<SessionEvent> variants(7, base);
    variants[1].result = ResultType::certificate_not_trusted;
    variants[2].sending_mta_ip = "2001:db8::1";
    variants[3].receiving_mx_hostname = "mx2.example.net";
    variants[4].receiving_ip = "";
    variants[5].additional_information = "peer closed after STARTTLS";
    variants[6].failure_reason_code = "X509_V_ERR_HOSTNAME_MISMATCH";
    std::vector<PolicyCounts> day;
    for (const auto& e : variants) add(day, e);
    for (const auto& e : variants) add(day, e);  // the second round adds to the same details
    ASSERT_EQ(day.size(), 1u);
    EXPECT_EQ(day[0].failed, 14u);
    EXPECT_EQ(day[0].successful, 0u);
    ASSERT_EQ(day[0].failures.size(), variants.size());
    for (std::size_t i = 0; i < variants.size(); ++i) {
        const FailureDetail& d = day[0].failures[i];
        EXPECT_EQ(d.count, 2u) << i;
        EXPECT_EQ(d.result, variants[i].result) << i;
        EXPECT_EQ(d.sending_mta_ip, variants[i].sending_mta_ip) << i;
        EXPECT_EQ(d.receiving_mx_hostname, variants[i].receiving_mx_hostname) << i;
        EXPECT_EQ(d.receiving_ip, variants[i].receiving_ip) << i;
        EXPECT_EQ(d.additional_information, variants[i].additional_information) << i;
        EXPECT_EQ(d.failure_reason_code, variants[i].failure_reason_code) << i;
    }
}

TEST(tlsrpt_counts, SuccessIgnoresFailureFields) {
    const Policy p = sts_policy("example.net");
    SessionEvent e = ok(p);
    e.result = ResultType::dane_required;  // meaningless when success
    std::vector<PolicyCounts> day;
    add(day, e);
    ASSERT_EQ(day.size(), 1u);
    EXPECT_EQ(day[0].successful, 1u);
    EXPECT_EQ(day[0].failed, 0u);
    EXPECT_TRUE(day[0].failures.empty());
}

TEST(tlsrpt_counts, DifferentPoliciesStayApart) {
    const Policy a = sts_policy("example.net");
    Policy a_changed = a;  // the same domain's policy after an update: a policy of its own
    a_changed.strings[1] = "mode: testing";
    Policy tlsa;
    tlsa.type = PolicyType::tlsa;
    tlsa.domain = "example.net";
    tlsa.strings = {"3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
    Policy none;
    none.type = PolicyType::no_policy_found;
    none.domain = "example.org";
    const Policy b = sts_policy("example.com");

    std::vector<PolicyCounts> day;
    add(day, ok(a));
    add(day, failed(tlsa, ResultType::tlsa_invalid));
    add(day, ok(none));
    add(day, ok(a_changed));
    add(day, failed(b, ResultType::sts_webpki_invalid));
    add(day, ok(a));
    add(day, ok(none));
    ASSERT_EQ(day.size(), 5u);
    EXPECT_EQ(day[0].policy, a);
    EXPECT_EQ(day[0].successful, 2u);
    EXPECT_EQ(day[1].policy, tlsa);
    EXPECT_EQ(day[1].failed, 1u);
    EXPECT_EQ(day[1].failures.at(0).result, ResultType::tlsa_invalid);
    EXPECT_EQ(day[2].policy, none);
    EXPECT_EQ(day[2].successful, 2u);
    EXPECT_EQ(day[3].policy, a_changed);
    EXPECT_EQ(day[3].successful, 1u);
    EXPECT_EQ(day[4].policy, b);
    EXPECT_EQ(day[4].failed, 1u);

    const auto net = for_domain(day, "example.net");
    ASSERT_EQ(net.size(), 3u);  // in day's order
    EXPECT_EQ(net[0].policy, a);
    EXPECT_EQ(net[1].policy, tlsa);
    EXPECT_EQ(net[2].policy, a_changed);
    EXPECT_EQ(net[1].failures.at(0).count, 1u);
    ASSERT_EQ(for_domain(day, "example.org").size(), 1u);
    EXPECT_EQ(for_domain(day, "example.org")[0].successful, 2u);
    EXPECT_TRUE(for_domain(day, "example.invalid").empty());
    EXPECT_TRUE(for_domain(day, "").empty());
    EXPECT_TRUE(for_domain({}, "example.net").empty());
}

}  // namespace
}  // namespace signpost::tlsrpt
