// tests/vectors/dkim_vectors_test.cpp — DKIM vectors from the RFCs, read from
// tests/data/dkim-vectors/ (each directory's README names the RFC section it comes from).
//
//  rfc8463/  RFC 8463 Appendix A: keys (A.1), DNS records (A.2), the signed message (A.3).
//            Our body hash equals the published bh=, our verifier passes both published
//            signatures, our signing step reproduces both published b= values byte for byte,
//            and the published key records are exactly what our keys print.
//  rfc6376/  RFC 6376 §3.4.6 canonicalization examples and the empty-body rules of
//            §3.4.3/§3.4.4, in the RFC's own <SP>/<HTAB>/<CRLF> notation.
//
// Files are stored with LF line ends (so git settings cannot alter them) and converted to
// the CRLF of the wire when read; the notation files spell every octet out instead.
#include <botan/base64.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "signer/canon.hpp"
#include "signer/header.hpp"
#include "signer/key.hpp"
#include "signer/sign.hpp"
#include "signer/tag_list.hpp"
#include "signer/verify.hpp"

namespace {

using namespace signpost::signer;
using namespace std::chrono_literals;

const std::string data_dir = std::string(SIGNPOST_TEST_DATA_DIR) + "/dkim-vectors/";

std::string read_file(const std::string& relative) {
    std::ifstream in(data_dir + relative, std::ios::binary);
    EXPECT_TRUE(in.good()) << "cannot open " << data_dir + relative;
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string lf_to_crlf(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

// expected.txt: "key=value" lines, '#' comments.
std::map<std::string, std::string> read_expected(const std::string& relative) {
    std::map<std::string, std::string> out;
    std::istringstream in(read_file(relative));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto eq = line.find('=');
        out[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return out;
}

// The RFC notation: whitespace is layout only; <SP>, <HTAB>, <CRLF> are octets.
std::map<std::string, std::string> read_notation(const std::string& relative) {
    std::map<std::string, std::string> sections;
    std::istringstream in(read_file(relative));
    std::string line;
    std::string current;
    while (std::getline(in, line)) {
        if (!line.empty() && line[0] == '#') continue;
        if (!line.empty() && line[0] == '[') {
            current = line.substr(1, line.find(']') - 1);
            sections[current];
            continue;
        }
        if (current.empty()) continue;
        std::string& out = sections[current];
        for (std::size_t i = 0; i < line.size();) {
            if (line[i] == ' ' || line[i] == '\t') {
                ++i;
            } else if (line.compare(i, 4, "<SP>") == 0) {
                out += ' ';
                i += 4;
            } else if (line.compare(i, 6, "<HTAB>") == 0) {
                out += '\t';
                i += 6;
            } else if (line.compare(i, 6, "<CRLF>") == 0) {
                out += "\r\n";
                i += 6;
            } else {
                out += line[i++];
            }
        }
    }
    return sections;
}

// --- RFC 8463 Appendix A -------------------------------------------------------------------

class Rfc8463 : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        auto ed = load_ed25519_seed(read_file("rfc8463/ed25519.seed"));
        ASSERT_TRUE(ed) << ed.error().message();
        ed_key_ = new PrivateKey(*ed);
        auto rsa = load_private_key_pem(read_file("rfc8463/rsa.pem"));
        ASSERT_TRUE(rsa) << rsa.error().message();
        rsa_key_ = new PrivateKey(*rsa);
    }
    static void TearDownTestSuite() {
        delete ed_key_;
        delete rsa_key_;
    }

    static KeyLookup published_records() {
        auto ed = trim(read_file("rfc8463/brisbane._domainkey.football.example.com.txt"));
        auto rsa = trim(read_file("rfc8463/test._domainkey.football.example.com.txt"));
        return [ed, rsa](std::string_view s, std::string_view d) {
            if (d != "football.example.com") return LookupResult::not_found();
            if (s == "brisbane") return LookupResult::found(ed);
            if (s == "test") return LookupResult::found(rsa);
            return LookupResult::not_found();
        };
    }

    static std::chrono::system_clock::time_point signing_time() {
        return std::chrono::system_clock::time_point(1528637909s);
    }

    const std::map<std::string, std::string> expected = read_expected("rfc8463/expected.txt");
    const std::string message = lf_to_crlf(read_file("rfc8463/message.eml"));
    const std::string signed_message = lf_to_crlf(read_file("rfc8463/signed.eml"));

    static inline PrivateKey* ed_key_ = nullptr;
    static inline PrivateKey* rsa_key_ = nullptr;
};

TEST_F(Rfc8463, KeysPrintThePublishedRecords) {
    EXPECT_EQ(ed_key_->type(), KeyType::ed25519);
    EXPECT_EQ(rsa_key_->type(), KeyType::rsa);
    EXPECT_EQ(rsa_key_->bits(), 1024u);
    EXPECT_EQ(ed_key_->dns_record(),
              trim(read_file("rfc8463/brisbane._domainkey.football.example.com.txt")));
    EXPECT_EQ(rsa_key_->dns_record(),
              trim(read_file("rfc8463/test._domainkey.football.example.com.txt")));
}

TEST_F(Rfc8463, BodyHashEqualsThePublishedBh) {
    const auto parts = split_message(message);
    EXPECT_EQ(hash_body(parts.body, Canonicalization::relaxed).base64(), expected.at("bh"));

    // Through sign(): Ed25519 with the RFC's domain, selector and time. (sign() refuses the
    // RFC's 1024-bit RSA key by policy; the b= test below uses the bare signing step.)
    SignParams params;
    params.d = expected.at("domain");
    const std::vector<SigningKey> keys{{expected.at("selector.ed25519"), *ed_key_}};
    auto fields = sign_message(message, keys, params, signing_time());
    ASSERT_TRUE(fields) << fields.error().message();
    ASSERT_EQ(fields->size(), 1u);
    const std::string& f = fields->front();
    EXPECT_NE(f.find("bh=" + expected.at("bh") + ";"), std::string::npos) << f;
    EXPECT_NE(f.find("t=" + expected.at("timestamp") + ";"), std::string::npos) << f;
    EXPECT_NE(f.find("d=football.example.com;"), std::string::npos) << f;
    EXPECT_NE(f.find("s=brisbane;"), std::string::npos) << f;

    // ...and what we signed verifies against the RFC's published Ed25519 record.
    auto results = verify(f + message, published_records(), signing_time() + 1h);
    ASSERT_TRUE(results);
    ASSERT_EQ(results->size(), 1u);
    EXPECT_TRUE(results->front().passed()) << results->front().detail;

    const std::vector<SigningKey> rsa_keys{{expected.at("selector.rsa"), *rsa_key_}};
    auto refused = sign_message(message, rsa_keys, params, signing_time());
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), Errc::key_too_small);
}

TEST_F(Rfc8463, VerifierPassesBothPublishedSignatures) {
    auto results = verify(signed_message, published_records(), signing_time() + 24h * 365 * 10);
    ASSERT_TRUE(results) << results.error().message();
    ASSERT_EQ(results->size(), 2u);
    const auto& ed = (*results)[0];
    const auto& rsa = (*results)[1];
    EXPECT_TRUE(ed.passed()) << to_string(ed.reason) << ": " << ed.detail;
    EXPECT_TRUE(rsa.passed()) << to_string(rsa.reason) << ": " << rsa.detail;
    EXPECT_EQ(ed.d, "football.example.com");
    EXPECT_EQ(ed.s, "brisbane");
    EXPECT_EQ(ed.a, "ed25519-sha256");
    EXPECT_EQ(ed.key_bits, 256u);
    EXPECT_EQ(rsa.s, "test");
    EXPECT_EQ(rsa.a, "rsa-sha256");
    EXPECT_EQ(rsa.key_bits, 1024u);  // RFC 8301: verifiers accept 1024..2047

    // The same message with one changed body octet fails both, on the body hash.
    std::string tampered = signed_message;
    tampered.replace(tampered.find("hungry"), 6, "angry!");
    results = verify(tampered, published_records(), signing_time() + 1h);
    ASSERT_TRUE(results);
    for (const auto& r : *results) EXPECT_EQ(r.reason, FailReason::body_hash_mismatch);
}

TEST_F(Rfc8463, SigningStepReproducesBothPublishedBValues) {
    const auto header = split_message(message).header;
    struct Case {
        const char* file;
        const PrivateKey* key;
        const char* b;
    };
    for (const Case& c : {Case{"rfc8463/signature-ed25519.txt", ed_key_, "b.ed25519"},
                          Case{"rfc8463/signature-rsa.txt", rsa_key_, "b.rsa"}}) {
        SCOPED_TRACE(c.file);
        const std::string field = lf_to_crlf(read_file(c.file));

        // The published b= (whitespace removed) is the one in expected.txt.
        auto parsed = parse_header_block(field);
        ASSERT_TRUE(parsed);
        auto tags = parse_tag_list(parsed->front().value);
        ASSERT_TRUE(tags);
        EXPECT_EQ(remove_fws(*find_tag(*tags, "b")), expected.at(c.b));

        // Signing the exact published header text (its b= value is emptied, §3.7).
        auto b = sign_signature_header(*c.key, header, field);
        ASSERT_TRUE(b) << b.error().message();
        EXPECT_EQ(*b, expected.at(c.b));

        // Same with the b= value removed by hand first.
        const auto b_at = field.find(" b=") + 3;
        const std::string emptied = field.substr(0, b_at);
        auto b2 = sign_signature_header(*c.key, header, emptied);
        ASSERT_TRUE(b2) << b2.error().message();
        EXPECT_EQ(*b2, expected.at(c.b));
    }
}

TEST_F(Rfc8463, SignedDataIsTheRelaxedHeaderBottomUp) {
    const auto header = split_message(message).header;
    auto fields = parse_header_block(header);
    ASSERT_TRUE(fields);
    const std::string sig_text = lf_to_crlf(read_file("rfc8463/signature-ed25519.txt"));
    auto sig = parse_header_block(sig_text);
    ASSERT_TRUE(sig);
    auto tags = parse_tag_list(sig->front().value);
    ASSERT_TRUE(tags);
    auto h = split_h_tag(*find_tag(*tags, "h"));
    ASSERT_TRUE(h);
    const std::string input = signing_input(*fields, *h, sig->front(), Canonicalization::relaxed);
    EXPECT_EQ(input,
              "from:Joe SixPack <joe@football.example.com>\r\n"
              "to:Suzie Q <suzie@shopping.example.net>\r\n"
              "subject:Is dinner ready?\r\n"
              "date:Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
              "message-id:<20030712040037.46341.5F8J@football.example.com>\r\n"
              "dkim-signature:v=1; a=ed25519-sha256; c=relaxed/relaxed; "
              "d=football.example.com; i=@football.example.com; q=dns/txt; s=brisbane; "
              "t=1528637909; h=from : to : subject : date : message-id : from : subject : "
              "date; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=");
}

// --- RFC 6376 §3.4.6 and §3.4.3/§3.4.4 ---------------------------------------------------

std::string canon_header_block(std::string_view header, Canonicalization c) {
    auto fields = parse_header_block(header);
    EXPECT_TRUE(fields) << fields.error().message();
    std::string out;
    if (fields) {
        for (const auto& f : *fields) canonicalize_header(f, c, out);
    }
    return out;
}

std::string streamed_bh(std::string_view body, Canonicalization c) {
    BodyHasher h(c);
    for (char ch : body) h.update(std::string_view(&ch, 1));
    return h.finish().base64();
}

TEST(Rfc6376, Section346CanonicalizationExamples) {
    const auto v = read_notation("rfc6376/section-3.4.6.txt");
    const auto parts = split_message(v.at("message"));
    EXPECT_EQ(canon_header_block(parts.header, Canonicalization::relaxed), v.at("relaxed-header"));
    EXPECT_EQ(canon_header_block(parts.header, Canonicalization::simple), v.at("simple-header"));
    EXPECT_EQ(canonicalize_body(parts.body, Canonicalization::relaxed), v.at("relaxed-body"));
    EXPECT_EQ(canonicalize_body(parts.body, Canonicalization::simple), v.at("simple-body"));
    // The streaming hasher agrees with hashing the expected canonical text.
    for (auto c : {Canonicalization::relaxed, Canonicalization::simple}) {
        const std::string expect =
            c == Canonicalization::relaxed ? v.at("relaxed-body") : v.at("simple-body");
        Botan::SHA_256 sha;
        sha.update(expect);
        EXPECT_EQ(streamed_bh(parts.body, c), Botan::base64_encode(sha.final()));
    }
}

TEST(Rfc6376, EmptyBody) {
    const auto v = read_notation("rfc6376/empty-body.txt");
    const auto parts = split_message(v.at("message"));
    EXPECT_TRUE(parts.header.empty());
    EXPECT_TRUE(parts.body.empty());
    EXPECT_EQ(canonicalize_body(parts.body, Canonicalization::simple), v.at("simple-body"));
    EXPECT_EQ(canonicalize_body(parts.body, Canonicalization::relaxed), v.at("relaxed-body"));
    EXPECT_EQ(streamed_bh(parts.body, Canonicalization::simple), v.at("simple-bh"));
    EXPECT_EQ(streamed_bh(parts.body, Canonicalization::relaxed), v.at("relaxed-bh"));
    // A body of empty lines only is the same as an empty body, for both.
    EXPECT_EQ(streamed_bh("\r\n\r\n\r\n", Canonicalization::simple), v.at("simple-bh"));
    EXPECT_EQ(streamed_bh("\r\n \t\r\n", Canonicalization::relaxed), v.at("relaxed-bh"));
}

}  // namespace
