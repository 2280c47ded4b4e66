// tests/unit/inbound/test_mta_sts_policy.cpp — the MTA-STS policy file (RFC 8461 §3.2,
// whose example policy this follows), its id, and the records to publish.
#include <gtest/gtest.h>

#include "relay/inbound/mta_sts_policy.hpp"
#include "relay/inbound/policy_server.hpp"

namespace {

using namespace signpost::inbound;

MtaStsPolicy example() {
    MtaStsPolicy p;
    p.domain = "example.com";
    p.mx = {"mail.example.com"};
    p.max_age = 86400;
    p.report_to = "mailto:tlsrpt@example.com";
    return p;
}

TEST(InboundMtaStsPolicy, PolicyFile) {
    MtaStsPolicy p = example();
    EXPECT_EQ(policy_file(p), "version: STSv1\r\nmode: testing\r\nmx: mail.example.com\r\nmax_age: 86400\r\n");
    p.enforce = true;
    p.mx.push_back("backup.example.com");
    EXPECT_EQ(policy_file(p),
              "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: backup.example.com\r\nmax_age: 86400\r\n");
}

TEST(InboundMtaStsPolicy, IdFollowsThePolicy) {
    MtaStsPolicy p = example();
    const std::string id = policy_id(p);
    EXPECT_EQ(id.size(), 20u);  // RFC 8461 §3.1: 1 to 32 alphanumerics
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_EQ(policy_id(example()), id);  // the same policy, the same id
    p.enforce = true;
    EXPECT_NE(policy_id(p), id);  // a changed policy, a new id
}

TEST(InboundMtaStsPolicy, Records) {
    MtaStsPolicy p = example();
    const std::string r = records(p);
    EXPECT_NE(r.find("example.com. 3600 IN MX 10 mail.example.com.\n"), std::string::npos) << r;
    EXPECT_NE(r.find("_mta-sts.example.com. 3600 IN TXT \"v=STSv1; id=" + policy_id(p) + "\"\n"), std::string::npos) << r;
    EXPECT_NE(r.find("_smtp._tls.example.com. 3600 IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@example.com\"\n"),
              std::string::npos) << r;
    p.report_to.clear();
    EXPECT_EQ(records(p).find("_smtp._tls"), std::string::npos);
}

TEST(InboundMtaStsPolicy, ServedPoliciesFollowTheConfig) {
    signpost::config::Config cfg;
    cfg.inbound.resize(2);
    cfg.inbound[0].domain = "example.com";
    cfg.inbound[1].domain = "example.net";
    EXPECT_TRUE(served_policies(cfg).empty());  // no [mta_sts_serve]: nothing served
    cfg.mta_sts_serve.listen = signpost::config::Endpoint{"0.0.0.0", 443};
    cfg.mta_sts_serve.mx = {"mx.example.com", "*.backup.example.com"};
    cfg.mta_sts_serve.enforce = true;
    cfg.mta_sts_serve.max_age = std::chrono::seconds(86400);
    const PolicyTable table = served_policies(cfg);
    ASSERT_EQ(table.size(), 2u);
    const std::string expected =
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmx: *.backup.example.com\r\nmax_age: 86400\r\n";
    EXPECT_EQ(table.at("mta-sts.example.com"), expected);
    EXPECT_EQ(table.at("mta-sts.example.net"), expected);
    // What the CLI prints for a domain is what is served for it.
    MtaStsPolicy p = served_policy(cfg, cfg.inbound[1]);
    EXPECT_EQ(policy_file(p), expected);
    EXPECT_EQ(p.report_to, "mailto:tlsrpt@example.net");
}

}  // namespace
