// tests/unit/inbound/test_auth.cpp — DMARC evaluation (RFC 7489 §6.6) and the
// Authentication-Results field (RFC 8601) the MX listener adds; forged fields naming our
// authserv-id (RFC 8601 §5).
#include <gtest/gtest.h>

#include "relay/inbound/auth.hpp"

namespace {

using namespace signpost::inbound;

SpfOutcome spf(std::string result, std::string domain) {
    SpfOutcome s;
    s.result = std::move(result);
    s.identity = "bounce@" + domain;
    s.domain = std::move(domain);
    return s;
}

DkimOutcome dkim(std::string result, std::string d) {
    DkimOutcome k;
    k.result = std::move(result);
    k.d = std::move(d);
    k.s = "sel";
    k.b = "abcdefghijklmnop";
    return k;
}

DmarcLookup found(std::string record, bool at_org = false) {
    return DmarcLookup{DmarcLookup::Status::found, std::move(record), at_org};
}

TEST(InboundDmarc, NoRecordTemperrorAndNoFromDomain) {
    EXPECT_EQ(evaluate_dmarc("example.com", {}, spf("pass", "example.com"), {}, 0).result, "none");
    DmarcLookup failed{DmarcLookup::Status::temperror, "", false};
    EXPECT_EQ(evaluate_dmarc("example.com", failed, spf("pass", "example.com"), {}, 0).result, "temperror");
    auto r = evaluate_dmarc("", found("v=DMARC1; p=reject"), spf("fail", "x.example"), {}, 0);
    EXPECT_EQ(r.result, "permerror");
    EXPECT_EQ(r.disposition, DmarcPolicy::none);
    EXPECT_EQ(evaluate_dmarc("example.com", found("v=DMARC1; p=bogus; pct=500"), spf("pass", "example.com"), {}, 0).result,
              "permerror");
}

TEST(InboundDmarc, RelaxedAndStrictAlignment) {
    // RFC 7489 §3.1.1: relaxed lets a subdomain's DKIM pass count for the organizational domain.
    auto r = evaluate_dmarc("example.com", found("v=DMARC1; p=reject"), spf("fail", "other.example"),
                            {dkim("pass", "mail.example.com")}, 0);
    EXPECT_EQ(r.result, "pass");
    EXPECT_EQ(r.disposition, DmarcPolicy::none);
    r = evaluate_dmarc("example.com", found("v=DMARC1; p=reject; adkim=s"), spf("fail", "other.example"),
                       {dkim("pass", "mail.example.com")}, 0);
    EXPECT_EQ(r.result, "fail");
    EXPECT_EQ(r.disposition, DmarcPolicy::reject);
    // SPF aligned through the bounce domain's organizational domain.
    r = evaluate_dmarc("example.com", found("v=DMARC1; p=quarantine"), spf("pass", "bounces.example.com"), {}, 0);
    EXPECT_EQ(r.result, "pass");
    r = evaluate_dmarc("example.com", found("v=DMARC1; p=quarantine; aspf=s"), spf("pass", "bounces.example.com"), {}, 0);
    EXPECT_EQ(r.result, "fail");
    EXPECT_EQ(r.disposition, DmarcPolicy::quarantine);
    // A DKIM pass for an unrelated domain and an SPF softfail do not count.
    r = evaluate_dmarc("example.com", found("v=DMARC1; p=reject"), spf("softfail", "example.com"),
                       {dkim("pass", "mailer.example.net"), dkim("fail", "example.com")}, 0);
    EXPECT_EQ(r.result, "fail");
    EXPECT_EQ(r.reason, "no aligned SPF or DKIM pass");
}

TEST(InboundDmarc, PctSamplingAndSubdomainPolicy) {
    // §6.6.4: outside the pct= sample the next weaker policy applies.
    auto r = evaluate_dmarc("example.com", found("v=DMARC1; p=reject; pct=50"), spf("fail", "example.com"), {}, 49);
    EXPECT_EQ(r.disposition, DmarcPolicy::reject);
    r = evaluate_dmarc("example.com", found("v=DMARC1; p=reject; pct=50"), spf("fail", "example.com"), {}, 50);
    EXPECT_EQ(r.disposition, DmarcPolicy::quarantine);
    r = evaluate_dmarc("example.com", found("v=DMARC1; p=quarantine; pct=0"), spf("fail", "example.com"), {}, 0);
    EXPECT_EQ(r.disposition, DmarcPolicy::none);
    // sp= applies to a subdomain covered by the organizational domain's record.
    r = evaluate_dmarc("news.example.com", found("v=DMARC1; p=reject; sp=none", true), spf("fail", "x.example"), {}, 0);
    EXPECT_EQ(r.result, "fail");
    ASSERT_TRUE(r.policy);
    EXPECT_EQ(*r.policy, DmarcPolicy::none);
    r = evaluate_dmarc("news.example.com", found("v=DMARC1; p=reject; sp=none"), spf("fail", "x.example"), {}, 0);
    EXPECT_EQ(*r.policy, DmarcPolicy::reject);  // its own record: p=
}

TEST(InboundAuthResults, Field) {
    SpfOutcome s = spf("pass", "sender.example");
    s.identity = "news@sender.example";
    DmarcOutcome d = evaluate_dmarc("sender.example", found("v=DMARC1; p=reject"), s, {dkim("pass", "sender.example")}, 0);
    EXPECT_EQ(authentication_results("mx.home.example", s, {dkim("pass", "sender.example")}, d),
              "Authentication-Results: mx.home.example;\r\n"
              "\tspf=pass smtp.mailfrom=news@sender.example;\r\n"
              "\tdkim=pass header.d=sender.example header.s=sel header.b=abcdefgh;\r\n"
              "\tdmarc=pass (p=reject dis=none) header.from=sender.example\r\n");
    SpfOutcome h;
    h.result = "none";
    h.helo = true;
    h.identity = "mta.sender.example";
    h.domain = "mta.sender.example";
    DkimOutcome bad = dkim("fail", "forged.example");
    bad.reason = "body hash mismatch (bh=)";
    DmarcOutcome f = evaluate_dmarc("forged.example", found("v=DMARC1; p=reject"), h, {bad}, 99);
    EXPECT_EQ(authentication_results("mx.home.example", h, {bad}, f),
              "Authentication-Results: mx.home.example;\r\n"
              "\tspf=none smtp.helo=mta.sender.example;\r\n"
              "\tdkim=fail (body hash mismatch bh=) header.d=forged.example header.s=sel header.b=abcdefgh;\r\n"
              "\tdmarc=fail (p=reject dis=reject; no aligned SPF or DKIM pass) header.from=forged.example\r\n");
    SpfOutcome q = spf("softfail", "sender.example");
    q.identity = "odd \"name\"@sender.example";
    EXPECT_EQ(authentication_results("mx", q, {}, DmarcOutcome{}),
              "Authentication-Results: mx;\r\n\tspf=softfail smtp.mailfrom=\"odd \\\"name\\\"@sender.example\";\r\n"
              "\tdkim=none;\r\n\tdmarc=none\r\n");
}

TEST(InboundAuthResults, Utf8KeptMalformedBytesDropped) {
    // RFC 6532: an internationalized address keeps its characters (quoted, not a token);
    // stray 8-bit bytes, a CR LF and a truncated sequence (b= cut at 8 bytes) go.
    SpfOutcome s = spf("pass", "example.de");
    s.identity = "j\xc3\xb6rg@example.de";
    DkimOutcome k = dkim("pass", "example.de\xff\r\nX: y");
    k.b = "abcdef\xe2\x82\xac";  // the euro sign starts at byte 7: cut after 8 bytes
    EXPECT_EQ(authentication_results("mx", s, {k}, DmarcOutcome{}),
              "Authentication-Results: mx;\r\n\tspf=pass smtp.mailfrom=\"j\xc3\xb6rg@example.de\";\r\n"
              "\tdkim=pass header.d=\"example.deX: y\" header.s=sel header.b=abcdef;\r\n\tdmarc=none\r\n");
}

TEST(InboundAuthResults, ClaimsAuthservId) {
    EXPECT_TRUE(claims_authserv_id(" mx.home.example; spf=pass smtp.mailfrom=a@b", "mx.home.example"));
    EXPECT_TRUE(claims_authserv_id(" (forged) MX.Home.Example 1; none", "mx.home.example"));
    EXPECT_TRUE(claims_authserv_id("\r\n\tmx.home.example.;dkim=pass", "mx.home.example"));
    EXPECT_FALSE(claims_authserv_id(" mx.google.com; spf=pass", "mx.home.example"));
    EXPECT_FALSE(claims_authserv_id(" mx.home.example.evil; spf=pass", "mx.home.example"));
    EXPECT_FALSE(claims_authserv_id(" ; spf=pass", "mx.home.example"));
    // A comment whose last octet is a quoting backslash ends the value: nothing is read past
    // it (fuzz_inbound_authres found the index running one beyond the end).
    EXPECT_FALSE(claims_authserv_id(" (unterminated \\", "mx.home.example"));
    EXPECT_FALSE(claims_authserv_id("(\\", "mx.home.example"));
    EXPECT_FALSE(claims_authserv_id(" (a (b) \\", "mx.home.example"));
}

}  // namespace
