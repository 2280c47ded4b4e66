// tests/unit/signer/key_test.cpp — loading keys from bytes, key records, generation.
#include "signer/key.hpp"

#include <botan/auto_rng.h>
#include <botan/base64.h>
#include <botan/pem.h>
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace signpost::signer;
using signer_test::key;
using signer_test::key_pem;

TEST(KeyLoad, RsaAndEd25519Pkcs8) {
    auto rsa = load_private_key_pem(key_pem("rsa-2048.pem"));
    ASSERT_TRUE(rsa) << rsa.error().message();
    EXPECT_EQ(rsa->type(), KeyType::rsa);
    EXPECT_EQ(rsa->bits(), 2048u);
    EXPECT_EQ(rsa->algorithm(), Algorithm::rsa_sha256);

    auto big = load_private_key_pem(key_pem("rsa-4096.pem"));
    ASSERT_TRUE(big);
    EXPECT_EQ(big->bits(), 4096u);

    auto small = load_private_key_pem(key_pem("rsa-1024.pem"));  // loads; sign() refuses it
    ASSERT_TRUE(small);
    EXPECT_EQ(small->bits(), 1024u);

    auto ed = load_private_key_pem(key_pem("ed25519.pem"));
    ASSERT_TRUE(ed) << ed.error().message();
    EXPECT_EQ(ed->type(), KeyType::ed25519);
    EXPECT_EQ(ed->algorithm(), Algorithm::ed25519_sha256);
}

TEST(KeyLoad, DerWithoutPemArmour) {
    std::string label;
    const auto der = Botan::PEM_Code::decode(key_pem("ed25519.pem"), label);
    ASSERT_EQ(label, "PRIVATE KEY");
    auto k = load_private_key_pem(
        std::string_view(reinterpret_cast<const char*>(der.data()), der.size()));
    ASSERT_TRUE(k) << k.error().message();
    EXPECT_EQ(k->dns_record(), key("ed25519.pem").dns_record());
}

TEST(KeyLoad, RefusalsAreErrorValues) {
    struct Case {
        std::string pem;
        Errc want;
    };
    std::string corrupt_b64 = key_pem("rsa-2048.pem");
    corrupt_b64[40] = '*';  // not base64
    std::string truncated =
        key_pem("rsa-2048.pem").substr(0, 600) + "\n-----END PRIVATE KEY-----\n";
    const Case cases[] = {
        {key_pem("rsa-512.pem"), Errc::key_too_small},
        {key_pem("rsa-5120.pem"), Errc::key_too_large},
        {key_pem("ec-p256.pem"), Errc::key_type_unsupported},
        {key_pem("rsa-2048-encrypted.pem"), Errc::key_encrypted},
        {"", Errc::pem_corrupt},
        {"not a key at all", Errc::pem_corrupt},
        {"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", Errc::pem_corrupt},
        {corrupt_b64, Errc::pem_corrupt},
        {truncated, Errc::pem_corrupt},
        {"-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n",
         Errc::pem_corrupt},
    };
    for (const auto& c : cases) {
        auto r = load_private_key_pem(c.pem);
        ASSERT_FALSE(r) << c.pem.substr(0, 60);
        EXPECT_EQ(r.error(), c.want) << c.pem.substr(0, 60) << " -> " << r.error().message();
    }
}

TEST(KeyLoad, Ed25519Seed) {
    // RFC 8032 §7.1 TEST 1 (also RFC 8463's key).
    auto k = load_ed25519_seed("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=");
    ASSERT_TRUE(k);
    EXPECT_EQ(k->public_key_base64(), "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    EXPECT_EQ(k->dns_record(),
              "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    // Whitespace around and inside is tolerated (files end with a newline).
    EXPECT_TRUE(load_ed25519_seed(" nWGxne/9WmC6hEr0kuwsxERJ\nxWl7MmkZcDusAxyuf2A=\n"));
    // Padding is optional in DKIM's base64 grammar (RFC 6376 §2.10 base64string).
    EXPECT_TRUE(load_ed25519_seed("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"));
    for (const char* bad : {"", "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyu",  // 30 octets
                            "!!!!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
        auto r = load_ed25519_seed(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error(), Errc::bad_ed25519_seed) << bad;
    }
}

TEST(KeyRecordText, RsaIsSpkiAndMatches) {
    const auto& k = key("rsa-2048.pem");
    const std::string rec = k.dns_record();
    ASSERT_TRUE(rec.starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"))
        << rec;  // SubjectPublicKeyInfo DER of a 2048-bit RSA key
    auto parsed = parse_key_record(rec);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->type, KeyType::rsa);
    EXPECT_TRUE(record_matches(*parsed, k));
    EXPECT_FALSE(record_matches(*parsed, key("rsa-2048-other.pem")));
    EXPECT_FALSE(record_matches(*parsed, key("ed25519.pem")));

    auto ed = parse_key_record(key("ed25519.pem").dns_record());
    ASSERT_TRUE(ed);
    EXPECT_EQ(ed->type, KeyType::ed25519);
    EXPECT_EQ(ed->public_key.size(), 32u);
    EXPECT_TRUE(record_matches(*ed, key("ed25519.pem")));
}

TEST(KeyRecordText, PemRoundTrip) {
    for (const char* name : {"rsa-2048.pem", "ed25519.pem"}) {
        const auto& k = key(name);
        auto pem = k.to_pem();
        ASSERT_TRUE(pem) << name;
        EXPECT_TRUE(pem->starts_with("-----BEGIN PRIVATE KEY-----")) << name;
        auto again = load_private_key_pem(*pem);
        ASSERT_TRUE(again) << name;
        EXPECT_EQ(again->dns_record(), k.dns_record()) << name;
    }
}

TEST(KeyRecordParse, Table) {
    const std::string p = "MCowBQYDK2VwAyEA";  // any base64
    auto ok = parse_key_record("v=DKIM1; k=ed25519; h=sha1:sha256; s=email; t=y:s; p=" + p);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->type, KeyType::ed25519);
    EXPECT_TRUE(ok->testing);
    EXPECT_TRUE(ok->strict);
    EXPECT_FALSE(ok->revoked());

    auto defaults = parse_key_record("p=" + p);  // no v=, k= defaults to rsa
    ASSERT_TRUE(defaults);
    EXPECT_EQ(defaults->type, KeyType::rsa);
    EXPECT_FALSE(defaults->testing);
    EXPECT_FALSE(defaults->strict);

    auto revoked = parse_key_record("v=DKIM1; k=rsa; p=");
    ASSERT_TRUE(revoked);
    EXPECT_TRUE(revoked->revoked());

    auto folded = parse_key_record("v=DKIM1; p=MCow BQYD\tK2Vw AyEA; n=notes; x=unknown");
    ASSERT_TRUE(folded);
    EXPECT_EQ(folded->public_key.size(), 12u);

    EXPECT_TRUE(parse_key_record("v=DKIM1; s=*; p=" + p));
    EXPECT_TRUE(parse_key_record("v=DKIM1; t=x:y; p=" + p));  // unknown flags ignored

    struct Case {
        std::string txt;
        Errc want;
    };
    const Case cases[] = {
        {"k=rsa; v=DKIM1; p=" + p, Errc::key_record_syntax},  // v= must be first
        {"v=DKIM1; p=" + p + "; p=" + p, Errc::key_record_syntax},
        {"v=DKIM1 p=x", Errc::key_record_version},  // "=" is a VALCHAR: v is "DKIM1 p=x"
        {"v=DKIM1; p", Errc::key_record_syntax},
        {"v=DKIM2; p=" + p, Errc::key_record_version},
        {"v=DKIM1; k=rsa", Errc::key_record_no_key},
        {"v=DKIM1; p=not*base64", Errc::key_record_bad_key},
        {"v=DKIM1; k=dsa; p=" + p, Errc::key_record_type_unsupported},
        {"v=DKIM1; h=sha1; p=" + p, Errc::key_record_hash_unsupported},
        {"v=DKIM1; s=tlsrpt; p=" + p, Errc::key_record_service_unsupported},
    };
    for (const auto& c : cases) {
        auto r = parse_key_record(c.txt);
        ASSERT_FALSE(r) << c.txt;
        EXPECT_EQ(r.error(), c.want) << c.txt;
    }
}

TEST(KeyRecordParse, PublicKeyLoading) {
    KeyRecord wrong_size{KeyType::ed25519, std::vector<std::uint8_t>(31, 1), false, false};
    EXPECT_FALSE(load_public_key(wrong_size));
    KeyRecord garbage{KeyType::rsa, std::vector<std::uint8_t>(100, 7), false, false};
    EXPECT_FALSE(load_public_key(garbage));
    KeyRecord revoked{KeyType::rsa, {}, false, false};
    EXPECT_FALSE(load_public_key(revoked));
    auto rsa = load_public_key(*parse_key_record(key("rsa-4096.pem").dns_record()));
    ASSERT_TRUE(rsa);
    EXPECT_EQ(rsa->bits(), 4096u);
}

TEST(KeyGenerate, Ed25519AndRsaSizes) {
    Botan::AutoSeeded_RNG rng;
    auto ed = generate_ed25519_key(rng);
    ASSERT_TRUE(ed);
    EXPECT_EQ(ed->type(), KeyType::ed25519);
    auto rec = parse_key_record(ed->dns_record());
    ASSERT_TRUE(rec);
    EXPECT_TRUE(record_matches(*rec, *ed));

    auto small = generate_rsa_key(rng, 1024);
    ASSERT_FALSE(small);
    EXPECT_EQ(small.error(), Errc::key_too_small);
    auto large = generate_rsa_key(rng, 8192);
    ASSERT_FALSE(large);
    EXPECT_EQ(large.error(), Errc::key_too_large);

    auto rsa = generate_rsa_key(rng);  // 2048 by default (one real generation, ~0.1-1 s)
    ASSERT_TRUE(rsa);
    EXPECT_EQ(rsa->bits(), 2048u);
}

// dkim_sign() reuses Botan signers through a pool shared by a key's copies. Reuse must not
// change a single signature byte (both algorithms are deterministic), must be safe from
// many threads at once, and the pooled signers must not outlive the key they refer to.
TEST(KeySign, PooledSignersGiveIdenticalSignaturesAcrossCopiesAndThreads) {
    const std::string input = "from:a@example.com\r\nsubject:pool\r\ndkim-signature:v=1; b=";
    for (const char* name : {"rsa-2048.pem", "ed25519.pem"}) {
        auto loaded = load_private_key_pem(key_pem(name));
        ASSERT_TRUE(loaded) << name;
        const auto first = dkim_sign(*loaded, input);
        ASSERT_TRUE(first) << name;
        auto pub = load_public_key(*parse_key_record(loaded->dns_record()));
        ASSERT_TRUE(pub) << name;
        EXPECT_TRUE(dkim_verify(*pub, input, *first)) << name;

        std::atomic<int> bad{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([copy = *loaded, &input, &first, &bad] {
                for (int i = 0; i < 15; ++i) {
                    const auto sig = dkim_sign(copy, input);
                    if (!sig || *sig != *first) ++bad;
                }
            });
        }
        for (auto& th : threads) th.join();
        EXPECT_EQ(bad.load(), 0) << name;
        // Back on one thread, after the pool has grown.
        const auto again = dkim_sign(*loaded, input);
        ASSERT_TRUE(again) << name;
        EXPECT_EQ(*again, *first) << name;
        EXPECT_NE(dkim_sign(*loaded, input + "x").value(), *first) << name;
    }
}

TEST(KeySign, PooledSignersLiveAsLongAsTheLastCopy) {
    for (const char* name : {"rsa-2048.pem", "ed25519.pem"}) {
        std::optional<PrivateKey> survivor;
        std::vector<std::uint8_t> before;
        {
            auto original = load_private_key_pem(key_pem(name));
            ASSERT_TRUE(original) << name;
            before = dkim_sign(*original, "input").value();  // leaves a signer in the pool
            survivor = *original;
        }  // the original is gone; its pool is not
        const auto after = dkim_sign(*survivor, "input");
        ASSERT_TRUE(after) << name;
        EXPECT_EQ(*after, before) << name;
        // A fresh key with a signer in its pool, overwritten: its only reference to that
        // key and pool goes, and both are freed (in either order, safely: sanitizers watch).
        const char* other_name = name == std::string("ed25519.pem") ? "rsa-2048.pem" : name;
        PrivateKey other = load_private_key_pem(key_pem(other_name)).value();
        ASSERT_TRUE(dkim_sign(other, "input")) << other_name;
        other = *survivor;
        survivor.reset();
        EXPECT_EQ(dkim_sign(other, "input").value(), before) << name;
    }
}

TEST(Errors, EveryValueHasAMessage) {
    EXPECT_STREQ(error_category().name(), "signpost.signer");
    for (int v = static_cast<int>(Errc::header_no_colon);
         v <= static_cast<int>(Errc::key_record_service_unsupported); ++v) {
        const auto msg = make_error_code(static_cast<Errc>(v)).message();
        EXPECT_FALSE(msg.empty());
        EXPECT_EQ(msg.find("unknown signer error"), std::string::npos) << v;
    }
}

}  // namespace
