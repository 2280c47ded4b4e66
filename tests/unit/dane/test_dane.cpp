// tests/unit/dane/test_dane.cpp — relay/dane: which TLSA records are usable (RFC 7672 §3.1,
// RFC 7671 §5 and §9), and verify() for DANE-EE and DANE-TA.
//
// Vectors: tests/data/dane (root -> intermediate -> leaf for mx.dane.test, and an unrelated
// certificate), with TLSA data for each certificate in all six selector/matching-type
// combinations computed by the openssl command line (make-vectors.sh there). Certificates
// with other names and validity periods are made here with libcrypto.
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "relay/dane/dane.hpp"

namespace {

using signpost::dane::Failure;
using signpost::dane::Usability;
using signpost::dns::TlsaRecord;

// The vector certificates' window is 2026-12 .. 2046-12; this is inside it.
constexpr std::time_t kNow = 1893456000;  // 2030-01-01T00:00:00Z

std::string read_file(const std::string& name) {
    std::ifstream in(std::string(SIGNPOST_TEST_DATA_DIR) + "/dane/" + name, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::uint8_t> from_hex(const std::string& hex) {
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

TlsaRecord rec(int usage, int selector, int matching, std::vector<std::uint8_t> data) {
    TlsaRecord r;
    r.usage = static_cast<std::uint8_t>(usage);
    r.selector = static_cast<std::uint8_t>(selector);
    r.matching = static_cast<std::uint8_t>(matching);
    r.data = std::move(data);
    return r;
}

// tlsa.txt: "<cert> <selector> <matching> <hex>".
struct Vectors {
    std::map<std::string, std::string> der;  // cert name -> DER
    std::map<std::tuple<std::string, int, int>, std::vector<std::uint8_t>> data;

    Vectors() {
        for (const char* c : {"root", "inter", "leaf", "other"}) der[c] = read_file(std::string(c) + ".der");
        std::istringstream lines(read_file("tlsa.txt"));
        std::string cert, hex;
        int sel = 0, mt = 0;
        while (lines >> cert >> sel >> mt >> hex) data[{cert, sel, mt}] = from_hex(hex);
    }
    TlsaRecord tlsa(int usage, const std::string& cert, int sel, int mt) const { return rec(usage, sel, mt, data.at({cert, sel, mt})); }
};

const Vectors& vectors() {
    static const Vectors v;
    return v;
}

TEST(dane_vectors, LoadedAll) {
    ASSERT_EQ(vectors().data.size(), 24u);
    for (const auto& [name, der] : vectors().der) EXPECT_GT(der.size(), 100u) << name;
}

// ---- usability --------------------------------------------------------------------------

TEST(dane_usability, UsagesSelectorsMatchingTypesAndLengths) {
    const std::vector<std::uint8_t> d32(32, 1), d64(64, 1), d31(31, 1);
    EXPECT_EQ(signpost::dane::usability(rec(3, 1, 1, d32)), Usability::usable);
    EXPECT_EQ(signpost::dane::usability(rec(2, 0, 2, d64)), Usability::usable);
    EXPECT_EQ(signpost::dane::usability(rec(3, 0, 0, {1, 2, 3})), Usability::usable);
    EXPECT_EQ(signpost::dane::usability(rec(0, 1, 1, d32)), Usability::pkix_usage);  // RFC 7672 §3.1.3
    EXPECT_EQ(signpost::dane::usability(rec(1, 1, 1, d32)), Usability::pkix_usage);
    EXPECT_EQ(signpost::dane::usability(rec(4, 1, 1, d32)), Usability::unknown_usage);
    EXPECT_EQ(signpost::dane::usability(rec(255, 1, 1, d32)), Usability::unknown_usage);
    EXPECT_EQ(signpost::dane::usability(rec(3, 2, 1, d32)), Usability::unknown_selector);
    EXPECT_EQ(signpost::dane::usability(rec(3, 1, 3, d32)), Usability::unknown_matching);
    EXPECT_EQ(signpost::dane::usability(rec(3, 1, 1, d31)), Usability::bad_length);
    EXPECT_EQ(signpost::dane::usability(rec(3, 1, 1, d64)), Usability::bad_length);
    EXPECT_EQ(signpost::dane::usability(rec(3, 1, 2, d32)), Usability::bad_length);
    EXPECT_EQ(signpost::dane::usability(rec(3, 1, 0, {})), Usability::bad_length);
}

TEST(dane_usability, OnlyPkixMeansNothingUsable) {
    const std::vector<std::uint8_t> d32(32, 1);
    EXPECT_TRUE(signpost::dane::usable_records({rec(0, 0, 1, d32), rec(1, 1, 1, d32)}).empty());
}

TEST(dane_usability, DigestAgilityKeepsTheStrongestPerUsageAndSelector) {
    // RFC 7671 §9: with 3 1 1 and 3 1 2 published, only 3 1 2 is used; 3 0 1 (another
    // selector), 2 1 1 (another usage) and 3 1 0 (no digest) are kept.
    const std::vector<std::uint8_t> d32(32, 1), d64(64, 2);
    auto out = signpost::dane::usable_records(
        {rec(3, 1, 1, d32), rec(3, 1, 2, d64), rec(3, 0, 1, d32), rec(2, 1, 1, d32), rec(3, 1, 0, {9}), rec(3, 1, 1, d32)});
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[0].matching, 2);
    EXPECT_EQ(out[1].selector, 0);
    EXPECT_EQ(out[2].usage, 2);
    EXPECT_EQ(out[3].matching, 0);
}

TEST(dane_usability, DigestAgilityMeansAWeakDigestCannotMatch) {
    // The leaf's 3 1 1 is right, but a 3 1 2 (wrong) is also published: the SHA-256 record
    // is ignored, so the chain does not match (a stale SHA-512 record is the operator's error).
    const auto& v = vectors();
    std::vector<std::uint8_t> wrong512(64, 7);
    auto usable = signpost::dane::usable_records({v.tlsa(3, "leaf", 1, 1), rec(3, 1, 2, wrong512)});
    auto verdict = signpost::dane::verify({v.der.at("leaf")}, usable, {"mx.dane.test"}, kNow);
    EXPECT_EQ(verdict.failure, Failure::no_match) << verdict.detail;
}

TEST(dane_text, PresentationForm) {
    EXPECT_EQ(signpost::dane::to_text(rec(3, 1, 1, {0xab, 0x01})), "3 1 1 ab01");
    std::vector<std::uint8_t> big(100, 0xff);
    EXPECT_EQ(signpost::dane::to_text(rec(2, 0, 0, big)), "2 0 0 " + std::string(64, 'f') + "... (100 octets)");
}

// ---- matching: every selector x matching type ------------------------------------------

TEST(dane_match, EverySelectorAndMatchingTypeAgainstTheVectors) {
    const auto& v = vectors();
    for (const char* cert : {"root", "inter", "leaf", "other"})
        for (int sel = 0; sel <= 1; ++sel)
            for (int mt = 0; mt <= 2; ++mt) {
                EXPECT_TRUE(signpost::dane::matches(v.tlsa(3, cert, sel, mt), v.der.at(cert))) << cert << " " << sel << " " << mt;
                // ... and no other certificate's data matches it.
                for (const char* other : {"root", "inter", "leaf", "other"}) {
                    if (std::string(other) == cert) continue;
                    EXPECT_FALSE(signpost::dane::matches(v.tlsa(3, other, sel, mt), v.der.at(cert))) << cert << "/" << other;
                }
            }
}

TEST(dane_match, GarbageCertificateMatchesNothing) {
    const auto& v = vectors();
    EXPECT_FALSE(signpost::dane::matches(v.tlsa(3, "leaf", 0, 0), "not a certificate"));
    EXPECT_FALSE(signpost::dane::matches(v.tlsa(3, "leaf", 0, 0), v.der.at("leaf") + "x"));  // trailing octet
    EXPECT_FALSE(signpost::dane::matches(v.tlsa(3, "leaf", 0, 0), ""));
}

// ---- DANE-EE ----------------------------------------------------------------------------

TEST(dane_ee, EverySelectorAndMatchingTypeVerifiesTheLeaf) {
    const auto& v = vectors();
    for (int sel = 0; sel <= 1; ++sel)
        for (int mt = 0; mt <= 2; ++mt) {
            auto verdict = signpost::dane::verify({v.der.at("leaf"), v.der.at("inter")}, {v.tlsa(3, "leaf", sel, mt)},
                                                  {"mx.dane.test"}, kNow);
            EXPECT_TRUE(verdict.ok()) << sel << " " << mt << ": " << verdict.detail;
            EXPECT_EQ(verdict.depth, 0);
            EXPECT_EQ(verdict.matched, 0u);
        }
}

TEST(dane_ee, IgnoresNamesAndExpiry) {
    // RFC 7672 §3.1.1: with DANE-EE the name and the validity period do not matter.
    const auto& v = vectors();
    const std::time_t long_after = 4102444800;  // 2100: every vector certificate has expired
    auto verdict = signpost::dane::verify({v.der.at("leaf")}, {v.tlsa(3, "leaf", 1, 1)}, {"some.other.name"}, long_after);
    EXPECT_TRUE(verdict.ok()) << verdict.detail;
}

TEST(dane_ee, OnlyTheLeafCounts) {
    // A DANE-EE record for the intermediate is not satisfied by sending the intermediate.
    const auto& v = vectors();
    auto verdict = signpost::dane::verify({v.der.at("leaf"), v.der.at("inter")}, {v.tlsa(3, "inter", 1, 1)},
                                          {"mx.dane.test"}, kNow);
    EXPECT_EQ(verdict.failure, Failure::no_match);
}

TEST(dane_ee, NoMatchAndNoCertificate) {
    const auto& v = vectors();
    auto verdict = signpost::dane::verify({v.der.at("other")}, {v.tlsa(3, "leaf", 1, 1)}, {"mx.dane.test"}, kNow);
    EXPECT_EQ(verdict.failure, Failure::no_match);
    EXPECT_NE(verdict.detail.find("none of the 1 usable TLSA records"), std::string::npos) << verdict.detail;
    EXPECT_EQ(signpost::dane::verify({}, {v.tlsa(3, "leaf", 1, 1)}, {"mx.dane.test"}, kNow).failure, Failure::no_certificate);
    EXPECT_EQ(signpost::dane::verify({"junk"}, {v.tlsa(3, "leaf", 1, 1)}, {"mx.dane.test"}, kNow).failure,
              Failure::no_certificate);
}

TEST(dane_ee, PkixRecordsAreNeverMatched) {
    const auto& v = vectors();
    auto verdict = signpost::dane::verify({v.der.at("leaf")}, {v.tlsa(1, "leaf", 1, 1), v.tlsa(0, "inter", 1, 1)},
                                          {"mx.dane.test"}, kNow);
    EXPECT_EQ(verdict.failure, Failure::no_match);
}

// ---- DANE-TA with the vector chain ------------------------------------------------------

TEST(dane_ta, IntermediateOrRootAsAnchorEveryCombination) {
    const auto& v = vectors();
    const std::vector<std::string> chain{v.der.at("leaf"), v.der.at("inter"), v.der.at("root")};
    for (const char* anchor : {"inter", "root"})
        for (int sel = 0; sel <= 1; ++sel)
            for (int mt = 0; mt <= 2; ++mt) {
                auto verdict = signpost::dane::verify(chain, {v.tlsa(2, anchor, sel, mt)}, {"mx.dane.test"}, kNow);
                EXPECT_TRUE(verdict.ok()) << anchor << " " << sel << " " << mt << ": " << verdict.detail;
                EXPECT_EQ(verdict.depth, std::string(anchor) == "inter" ? 1 : 2);
            }
}

TEST(dane_ta, ReferenceIdentifiers) {
    // RFC 7672 §3.2.3: the leaf must name the TLSA base domain or the MX host name.
    const auto& v = vectors();
    const std::vector<std::string> chain{v.der.at("leaf"), v.der.at("inter")};
    const auto ta = v.tlsa(2, "inter", 1, 1);
    EXPECT_TRUE(signpost::dane::verify(chain, {ta}, {"cname-target.dane.test", "mx.dane.test"}, kNow).ok());
    auto wrong = signpost::dane::verify(chain, {ta}, {"mx.other.test"}, kNow);
    EXPECT_EQ(wrong.failure, Failure::name_mismatch) << wrong.detail;
    EXPECT_EQ(wrong.matched, 0u);
    EXPECT_EQ(signpost::dane::verify(chain, {ta}, {}, kNow).failure, Failure::name_mismatch);
}

TEST(dane_ta, ValidityIsChecked) {
    const auto& v = vectors();
    const std::vector<std::string> chain{v.der.at("leaf"), v.der.at("inter")};
    auto verdict = signpost::dane::verify(chain, {v.tlsa(2, "inter", 1, 1)}, {"mx.dane.test"}, 4102444800);
    EXPECT_EQ(verdict.failure, Failure::expired) << verdict.detail;
    verdict = signpost::dane::verify(chain, {v.tlsa(2, "inter", 1, 1)}, {"mx.dane.test"}, 1000000000);  // 2001
    EXPECT_EQ(verdict.failure, Failure::expired) << verdict.detail;
}

TEST(dane_ta, MissingIntermediateBreaksTheChainToTheRoot) {
    const auto& v = vectors();
    auto verdict = signpost::dane::verify({v.der.at("leaf"), v.der.at("root")}, {v.tlsa(2, "root", 1, 1)}, {"mx.dane.test"}, kNow);
    EXPECT_EQ(verdict.failure, Failure::chain_invalid) << verdict.detail;
}

TEST(dane_ta, AnchorNotSentIsFoundOnlyInAFullCertificateRecord) {
    // RFC 7671 §5.2.2: "2 0 0" carries the anchor itself; "2 1 1" for an anchor the server
    // does not send cannot be checked and fails.
    const auto& v = vectors();
    const std::vector<std::string> chain{v.der.at("leaf"), v.der.at("inter")};
    auto full = signpost::dane::verify(chain, {v.tlsa(2, "root", 0, 0)}, {"mx.dane.test"}, kNow);
    EXPECT_TRUE(full.ok()) << full.detail;
    EXPECT_EQ(full.depth, -1);
    EXPECT_EQ(signpost::dane::verify(chain, {v.tlsa(2, "root", 1, 1)}, {"mx.dane.test"}, kNow).failure, Failure::no_match);
}

TEST(dane_ta, UnrelatedCertificateWithTheRightNameFails) {
    const auto& v = vectors();
    auto verdict = signpost::dane::verify({v.der.at("other"), v.der.at("inter")}, {v.tlsa(2, "inter", 1, 1)}, {"mx.dane.test"}, kNow);
    EXPECT_EQ(verdict.failure, Failure::chain_invalid) << verdict.detail;
}

TEST(dane_ta, EeTriedFirstThenTheFirstWorkingAnchor) {
    const auto& v = vectors();
    const std::vector<std::string> chain{v.der.at("leaf"), v.der.at("inter"), v.der.at("root")};
    auto verdict = signpost::dane::verify(chain, {v.tlsa(2, "inter", 1, 1), v.tlsa(3, "leaf", 1, 1)}, {"mx.dane.test"}, kNow);
    ASSERT_TRUE(verdict.ok());
    EXPECT_EQ(verdict.matched, 1u);
    // A record for an unrelated anchor first, then a good one: the good one wins.
    verdict = signpost::dane::verify(chain, {v.tlsa(2, "other", 1, 1), v.tlsa(2, "root", 0, 1)}, {"mx.dane.test"}, kNow);
    ASSERT_TRUE(verdict.ok()) << verdict.detail;
    EXPECT_EQ(verdict.matched, 1u);
}

// ---- DANE-TA names, made here ----------------------------------------------------------

struct KeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
    void operator()(X509* x) const { X509_free(x); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

Key new_key() { return Key(EVP_EC_gen("P-256")); }

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    ASSERT_NE(ext, nullptr) << value;
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

Cert make_cert(const std::string& cn, const std::string& san, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca) {
    Cert c(X509_new());
    X509_set_version(c.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.get()), 1000 + static_cast<long>(cn.size()));
    std::time_t now = kNow;
    X509_time_adj_ex(X509_getm_notBefore(c.get()), 0, 0, &now);
    X509_time_adj_ex(X509_getm_notAfter(c.get()), 30, 0, &now);
    X509_NAME* name = X509_get_subject_name(c.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(c.get(), issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(c.get(), key);
    if (ca) add_ext(c.get(), issuer ? issuer : c.get(), NID_basic_constraints, "critical,CA:TRUE");
    if (!san.empty()) add_ext(c.get(), issuer ? issuer : c.get(), NID_subject_alt_name, san.c_str());
    X509_sign(c.get(), issuer_key, EVP_sha256());
    return c;
}

std::string der_of(X509* c) {
    unsigned char* out = nullptr;
    int len = i2d_X509(c, &out);
    std::string s(reinterpret_cast<char*>(out), static_cast<std::size_t>(len));
    OPENSSL_free(out);
    return s;
}

class dane_names : public ::testing::Test {
protected:
    void SetUp() override {
        ca_key_ = new_key();
        ca_ = make_cert("names CA", "", ca_key_.get(), nullptr, ca_key_.get(), true);
        leaf_key_ = new_key();
        record_ = rec(2, 0, 0, {});
        const std::string d = der_of(ca_.get());
        record_.data.assign(d.begin(), d.end());
    }
    Failure check(const std::string& san, const std::vector<std::string>& names) {
        Cert leaf = make_cert("leaf", san, leaf_key_.get(), ca_.get(), ca_key_.get(), false);
        return signpost::dane::verify({der_of(leaf.get()), der_of(ca_.get())}, {record_}, names, kNow + 3600).failure;
    }
    Key ca_key_, leaf_key_;
    Cert ca_;
    TlsaRecord record_;
};

TEST_F(dane_names, WildcardOnlyAsTheWholeLeftmostLabel) {
    EXPECT_EQ(check("DNS:*.dane.test", {"mx.dane.test"}), Failure::none);
    EXPECT_EQ(check("DNS:*.dane.test", {"a.mx.dane.test"}), Failure::name_mismatch);
    EXPECT_EQ(check("DNS:m*.dane.test", {"mx.dane.test"}), Failure::name_mismatch);  // partial wildcard
}

TEST_F(dane_names, EitherReferenceIdentifierAndCaseInsensitive) {
    EXPECT_EQ(check("DNS:MX.Dane.Test", {"mx.dane.test"}), Failure::none);
    EXPECT_EQ(check("DNS:mx.dane.test", {"target.other.test", "mx.dane.test"}), Failure::none);
    EXPECT_EQ(check("DNS:target.other.test", {"target.other.test", "mx.dane.test"}), Failure::none);
    EXPECT_EQ(check("DNS:mail.dane.test", {"target.other.test", "mx.dane.test"}), Failure::name_mismatch);
}

}  // namespace
