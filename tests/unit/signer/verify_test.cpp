// tests/unit/signer/verify_test.cpp — the verifier's checks (RFC 6376 §6.1), one per row:
// signatures are built by hand (tag text chosen by the test, b= computed by the signing
// step) so that each row changes exactly one thing.
#include "signer/verify.hpp"

#include <botan/base64.h>
#include <botan/data_src.h>
#include <botan/pkcs8.h>
#include <botan/x509_key.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "signer/canon.hpp"
#include "signer/sign.hpp"
#include "test_support.hpp"

namespace {

using namespace signpost::signer;
using namespace std::chrono_literals;
using signer_test::fixed_now;
using signer_test::key;

const std::string kMessage =
    "From: Alice <alice@example.com>\r\n"
    "To: Bob <bob@example.org>\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "Hello Bob.\r\n";

std::string body_hash(Canonicalization c, std::optional<std::uint64_t> l = std::nullopt) {
    return hash_body(split_message(kMessage).body, c, l).base64();
}

// The usual tags for an Ed25519 signature by "ed" at example.com, before b=.
std::string ed_tags() {
    return "v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=ed; t=1700000000; "
           "h=from:to:subject; bh=" +
           body_hash(Canonicalization::relaxed) + ";";
}

std::string rsa_tags(const std::string& selector) {
    return "v=1; a=rsa-sha256; c=simple/simple; d=example.com; s=" + selector +
           "; t=1700000000; h=from:to:subject; bh=" + body_hash(Canonicalization::simple) + ";";
}

// The message with "DKIM-Signature: <tags> b=<signature by k>" prepended.
std::string signed_with(const PrivateKey& k, const std::string& tags,
                        const std::string& message = kMessage) {
    const std::string field = "DKIM-Signature: " + tags + " b=";
    auto b = sign_signature_header(k, split_message(message).header, field);
    EXPECT_TRUE(b) << tags << ": " << b.error().message();
    return field + (b ? *b : "") + "\r\n" + message;
}

// The message with a field whose b= is a placeholder (for checks that come before it).
std::string unsigned_with(const std::string& tags) {
    return "DKIM-Signature: " + tags + " b=AAAA\r\n" + kMessage;
}

std::map<std::string, std::string> records() {
    return {{"ed/example.com", key("ed25519.pem").dns_record()},
            {"rsa/example.com", key("rsa-2048.pem").dns_record()},
            {"rsa1024/example.com", key("rsa-1024.pem").dns_record()}};
}

SignatureResult only(const std::string& message,
                     const std::map<std::string, std::string>& recs = records(),
                     std::chrono::system_clock::time_point now = fixed_now()) {
    auto r = signer_test::verify_both(message, signer_test::lookup_from(recs), now);
    EXPECT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->size(), 1u);
    return r && !r->empty() ? r->front() : SignatureResult{};
}

std::string replace_first(std::string s, const std::string& from, const std::string& to) {
    const auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    if (pos != std::string::npos) s.replace(pos, from.size(), to);
    return s;
}

TEST(Verify, BaselinesPass) {
    auto ed = only(signed_with(key("ed25519.pem"), ed_tags()));
    EXPECT_TRUE(ed.passed()) << ed.detail;
    EXPECT_EQ(ed.status, VerifyStatus::pass);
    EXPECT_EQ(ed.reason, FailReason::none);
    EXPECT_EQ(ed.d, "example.com");
    EXPECT_EQ(ed.s, "ed");
    EXPECT_EQ(ed.a, "ed25519-sha256");
    EXPECT_EQ(ed.i, "@example.com");
    EXPECT_FALSE(ed.testing);

    auto rsa = only(signed_with(key("rsa-2048.pem"), rsa_tags("rsa")));
    EXPECT_TRUE(rsa.passed()) << rsa.detail;
    EXPECT_EQ(rsa.key_bits, 2048u);

    // RFC 8301: 1024-bit RSA still verifies (only signing refuses it).
    auto small = only(signed_with(key("rsa-1024.pem"), rsa_tags("rsa1024")));
    EXPECT_TRUE(small.passed()) << small.detail;
    EXPECT_EQ(small.key_bits, 1024u);

    // c= absent means simple/simple; i= in a subdomain of d=; q=dns/txt explicit.
    const std::string tags =
        "v=1; a=ed25519-sha256; d=example.com; s=ed; h=From:To; "
        "i=alice@mail.Example.com; q=dns/txt; bh=" +
        body_hash(Canonicalization::simple) + ";";
    auto variant = only(signed_with(key("ed25519.pem"), tags));
    EXPECT_TRUE(variant.passed()) << variant.detail;
    EXPECT_EQ(variant.i, "alice@mail.Example.com");
}

TEST(Verify, SignatureTagChecks) {
    struct Case {
        const char* what;
        std::string tags;
        FailReason want;
    };
    const std::string t = ed_tags();
    const Case cases[] = {
        {"missing v", replace_first(t, "v=1; ", ""), FailReason::syntax_error},
        {"missing a", replace_first(t, "a=ed25519-sha256; ", ""), FailReason::syntax_error},
        {"missing d", replace_first(t, "d=example.com; ", ""), FailReason::syntax_error},
        {"missing s", replace_first(t, "s=ed; ", ""), FailReason::syntax_error},
        {"missing h", replace_first(t, "h=from:to:subject; ", ""), FailReason::syntax_error},
        {"missing bh", t.substr(0, t.find("bh=")), FailReason::syntax_error},
        {"duplicate tag", t + " s=ed;", FailReason::syntax_error},
        {"bad tag list", t + " =x;", FailReason::syntax_error},
        {"v=2", replace_first(t, "v=1", "v=2"), FailReason::unsupported_version},
        {"rsa-sha1", replace_first(t, "ed25519-sha256", "rsa-sha1"),
         FailReason::unsupported_algorithm},
        {"unknown a", replace_first(t, "ed25519-sha256", "ed448-sha256"),
         FailReason::unsupported_algorithm},
        {"unknown c", replace_first(t, "relaxed/relaxed", "relaxed/odd"),
         FailReason::unsupported_canonicalization},
        {"q without dns/txt", t + " q=dns/other;", FailReason::unsupported_query_method},
        {"bad d", replace_first(t, "d=example.com", "d=exa mple.com"), FailReason::syntax_error},
        {"bad s", replace_first(t, "s=ed", "s=e!d"), FailReason::syntax_error},
        {"i outside d", t + " i=@example.net;", FailReason::domain_mismatch},
        {"i suffix without dot", t + " i=@badexample.com;", FailReason::domain_mismatch},
        {"i without @", t + " i=example.com;", FailReason::syntax_error},
        {"h without from", replace_first(t, "from:to:subject", "to:subject"),
         FailReason::from_not_signed},
        {"bad h", replace_first(t, "from:to:subject", "from::to"), FailReason::syntax_error},
        {"bad l", t + " l=ten;", FailReason::syntax_error},
        {"bad t", replace_first(t, "t=1700000000", "t=soon"), FailReason::syntax_error},
        {"x before t", t + " x=1600000000;", FailReason::syntax_error},
        {"expired", replace_first(t, "t=1700000000", "t=1690000000") + " x=1699999999;",
         FailReason::expired},
        {"t in the future", replace_first(t, "t=1700000000", "t=1700001000"),
         FailReason::future_timestamp},
        {"bh not base64", replace_first(t, "bh=", "bh=!!"), FailReason::syntax_error},
    };
    int lookups = 0;
    const auto recs = records();
    KeyLookup counting = [&](std::string_view s, std::string_view d) {
        ++lookups;
        return signer_test::lookup_from(recs)(s, d);
    };
    for (const auto& c : cases) {
        auto r = signer_test::verify_both(unsigned_with(c.tags), counting, fixed_now());
        ASSERT_TRUE(r) << c.what;
        ASSERT_EQ(r->size(), 1u) << c.what;
        EXPECT_EQ(r->front().reason, c.want) << c.what << ": " << r->front().detail;
        EXPECT_EQ(r->front().status, VerifyStatus::permerror) << c.what;
        EXPECT_FALSE(r->front().detail.empty()) << c.what;
    }
    EXPECT_EQ(lookups, 0);  // all refused before any key lookup

    // Within the clock skew (300 s) a future t= is fine; expiry exactly now is fine.
    auto near =
        only(signed_with(key("ed25519.pem"), replace_first(t, "t=1700000000", "t=1700000200")));
    EXPECT_TRUE(near.passed()) << near.detail;
    auto edge = only(signed_with(key("ed25519.pem"), t + " x=1700000000;"));
    EXPECT_TRUE(edge.passed()) << edge.detail;
}

TEST(Verify, KeyChecks) {
    const std::string msg = signed_with(key("ed25519.pem"), ed_tags());
    const std::string ed_p = key("ed25519.pem").public_key_base64();
    auto with_record = [&](const std::string& rec) { return only(msg, {{"ed/example.com", rec}}); };

    auto missing = only(msg, {});
    EXPECT_EQ(missing.reason, FailReason::key_not_found);
    EXPECT_EQ(missing.status, VerifyStatus::permerror);

    auto temp = signer_test::verify_both(
        msg, [](std::string_view, std::string_view) { return LookupResult::temp_error(); },
        fixed_now());
    ASSERT_TRUE(temp);
    EXPECT_EQ(temp->front().reason, FailReason::key_temp_error);
    EXPECT_EQ(temp->front().status, VerifyStatus::temperror);

    EXPECT_EQ(with_record("v=DKIM1; k=ed25519; p=").reason, FailReason::key_revoked);
    EXPECT_EQ(with_record(key("rsa-2048.pem").dns_record()).reason, FailReason::key_type_mismatch);
    EXPECT_EQ(with_record("v=DKIM1; k=ed25519; h=sha1; p=" + ed_p).reason,
              FailReason::key_unsuitable);
    EXPECT_EQ(with_record("v=DKIM1; k=ed25519; s=tlsrpt; p=" + ed_p).reason,
              FailReason::key_unsuitable);
    EXPECT_EQ(with_record("garbage").reason, FailReason::key_syntax);
    EXPECT_EQ(with_record("v=DKIM1; k=ed25519; p=AAAA").reason, FailReason::key_syntax);
    EXPECT_EQ(
        with_record("v=DKIM1; k=ed25519; p=" + key("ed25519.pem").public_key_base64() + "; p=x")
            .reason,
        FailReason::key_syntax);

    auto testing = with_record("v=DKIM1; k=ed25519; t=y; p=" + ed_p);
    EXPECT_TRUE(testing.passed());
    EXPECT_TRUE(testing.testing);

    // t=s: i= must be exactly d=, not a subdomain.
    const std::string strict_rec = "v=DKIM1; k=ed25519; t=s; p=" + ed_p;
    auto strict_ok = with_record(strict_rec);
    EXPECT_TRUE(strict_ok.passed()) << strict_ok.detail;
    auto sub = only(signed_with(key("ed25519.pem"), ed_tags() + " i=@news.example.com;"),
                    {{"ed/example.com", strict_rec}});
    EXPECT_EQ(sub.reason, FailReason::strict_domain_mismatch);

    // The wrong key of the right type: the signature does not verify.
    auto other = only(signed_with(key("rsa-2048.pem"), rsa_tags("rsa")),
                      {{"rsa/example.com", key("rsa-2048-other.pem").dns_record()}});
    EXPECT_EQ(other.reason, FailReason::signature_mismatch);
    EXPECT_EQ(other.status, VerifyStatus::fail);

    // RSA under 1024 bits is refused (RFC 8301), whatever the signature.
    const std::string pem = signer_test::key_pem("rsa-512.pem");  // our loader refuses it
    Botan::DataSource_Memory src(pem);
    const auto tiny = Botan::PKCS8::load_key(src);
    const std::string tiny_rec =
        "v=DKIM1; k=rsa; p=" + Botan::base64_encode(Botan::X509::BER_encode(*tiny));
    auto too_small = only(unsigned_with(rsa_tags("tiny")), {{"tiny/example.com", tiny_rec}});
    EXPECT_EQ(too_small.reason, FailReason::key_too_small);
    EXPECT_EQ(too_small.key_bits, 512u);
}

TEST(Verify, BodyLengthLimit) {
    const auto body = split_message(kMessage).body;
    const auto len = canonicalize_body(body, Canonicalization::relaxed).size();
    const std::string tags =
        "v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=ed; "
        "h=from:to:subject; l=" +
        std::to_string(len) + "; bh=" + body_hash(Canonicalization::relaxed, len) + ";";
    const std::string msg = signed_with(key("ed25519.pem"), tags);
    EXPECT_TRUE(only(msg).passed());
    // l= is why the signer never emits it: content appended after l octets still passes.
    EXPECT_TRUE(only(msg + "Appended by someone else.\r\n").passed());
    // A body shorter than l= fails.
    auto shorter = only(replace_first(msg, "Hello Bob.", "Hi."));
    EXPECT_EQ(shorter.reason, FailReason::body_length_exceeded);
    EXPECT_EQ(shorter.status, VerifyStatus::fail);
}

TEST(Verify, MessageLevelCases) {
    auto none = signer_test::verify_both(kMessage, signer_test::lookup_from({}), fixed_now());
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());

    auto broken = signer_test::verify_both("no colon\r\n\r\nbody", signer_test::lookup_from({}),
                                           fixed_now());
    ASSERT_FALSE(broken);
    EXPECT_EQ(broken.error(), Errc::header_no_colon);

    // More signatures than max_signatures: the rest are reported, not checked.
    const std::string one = signed_with(key("ed25519.pem"), ed_tags());
    const std::string sig_field = one.substr(0, one.find("From:"));
    VerifyOptions opts;
    opts.max_signatures = 2;
    int lookups = 0;
    const auto recs = records();
    auto r = signer_test::verify_both(
        sig_field + sig_field + one,
        [&](std::string_view s, std::string_view d) {
            ++lookups;
            return signer_test::lookup_from(recs)(s, d);
        },
        fixed_now(), opts);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 3u);
    EXPECT_TRUE((*r)[0].passed());
    EXPECT_TRUE((*r)[1].passed());
    EXPECT_EQ((*r)[2].reason, FailReason::too_many_signatures);
    EXPECT_EQ((*r)[2].d, "example.com");
    EXPECT_EQ(lookups, 2);

    // The lookup is asked for exactly s= and d=.
    std::string asked;
    auto r2 = signer_test::verify_both(
        one,
        [&](std::string_view s, std::string_view d) {
            asked = std::string(s) + "|" + std::string(d);
            return LookupResult::not_found();
        },
        fixed_now());
    EXPECT_EQ(asked, "ed|example.com");

    EXPECT_EQ(to_string(VerifyStatus::temperror), "temperror");
    EXPECT_EQ(to_string(FailReason::body_hash_mismatch), "body_hash_mismatch");
}

}  // namespace
