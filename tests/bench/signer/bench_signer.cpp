// tests/bench/signer/bench_signer.cpp — throughput of the DKIM signer (signer/) next to the
// raw Botan and OpenSSL primitives it is built from, measured in the same run.
//
// The question it answers (the goal): does signing a 4 KB message cost no more than
// 1.2x the raw primitive, i.e. one private-key operation plus SHA-256 over the message's
// bytes? Every signer row prints its time beside that reference, computed from the raw
// rows of the same run, and the ratio; 4 KB rows also print the goal and PASS/MISS.
//
// What is timed (see tests/bench/README.md for each row):
//  - raw.*: Botan RSA-2048 EMSA3(SHA-256) and Ed25519 "Pure" signatures, with a long-lived
//    PK_Signer (the primitive) and with a PK_Signer built per call exactly as
//    signer/key.cpp dkim_sign() does; OpenSSL EVP_DigestSign for both; SHA-256 (Botan,
//    OpenSSL) over 1 MiB buffers.
//  - sign_message.*: signpost::signer::sign_message() on a whole message in memory.
//  - stream64k.*: the relay's flow, BodyHasher fed 64 KiB chunks, then sign().
//  - sign_only.*: sign() with the body hash already computed (the header-side cost).
//  - body_hash.*: BodyHasher MB/s for relaxed and simple body canonicalization, on the
//    4k message's text body and the 1m message's (mostly base64) body.
//
// Before timing anything, a self-check proves the work is real and equivalent: the streaming
// and one-shot flows give identical fields, every signature verifies with signer/verify, and
// Botan and OpenSSL produce the same signature bytes with the same key (both algorithms are
// deterministic). A failed check exits 1; a MISS does not fail the run (the machine is noisy
// and this binary is also the "bench-smoke" ctest).
//
// Keys: the TEST-ONLY keys in tests/data/dkim-vectors/keys (no key generation cost, same
// key on every run), or fresh ones with --generate-keys.

#include <botan/auto_rng.h>
#include <botan/base64.h>
#include <botan/hash.h>
#include <botan/pubkey.h>
#include <botan/sha2_32.h>
#include <botan/system_rng.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"
#include "openssl_ref.hpp"
#include "signer/canon.hpp"
#include "signer/header.hpp"
#include "signer/key.hpp"
#include "signer/sign.hpp"
#include "signer/verify.hpp"

namespace sg = signpost::signer;

namespace {

constexpr std::size_t chunk_size = 64 * 1024;        // the streaming flow's chunk
constexpr std::size_t sha_buffer_size = 1024 * 1024;  // raw SHA-256 rows hash this much
constexpr std::string_view rsa_emsa = "EMSA3(SHA-256)";  // as signer/key.cpp
constexpr std::string_view ed25519_mode = "Pure";        // as signer/key.cpp

// 2023-11-14T22:13:20Z: a fixed signing time, so signatures are reproducible.
const std::chrono::system_clock::time_point signing_time{std::chrono::seconds(1700000000)};

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "bench_signer: %s\n", what.c_str());
    std::exit(1);
}

template <class T>
T must(sg::Result<T> r, const char* what) {
    if (!r) die(std::string(what) + ": " + r.error().message());
    return std::move(*r);
}

std::span<const std::uint8_t> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// --- test messages ------------------------------------------------------------------------

// Deterministic pseudo-random numbers (no RNG state shared with the crypto).
class Lcg {
public:
    std::uint32_t next() {
        state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::uint32_t>(state_ >> 33);
    }

private:
    std::uint64_t state_ = 0x5167'6e70'6f73'7421ULL;
};

constexpr std::string_view words[] = {
    "the",     "report",  "numbers", "quarter", "board", "meeting", "please", "review",
    "attached", "budget", "for",     "and",     "with",  "team",    "next",   "week",
    "project", "status",  "update",  "we",      "have",  "a",       "new",    "plan",
    "customer", "delivery", "schedule", "thanks", "regards", "server", "mail", "of",
};

std::string headers(std::string_view content_type) {
    std::string h;
    h += "From: Alice Example <alice@example.com>\r\n";
    h += "To: Bob Recipient <bob@example.net>, Carol Other <carol@example.org>\r\n";
    h += "Cc: team-leads@example.com\r\n";
    h += "Subject: Quarterly report: the numbers for the board meeting next Tuesday\r\n";
    h += "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n";
    h += "Message-ID: <20231114221320.4711.7f3a9c@mail.example.com>\r\n";
    h += "In-Reply-To: <20231110090000.1234.aa01@mail.example.net>\r\n";
    h += "References: <20231109080000.1111.bb02@mail.example.net>\r\n"
         "\t<20231110090000.1234.aa01@mail.example.net>\r\n";
    h += "MIME-Version: 1.0\r\n";
    h += "Content-Type: " + std::string(content_type) + "\r\n";
    h += "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Thunderbird/115.4.1\r\n";
    h += "Content-Language: en-US\r\n";
    return h;
}

// Text lines of up to ~72 characters, paragraphs of 5 lines; now and then two spaces or a
// trailing space (what relaxed canonicalization exists for).
std::string text_body(std::size_t target, Lcg& rng) {
    std::string body;
    int line_no = 0;
    while (body.size() < target) {
        std::string line;
        while (line.size() < 64) {
            if (!line.empty()) line += (rng.next() % 17 == 0) ? "  " : " ";
            line += words[rng.next() % std::size(words)];
        }
        if (rng.next() % 11 == 0) line += ' ';
        body += line + "\r\n";
        if (++line_no % 5 == 0) body += "\r\n";
    }
    return body;
}

// A plain-text message with a ~4 KiB body.
std::string message_4k() {
    Lcg rng;
    return headers("text/plain; charset=\"utf-8\"; format=flowed") +
           "Content-Transfer-Encoding: 8bit\r\n\r\n" + text_body(4096, rng);
}

// A ~1 MiB multipart message: a short text part and a base64 attachment (76-column lines),
// the shape of most large mail.
std::string message_1m() {
    Lcg rng;
    const std::string boundary = "------------sgnpst0123456789abcdef";
    std::string m = headers("multipart/mixed; boundary=\"" + boundary + "\"") + "\r\n";
    m += "This is a multi-part message in MIME format.\r\n";
    m += "--" + boundary + "\r\n";
    m += "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n";
    m += text_body(1024, rng);
    m += "--" + boundary + "\r\n";
    m += "Content-Type: application/pdf; name=\"report-q3.pdf\"\r\n";
    m += "Content-Disposition: attachment; filename=\"report-q3.pdf\"\r\n";
    m += "Content-Transfer-Encoding: base64\r\n\r\n";
    const std::size_t target = 1024 * 1024 - 200;
    std::vector<std::uint8_t> raw(57 * 1024);  // 57 octets -> one 76-character line
    while (m.size() < target) {
        for (auto& b : raw) b = static_cast<std::uint8_t>(rng.next());
        const std::string b64 = Botan::base64_encode(raw.data(), raw.size());
        for (std::size_t i = 0; i < b64.size() && m.size() < target; i += 76) {
            m.append(b64, i, 76);
            m += "\r\n";
        }
    }
    m += "--" + boundary + "--\r\n";
    return m;
}

// --- keys ---------------------------------------------------------------------------------

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) die("cannot read " + path + " (use --generate-keys)");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct BenchKey {
    sg::SigningKey signing;
    std::string pem;  // the same key for OpenSSL
};

BenchKey load_key(const std::string& dir, const std::string& file, std::string selector) {
    std::string pem = read_file(dir + "/" + file);
    auto key = must(sg::load_private_key_pem(pem), file.c_str());
    return {sg::SigningKey{std::move(selector), std::move(key)}, std::move(pem)};
}

BenchKey generated_key(sg::Result<sg::PrivateKey> r, std::string selector) {
    auto key = must(std::move(r), "key generation");
    std::string pem = must(key.to_pem(), "to_pem");
    return {sg::SigningKey{std::move(selector), std::move(key)}, std::move(pem)};
}

// --- the flows being measured ---------------------------------------------------------------

sg::SignParams params() {
    sg::SignParams p;
    p.d = "example.com";
    p.header_canon = sg::Canonicalization::relaxed;
    p.body_canon = sg::Canonicalization::relaxed;
    return p;
}

std::vector<std::string> sign_streaming(std::string_view message, const sg::SigningKey& key,
                                        const sg::SignParams& p) {
    // In the relay the header section is collected apart from the body chunks; here it is
    // found with split_message(), a scan of the header section only (cheap, and timed).
    const sg::MessageParts parts = sg::split_message(message);
    sg::BodyHasher hasher(p.body_canon);
    for (std::size_t off = 0; off < parts.body.size(); off += chunk_size) {
        hasher.update(parts.body.substr(off, chunk_size));
    }
    const sg::BodyHash bh = hasher.finish();
    return must(sg::sign(parts.header, {&bh, 1}, {&key, 1}, p, signing_time), "sign");
}

// --- self-check -----------------------------------------------------------------------------

void self_check(const std::vector<std::string>& messages, const std::vector<BenchKey>& keys) {
    const sg::SignParams p = params();
    for (const auto& m : messages) {
        for (const auto& k : keys) {
            const auto one_shot =
                must(sg::sign_message(m, {&k.signing, 1}, p, signing_time), "sign_message");
            const auto streamed = sign_streaming(m, k.signing, p);
            if (one_shot.size() != 1 || one_shot != streamed) {
                die("self-check failed: streaming and one-shot signatures differ");
            }
            const sg::KeyLookup lookup = [&](std::string_view s, std::string_view d) {
                if (s == k.signing.s && d == p.d) {
                    return sg::LookupResult::found(k.signing.key.dns_record());
                }
                return sg::LookupResult::not_found();
            };
            const auto results = must(sg::verify(one_shot[0] + m, lookup, signing_time), "verify");
            if (results.size() != 1 || !results[0].passed()) {
                die("self-check failed: signature does not verify (" +
                    std::string(results.empty() ? "none" : sg::to_string(results[0].reason)) + ")");
            }
        }
    }
    // Botan and OpenSSL sign the same bytes with the same key to the same signature.
    const std::string input(32, '\x5a');
    for (const auto& k : keys) {
        const std::string mode(k.signing.key.type() == sg::KeyType::rsa ? rsa_emsa : ed25519_mode);
        Botan::PK_Signer botan(k.signing.key.botan_key(), Botan::system_rng(), mode);
        const auto a = botan.sign_message(bytes_of(input).data(), input.size(), Botan::system_rng());
        bench::OsslSigner ossl(k.pem);
        const auto b = ossl.sign(bytes_of(input));
        if (std::vector<std::uint8_t>(a.begin(), a.end()) != b) {
            die("self-check failed: Botan and OpenSSL signatures differ for " +
                std::string(sg::to_string(k.signing.key.type())));
        }
    }
}

void usage() {
    std::printf(
        "usage: bench_signer [options]\n"
        "  --quick            ~50 ms per case (smoke run; numbers are rough)\n"
        "  --min-time SEC     time per case over all rounds (default 0.5)\n"
        "  --max-time SEC     cap per case (default 2)\n"
        "  --reps N           interleaved rounds = samples per case (default 7)\n"
        "  --iterations N     calls per sample at most (default 1000000; for profilers)\n"
        "  --filter TEXT      only rows whose name contains TEXT (and their references)\n"
        "  --no-refs          with --filter: measure the matching rows alone (profiling)\n"
        "  --generate-keys    fresh keys instead of tests/data/dkim-vectors/keys\n"
        "  --keys-dir DIR     where rsa-2048.pem and ed25519.pem are\n");
}

}  // namespace

int main(int argc, char** argv) {
    bench::Options opts;
    bool generate = false;
    std::string keys_dir = SIGNPOST_TEST_DATA_DIR "/dkim-vectors/keys";
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) die(std::string(a) + " needs a value");
            return argv[++i];
        };
        try {
            if (a == "--quick") {
                opts.min_time = 0.05;
                opts.max_time = 0.2;
                opts.reps = 5;
            } else if (a == "--min-time") {
                opts.min_time = std::stod(value());
            } else if (a == "--max-time") {
                opts.max_time = std::stod(value());
            } else if (a == "--reps") {
                opts.reps = std::stoi(value());
            } else if (a == "--iterations") {
                opts.max_iters = std::stoull(value());
            } else if (a == "--filter") {
                opts.filter = value();
            } else if (a == "--no-refs") {
                opts.with_refs = false;
            } else if (a == "--generate-keys") {
                generate = true;
            } else if (a == "--keys-dir") {
                keys_dir = value();
            } else if (a == "--help" || a == "-h") {
                usage();
                return 0;
            } else {
                std::fprintf(stderr, "bench_signer: unknown option %s\n", argv[i]);
                usage();
                return 2;
            }
        } catch (const std::logic_error&) {
            die("bad value for " + std::string(a));
        }
    }

    std::vector<BenchKey> keys;
    if (generate) {
        Botan::AutoSeeded_RNG rng;
        keys.push_back(generated_key(sg::generate_ed25519_key(rng), "ed"));
        keys.push_back(generated_key(sg::generate_rsa_key(rng, 2048), "rsa"));
    } else {
        keys.push_back(load_key(keys_dir, "ed25519.pem", "ed"));
        keys.push_back(load_key(keys_dir, "rsa-2048.pem", "rsa"));
    }
    const sg::SigningKey& ed = keys[0].signing;
    const sg::SigningKey& rsa = keys[1].signing;
    if (rsa.key.bits() != 2048) die("the RSA key must be 2048 bits");

    const std::vector<std::string> messages = {message_4k(), message_1m()};
    self_check(messages, keys);

    const sg::SignParams p = params();
    auto& sysrng = Botan::system_rng();

    // Raw primitive state, built once: the primitive is the signature, not the setup.
    const std::string digest(32, '\x42');  // what a private-key op signs: one SHA-256 output
    const std::uint8_t* dig = bytes_of(digest).data();
    Botan::PK_Signer botan_rsa(rsa.key.botan_key(), sysrng, std::string(rsa_emsa));
    Botan::PK_Signer botan_ed(ed.key.botan_key(), sysrng, std::string(ed25519_mode));
    bench::OsslSigner ossl_rsa(keys[1].pem);
    bench::OsslSigner ossl_ed(keys[0].pem);
    std::string sha_buffer(sha_buffer_size, '\0');
    {
        Lcg rng;
        for (auto& c : sha_buffer) c = static_cast<char>(rng.next());
    }
    Botan::SHA_256 botan_sha;

    bench::Suite suite(opts);
    using bench::Unit;
    auto* raw_b_rsa = suite.add("raw.botan.rsa2048.sign", 32, Unit::ops, [&] {
        bench::keep(botan_rsa.sign_message(dig, digest.size(), sysrng).size());
    });
    auto* raw_b_rsa_call = suite.add("raw.botan.rsa2048.sign.percall", 32, Unit::ops, [&] {
        // Exactly signer/key.cpp dkim_sign(): a PK_Signer per call.
        Botan::PK_Signer s(rsa.key.botan_key(), Botan::system_rng(), std::string(rsa_emsa));
        bench::keep(s.sign_message(dig, digest.size(), Botan::system_rng()).size());
    });
    auto* raw_o_rsa = suite.add("raw.openssl.rsa2048.sign", 32, Unit::ops,
                                [&] { bench::keep(ossl_rsa.sign(bytes_of(digest)).size()); });
    auto* raw_b_ed = suite.add("raw.botan.ed25519.sign", 32, Unit::ops, [&] {
        bench::keep(botan_ed.sign_message(dig, digest.size(), sysrng).size());
    });
    auto* raw_b_ed_call = suite.add("raw.botan.ed25519.sign.percall", 32, Unit::ops, [&] {
        // Exactly signer/key.cpp dkim_sign(): hash object and PK_Signer per call.
        auto sha = Botan::HashFunction::create_or_throw("SHA-256");
        sha->update(dig, digest.size());
        const auto d = sha->final();
        Botan::PK_Signer s(ed.key.botan_key(), Botan::system_rng(), std::string(ed25519_mode));
        bench::keep(s.sign_message(d, Botan::system_rng()).size());
    });
    auto* raw_o_ed = suite.add("raw.openssl.ed25519.sign", 32, Unit::ops,
                               [&] { bench::keep(ossl_ed.sign(bytes_of(digest)).size()); });
    auto* raw_b_sha = suite.add("raw.botan.sha256", sha_buffer_size, Unit::megabytes, [&] {
        botan_sha.update(bytes_of(sha_buffer).data(), sha_buffer.size());
        bench::keep(botan_sha.final()[0]);
    });
    auto* raw_o_sha = suite.add("raw.openssl.sha256", sha_buffer_size, Unit::megabytes,
                                [&] { bench::keep(bench::ossl_sha256(bytes_of(sha_buffer))[0]); });

    // Reference for signing `bytes` octets: one private-key op + SHA-256 over those octets.
    auto ref = [&](const bench::Case* priv, const bench::Case* sha, std::size_t bytes) {
        return bench::Reference{{priv, 1.0},
                                {sha, static_cast<double>(bytes) / sha_buffer_size}};
    };

    suite.heading("raw primitives (Botan is what the signer uses; ratios: vs the row named)");
    suite.row(raw_b_rsa, {}, {{raw_o_rsa, 1.0}});
    suite.row(raw_b_rsa_call, {{raw_b_rsa, 1.0}}, {{raw_o_rsa, 1.0}});
    suite.row(raw_o_rsa);
    suite.row(raw_b_ed, {}, {{raw_o_ed, 1.0}});
    suite.row(raw_b_ed_call, {{raw_b_ed, 1.0}}, {{raw_o_ed, 1.0}});
    suite.row(raw_o_ed);
    suite.row(raw_b_sha, {}, {{raw_o_sha, 1.0}});
    suite.row(raw_o_sha);

    struct Algo {
        std::string name;
        const sg::SigningKey* key;
        const bench::Case* botan_priv;
        const bench::Case* ossl_priv;
    };
    const std::vector<Algo> algos = {{"ed25519", &ed, raw_b_ed, raw_o_ed},
                                     {"rsa", &rsa, raw_b_rsa, raw_o_rsa}};
    const std::vector<std::string> size_names = {"4k", "1m"};

    for (std::size_t mi = 0; mi < messages.size(); ++mi) {
        const std::string& m = messages[mi];
        const std::string& size = size_names[mi];
        const sg::MessageParts parts = sg::split_message(m);
        const sg::BodyHash bh = sg::hash_body(parts.body, p.body_canon);
        const std::optional<double> goal = size == "4k" ? std::optional(1.2) : std::nullopt;
        suite.heading("signer, " + size + " message (" + std::to_string(m.size()) +
                      " bytes, relaxed/relaxed); ref = one private-key op + SHA-256 over the bytes");
        for (const Algo& a : algos) {
            const sg::SigningKey& key = *a.key;
            auto* one_shot = suite.add("sign_message." + a.name + "." + size, m.size(),
                                       Unit::messages, [&m, &key, &p] {
                                           auto r = sg::sign_message(m, {&key, 1}, p, signing_time);
                                           bench::keep(r ? r->front().size() : 0);
                                       });
            auto* streamed = suite.add("stream64k." + a.name + "." + size, m.size(),
                                       Unit::messages, [&m, &key, &p] {
                                           bench::keep(sign_streaming(m, key, p).front().size());
                                       });
            auto* only = suite.add("sign_only." + a.name + "." + size, parts.header.size(),
                                   Unit::messages, [parts, bh, &key, &p] {
                                       auto r = sg::sign(parts.header, {&bh, 1}, {&key, 1}, p,
                                                         signing_time);
                                       bench::keep(r ? r->front().size() : 0);
                                   });
            suite.row(one_shot, ref(a.botan_priv, raw_b_sha, m.size()),
                      ref(a.ossl_priv, raw_o_sha, m.size()), goal);
            suite.row(streamed, ref(a.botan_priv, raw_b_sha, m.size()),
                      ref(a.ossl_priv, raw_o_sha, m.size()), goal);
            suite.row(only, ref(a.botan_priv, raw_b_sha, parts.header.size()),
                      ref(a.ossl_priv, raw_o_sha, parts.header.size()));
        }
    }

    for (std::size_t mi = 0; mi < messages.size(); ++mi) {
        const std::string_view body = sg::split_message(messages[mi]).body;
        const std::string& size = size_names[mi];
        suite.heading("body hash, " + size + " message body (" + std::to_string(body.size()) +
                      " bytes, " + (mi == 0 ? "text" : "mostly base64") +
                      ", 64 KiB chunks); ref = SHA-256 over the same bytes");
        for (const auto canon : {sg::Canonicalization::relaxed, sg::Canonicalization::simple}) {
            auto* c = suite.add("body_hash." + std::string(sg::to_string(canon)) + "." + size,
                                body.size(), Unit::megabytes, [body, canon] {
                                    sg::BodyHasher h(canon);
                                    for (std::size_t off = 0; off < body.size(); off += chunk_size) {
                                        h.update(body.substr(off, chunk_size));
                                    }
                                    bench::keep(h.finish().sha256[0]);
                                });
            const double scale = static_cast<double>(body.size()) / sha_buffer_size;
            suite.row(c, {{raw_b_sha, scale}}, {{raw_o_sha, scale}});
        }
    }

    suite.run();
    if (!suite.report()) die("some rows have no measurement");
    return 0;
}
