// tests/unit/signer/sign_test.cpp — signing: round trips through our verifier for both
// algorithms and all four canonicalization pairs, tampering, header selection and
// oversigning, folding, the streaming flow, and refusals as error values.
#include "signer/sign.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "signer/tag_list.hpp"
#include "signer/verify.hpp"
#include "test_support.hpp"

namespace {

using namespace signpost::signer;
using namespace std::chrono_literals;
using signer_test::fixed_now;
using signer_test::key;
using signer_test::sample_message;

std::string replace_first(std::string s, const std::string& from, const std::string& to) {
    const auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    if (pos != std::string::npos) s.replace(pos, from.size(), to);
    return s;
}

std::vector<SigningKey> both_keys() {
    return {{"ed", key("ed25519.pem")}, {"rsa", key("rsa-2048.pem")}};
}

SignParams params_for(Canonicalization h, Canonicalization b) {
    SignParams p;
    p.d = "example.com";
    p.header_canon = h;
    p.body_canon = b;
    return p;
}

std::vector<SignatureResult> check(const std::string& message) {
    auto r =
        signer_test::verify_both(message, signer_test::lookup_from(signer_test::sample_records()),
                                 fixed_now() + 10s);
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : std::vector<SignatureResult>{};
}

// Tags of a DKIM-Signature field, in order, as (name, value with FWS removed).
std::vector<std::pair<std::string, std::string>> tags_of(const std::string& field) {
    std::vector<std::pair<std::string, std::string>> out;
    auto parsed = parse_header_block(field);
    EXPECT_TRUE(parsed);
    if (!parsed || parsed->empty()) return out;
    auto tags = parse_tag_list(parsed->front().value);
    EXPECT_TRUE(tags);
    if (!tags) return out;
    for (const auto& t : *tags) out.emplace_back(std::string(t.name), remove_fws(t.value));
    return out;
}

std::string tag_value(const std::string& field, const std::string& name) {
    for (const auto& [n, v] : tags_of(field)) {
        if (n == name) return v;
    }
    return "<absent>";
}

// Removes the last n base64 characters of the b= value (the end of the field).
std::string truncate_b(const std::string& field, std::size_t n) {
    std::string out = field.substr(0, field.size() - 2);  // without the final CRLF
    while (n > 0) {
        const char c = out.back();
        out.pop_back();
        if (c != '\r' && c != '\n' && c != '\t' && c != ' ') --n;
    }
    while (out.back() == '\t' || out.back() == '\n' || out.back() == '\r') out.pop_back();
    return out + "\r\n";
}

constexpr Canonicalization kSimple = Canonicalization::simple;
constexpr Canonicalization kRelaxed = Canonicalization::relaxed;

class SignRoundTrip
    : public ::testing::TestWithParam<std::pair<Canonicalization, Canonicalization>> {};

TEST_P(SignRoundTrip, BothAlgorithmsVerifyAndTamperingFails) {
    const auto [hc, bc] = GetParam();
    const std::string msg = sample_message();
    auto sigs = sign_message(msg, both_keys(), params_for(hc, bc), fixed_now());
    ASSERT_TRUE(sigs) << sigs.error().message();
    ASSERT_EQ(sigs->size(), 2u);
    const std::string& ed = (*sigs)[0];
    const std::string& rsa = (*sigs)[1];
    EXPECT_EQ(tag_value(ed, "a"), "ed25519-sha256");
    EXPECT_EQ(tag_value(rsa, "a"), "rsa-sha256");
    EXPECT_EQ(tag_value(ed, "c"), std::string(to_string(hc)) + "/" + std::string(to_string(bc)));

    const std::string signed_msg = ed + rsa + msg;
    auto results = check(signed_msg);
    ASSERT_EQ(results.size(), 2u);
    for (const auto& r : results) {
        EXPECT_TRUE(r.passed()) << r.a << ": " << to_string(r.reason) << " " << r.detail;
        EXPECT_EQ(r.d, "example.com");
    }
    EXPECT_EQ(results[0].s, "ed");
    EXPECT_EQ(results[1].s, "rsa");
    EXPECT_EQ(results[1].key_bits, 2048u);

    // Each signature stands alone: the second does not cover the first.
    EXPECT_EQ(tag_value(rsa, "h").find("dkim-signature"), std::string::npos);
    for (const auto& r : check(rsa + msg)) EXPECT_TRUE(r.passed()) << r.detail;
    for (const auto& r : check(ed + msg)) EXPECT_TRUE(r.passed()) << r.detail;

    struct Tamper {
        const char* what;
        std::string message;
        FailReason want;  // none = still passes
    };
    const std::string hdrs = ed + rsa;
    const Tamper tampers[] = {
        {"header value changed", hdrs + replace_first(msg, "Lunch on", "Lunch at"),
         FailReason::signature_mismatch},
        {"From added above",
         hdrs + replace_first(msg, "From: Alice", "From: Mallory <m@evil.example>\r\nFrom: Alice"),
         FailReason::signature_mismatch},
        {"From added below",
         hdrs + replace_first(msg, "To: Bob", "From: Mallory <m@evil.example>\r\nTo: Bob"),
         FailReason::signature_mismatch},
        {"Subject added above",
         hdrs + replace_first(msg, "Subject: Lunch", "Subject: Free money\r\nSubject: Lunch"),
         FailReason::signature_mismatch},
        {"absent Reply-To added",
         hdrs + replace_first(msg, "X-Mailer", "Reply-To: m@evil.example\r\nX-Mailer"),
         FailReason::signature_mismatch},
        {"body changed", hdrs + replace_first(msg, "noon", "nine"), FailReason::body_hash_mismatch},
        {"body line added", hdrs + replace_first(msg, "Alice\r\n", "Alice\r\nP.S. wire money\r\n"),
         FailReason::body_hash_mismatch},
        {"unsigned header added", hdrs + replace_first(msg, "X-Mailer", "X-Spam: no\r\nX-Mailer"),
         FailReason::none},
        {"Sender added (not oversigned)",
         hdrs + replace_first(msg, "X-Mailer", "Sender: list@example.net\r\nX-Mailer"),
         FailReason::none},
        {"List-Id added",
         hdrs + replace_first(msg, "X-Mailer", "List-Id: <l.example.net>\r\nX-Mailer"),
         FailReason::none},
        {"trailing empty lines added", hdrs + msg + "\r\n\r\n", FailReason::none},
    };
    for (const auto& t : tampers) {
        const auto rs = check(t.message);
        ASSERT_EQ(rs.size(), 2u) << t.what;
        for (const auto& r : rs) {
            EXPECT_EQ(r.reason, t.want) << t.what << " (" << r.a << "): " << r.detail;
            EXPECT_EQ(r.passed(), t.want == FailReason::none) << t.what;
        }
    }

    // b= truncated, bh= altered: checked per signature.
    for (const std::string* sig : {&ed, &rsa}) {
        auto rs = check(truncate_b(*sig, 4) + msg);
        ASSERT_EQ(rs.size(), 1u);
        EXPECT_EQ(rs[0].reason, FailReason::signature_mismatch) << rs[0].a;

        const std::string bh = tag_value(*sig, "bh");
        std::string other_bh = bh;
        other_bh[0] = other_bh[0] == 'A' ? 'B' : 'A';
        rs = check(replace_first(*sig, "bh=" + bh, "bh=" + other_bh) + msg);
        ASSERT_EQ(rs.size(), 1u);
        EXPECT_EQ(rs[0].reason, FailReason::body_hash_mismatch) << rs[0].a;
    }

    // Whitespace changes inside a signed header: relaxed tolerates them, simple does not.
    const std::string refolded = hdrs + replace_first(msg, "Subject: Lunch on\r\n  Thursday?",
                                                      "Subject:   Lunch on Thursday?");
    for (const auto& r : check(refolded)) {
        EXPECT_EQ(r.passed(), hc == kRelaxed) << to_string(r.reason);
    }
    // Whitespace changes inside a body line: relaxed tolerates them, simple does not.
    const std::string respaced = hdrs + replace_first(msg, "meet at", "meet \t at");
    for (const auto& r : check(respaced)) {
        EXPECT_EQ(r.passed(), bc == kRelaxed) << to_string(r.reason);
    }
}

INSTANTIATE_TEST_SUITE_P(AllCanonicalizations, SignRoundTrip,
                         ::testing::Values(std::pair{kRelaxed, kRelaxed},
                                           std::pair{kRelaxed, kSimple},
                                           std::pair{kSimple, kRelaxed},
                                           std::pair{kSimple, kSimple}));

TEST(Sign, HeaderSelectionAndOversigning) {
    const std::string msg = sample_message();
    auto fields = parse_header_block(split_message(msg).header);
    ASSERT_TRUE(fields);
    SignParams p;
    p.d = "example.com";
    auto h = select_headers(*fields, p);
    ASSERT_TRUE(h);
    std::string joined;
    for (const auto& n : *h) joined += (joined.empty() ? "" : ":") + n;
    EXPECT_EQ(joined,
              "from:from:reply-to:subject:subject:date:date:message-id:message-id:to:to:cc:"
              "mime-version:mime-version:content-type:content-type:content-transfer-encoding:"
              "in-reply-to:references");

    p.oversign = false;
    h = select_headers(*fields, p);
    ASSERT_TRUE(h);
    joined.clear();
    for (const auto& n : *h) joined += (joined.empty() ? "" : ":") + n;
    EXPECT_EQ(joined, "from:subject:date:message-id:to:mime-version:content-type");

    p.oversign = true;
    p.headers = {"From", "X-Mailer", "x-mailer", "Received"};  // deduped, lowercased
    h = select_headers(*fields, p);
    ASSERT_TRUE(h);
    EXPECT_EQ(*h, (std::vector<std::string>{"from", "from", "x-mailer"}));

    // Every instance is listed: two To fields, oversigned once more.
    const std::string two_to = "From: a@example.com\r\nTo: x@example.org\r\nTo: y@example.org\r\n";
    auto f2 = parse_header_block(two_to);
    ASSERT_TRUE(f2);
    p.headers = {"from", "to"};
    h = select_headers(*f2, p);
    ASSERT_TRUE(h);
    EXPECT_EQ(*h, (std::vector<std::string>{"from", "from", "to", "to", "to"}));

    p.headers = {"to", "subject"};
    auto no_from = select_headers(*fields, p);
    ASSERT_FALSE(no_from);
    EXPECT_EQ(no_from.error(), Errc::bad_header_selection);
    p.headers = {"from", "bad name"};
    auto bad = select_headers(*fields, p);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error(), Errc::bad_header_selection);
}

TEST(Sign, TagOrderTimestampAndExpiry) {
    SignParams p = params_for(kRelaxed, kRelaxed);
    p.expire_after = std::chrono::hours(24 * 7);
    auto sigs = sign_message(sample_message(), both_keys(), p, fixed_now());
    ASSERT_TRUE(sigs);
    for (const auto& sig : *sigs) {
        EXPECT_TRUE(sig.starts_with("DKIM-Signature: v=1; a=")) << sig;
        std::string names;
        for (const auto& t : tags_of(sig)) names += t.first + " ";
        EXPECT_EQ(names, "v a c d s t x h bh b ");
        EXPECT_EQ(tag_value(sig, "t"), "1700000000");
        EXPECT_EQ(tag_value(sig, "x"), std::to_string(1700000000 + 7 * 24 * 3600));
        EXPECT_EQ(tag_value(sig, "l"), "<absent>");
        EXPECT_EQ(tag_value(sig, "d"), "example.com");
    }
    // Without expiry there is no x=; and the result is deterministic for both algorithms.
    auto a =
        sign_message(sample_message(), both_keys(), params_for(kRelaxed, kRelaxed), fixed_now());
    auto b =
        sign_message(sample_message(), both_keys(), params_for(kRelaxed, kRelaxed), fixed_now());
    ASSERT_TRUE(a && b);
    EXPECT_EQ(*a, *b);
    EXPECT_EQ(tag_value((*a)[0], "x"), "<absent>");

    // Expired signatures fail in the verifier, once `now` passes x=.
    const std::string msg = (*sigs)[0] + sample_message();
    auto later =
        signer_test::verify_both(msg, signer_test::lookup_from(signer_test::sample_records()),
                                 fixed_now() + std::chrono::hours(24 * 8));
    ASSERT_TRUE(later);
    EXPECT_EQ(later->front().reason, FailReason::expired);
}

TEST(Sign, FoldingKeepsLinesWithin78) {
    // Every default header present (long h=), a 4096-bit key (684-octet b=), x= set.
    std::string msg =
        "From: \"A very long display name for folding\" <someone@sub.example.com>\r\n"
        "Sender: s@example.com\r\nReply-To: r@example.com\r\nSubject: s\r\n"
        "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <m@example.com>\r\n"
        "To: t@example.org\r\nCc: c@example.org\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n"
        "Content-Disposition: inline\r\nIn-Reply-To: <i@example.com>\r\n"
        "References: <i@example.com>\r\nList-Id: <l.example.com>\r\nList-Help: <h>\r\n"
        "List-Unsubscribe: <u>\r\nList-Subscribe: <s>\r\nList-Post: <p>\r\n"
        "List-Owner: <o>\r\nList-Archive: <a>\r\nList-Unsubscribe-Post: "
        "List-Unsubscribe=One-Click\r\n"
        "\r\nbody\r\n";
    SignParams p;
    p.d = "mail.subdomain-with-a-longish-name.example.com";
    p.expire_after = std::chrono::seconds(86400);
    const std::vector<SigningKey> keys{{"ed25519-2023-11", key("ed25519.pem")},
                                       {"rsa4096-2023-11", key("rsa-4096.pem")},
                                       {"rsa2048-2023-11", key("rsa-2048.pem")}};
    auto sigs = sign_message(msg, keys, p, fixed_now());
    ASSERT_TRUE(sigs) << sigs.error().message();
    ASSERT_EQ(sigs->size(), 3u);
    for (const auto& sig : *sigs) {
        ASSERT_TRUE(sig.ends_with("\r\n"));
        std::size_t start = 0;
        int lines = 0;
        while (start < sig.size()) {
            const auto end = sig.find("\r\n", start);
            ASSERT_NE(end, std::string::npos);
            const std::string line = sig.substr(start, end - start);
            EXPECT_LE(line.size(), 78u) << line;
            EXPECT_FALSE(line.empty());
            if (lines > 0) {
                EXPECT_EQ(line[0], '\t') << line;
            }
            EXPECT_EQ(line.find('\n'), std::string::npos);
            start = end + 2;
            ++lines;
        }
        EXPECT_GT(lines, 3);
        auto parsed = parse_header_block(sig);
        ASSERT_TRUE(parsed);
        EXPECT_EQ(parsed->size(), 1u);
    }
    std::map<std::string, std::string> records{
        {"ed25519-2023-11/" + p.d, key("ed25519.pem").dns_record()},
        {"rsa4096-2023-11/" + p.d, key("rsa-4096.pem").dns_record()},
        {"rsa2048-2023-11/" + p.d, key("rsa-2048.pem").dns_record()}};
    auto rs = signer_test::verify_both((*sigs)[0] + (*sigs)[1] + (*sigs)[2] + msg,
                                       signer_test::lookup_from(records), fixed_now());
    ASSERT_TRUE(rs);
    ASSERT_EQ(rs->size(), 3u);
    for (const auto& r : *rs) EXPECT_TRUE(r.passed()) << r.s << ": " << r.detail;
}

TEST(Sign, StreamingFlowEqualsWholeMessage) {
    const std::string msg = sample_message();
    const auto parts = split_message(msg);
    const SignParams p = params_for(kRelaxed, kSimple);
    BodyHasher relaxed(kRelaxed);
    BodyHasher simple(kSimple);
    for (std::size_t i = 0; i < parts.body.size(); i += 3) {
        relaxed.update(parts.body.substr(i, 3));
        simple.update(parts.body.substr(i, 3));
    }
    const std::vector<BodyHash> hashes{relaxed.finish(), simple.finish()};
    auto streamed = sign(parts.header, hashes, both_keys(), p, fixed_now());
    auto whole = sign_message(msg, both_keys(), p, fixed_now());
    ASSERT_TRUE(streamed && whole);
    EXPECT_EQ(*streamed, *whole);

    // Only a relaxed hash, but simple body canonicalization asked for.
    auto missing = sign(parts.header, std::span(hashes).first(1), both_keys(), p, fixed_now());
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error(), Errc::body_hash_missing);
}

TEST(Sign, RefusalsAreErrorValues) {
    const std::string msg = sample_message();
    const auto now = fixed_now();
    auto expect_error = [&](const std::string& what, const std::string& m,
                            const std::vector<SigningKey>& keys, const SignParams& p, Errc want) {
        auto r = sign_message(m, keys, p, now);
        ASSERT_FALSE(r) << what;
        EXPECT_EQ(r.error(), want) << what << ": " << r.error().message();
    };
    const SignParams good = params_for(kRelaxed, kRelaxed);
    const auto ed = std::vector<SigningKey>{{"ed", key("ed25519.pem")}};

    expect_error("1024-bit RSA", msg, {{"s", key("rsa-1024.pem")}}, good, Errc::key_too_small);
    expect_error("no keys", msg, {}, good, Errc::no_keys);
    for (const char* sel :
         {"", "bad_sel", "a..b", "-x", "x-", "sel ector", "s\xc3\xa9l", "trailing.", ".lead"}) {
        expect_error(std::string("selector ") + sel, msg, {{sel, key("ed25519.pem")}}, good,
                     Errc::bad_selector);
    }
    for (const char* d : {"", "exa mple.com", "example..com", "-example.com", "ex_ample.com",
                          "example.com.", "ex\xc3\xa4mple.com", "a;b.com"}) {
        SignParams p = good;
        p.d = d;
        expect_error(std::string("domain ") + d, msg, ed, p, Errc::bad_domain);
    }
    {
        SignParams p = good;
        p.d = std::string(64, 'a') + ".com";  // label over 63 octets
        expect_error("long label", msg, ed, p, Errc::bad_domain);
        p = good;
        p.expire_after = std::chrono::seconds(0);
        expect_error("zero expiry", msg, ed, p, Errc::bad_expiry);
        p = good;
        p.headers = {"subject"};
        expect_error("no from in selection", msg, ed, p, Errc::bad_header_selection);
    }
    expect_error("no From field",
                 replace_first(msg, "From: Alice Example <alice@example.com>\r\n", ""), ed, good,
                 Errc::header_missing_from);
    expect_error("no colon", "From a@example.com\r\n\r\nbody\r\n", ed, good, Errc::header_no_colon);
    expect_error("NUL", std::string("From: a\0@example.com\r\n\r\nb\r\n", 24), ed, good,
                 Errc::header_nul);
    expect_error("8-bit name", "Fr\xc3\xb6m: a@example.com\r\n\r\nb\r\n", ed, good,
                 Errc::header_bad_name);
    expect_error("long line",
                 "From: a@example.com\r\nSubject: " + std::string(1000, 'x') + "\r\n\r\nb\r\n", ed,
                 good, Errc::header_line_too_long);
    expect_error("bare LF", "From: a@example.com\nSubject: x\r\n\r\nb\r\n", ed, good,
                 Errc::header_bare_line_ending);

    auto before_epoch = sign_message(msg, ed, good, std::chrono::system_clock::time_point(-1s));
    ASSERT_FALSE(before_epoch);
    EXPECT_EQ(before_epoch.error(), Errc::bad_time);
}

TEST(Sign, SignatureHeaderStepRefusals) {
    const std::string msg = sample_message();
    const std::string header(split_message(msg).header);
    const auto& ed = key("ed25519.pem");
    const std::string base =
        "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=ed; "
        "h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=";
    EXPECT_TRUE(sign_signature_header(ed, header, base));
    auto mismatch = sign_signature_header(key("rsa-2048.pem"), header, base);
    ASSERT_FALSE(mismatch);
    EXPECT_EQ(mismatch.error(), Errc::algorithm_mismatch);
    for (const std::string& bad :
         {std::string("Subject: not a signature"), replace_first(base, "h=from; ", ""),
          replace_first(base, "a=ed25519-sha256", "a=rsa-sha1"),
          replace_first(base, "c=relaxed/relaxed", "c=odd"), base + "\r\nExtra: field",
          replace_first(base, "s=ed;", "s=ed; s=ed;")}) {
        auto r = sign_signature_header(ed, header, bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error(), Errc::signature_header_invalid) << bad;
    }
    auto bad_header = sign_signature_header(ed, "no colon\r\n", base);
    ASSERT_FALSE(bad_header);
    EXPECT_EQ(bad_header.error(), Errc::header_no_colon);
}

// Found by tests/fuzz/dkim/fuzz_dkim_header (corpus file regression-sig-wsp-before-colon):
// RFC 6376 §3.4.2 deletes WSP before the colon of every signed field, the DKIM-Signature
// field itself included; the signing input kept "dkim-signature :", so such a signature
// from another signer could never verify.
TEST(SigningInput, RelaxedDropsWspBeforeTheSignatureFieldColon) {
    const std::string header = "From: a@example.com\r\nDKIM-Signature \t: v=1; h=from;\r\n b=AAAA\r\n";
    auto fields = parse_header_block(header);
    ASSERT_TRUE(fields);
    ASSERT_EQ(fields->size(), 2u);
    const std::vector<std::string_view> h = {"from"};
    EXPECT_EQ(signing_input(*fields, h, (*fields)[1], Canonicalization::relaxed),
              "from:a@example.com\r\ndkim-signature:v=1; h=from; b=");
    // simple keeps the field as written (§3.4.1).
    EXPECT_EQ(signing_input(*fields, h, (*fields)[1], Canonicalization::simple),
              "From: a@example.com\r\nDKIM-Signature \t: v=1; h=from;\r\n b=");
}

}  // namespace
