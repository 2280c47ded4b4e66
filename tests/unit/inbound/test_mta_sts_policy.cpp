// tests/unit/inbound/test_mta_sts_policy.cpp — the MTA-STS policy file (RFC 8461 §3.2,
// whose example policy this follows), its id, and the records to publish.
#include <gtest/gtest.h>

#include "relay/inbound/mta_sts_policy.hpp"

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

}  // namespace
