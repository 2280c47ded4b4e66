// tests/fuzz/dkim/fuzz_dkim_verify.cpp — libFuzzer target for the DKIM verifier, verify()
// (signer/verify.hpp), as `signpost dkim verify` runs it on anyone's mail: the input is a whole
// message; key records come from a fixed map (no DNS) and the time is fixed.
// Covers: signer/verify.cpp signer/header.cpp signer/tag_list.cpp signer/canon.cpp signer/key.cpp signer/sign.cpp
//
// Key records (selector/domain): brisbane/football.example.com and test/football.example.com are
// RFC 8463 Appendix A.2's; ed25519/example.test and rsa2048/example.test are the dkim-corpus test
// records (tests/data/dkim-corpus/records); at example.test also revoked (p= empty), testing
// (t=y), strict (t=s), sha1only (h=sha1), badkey (p= not a key), v2 (v=DKIM2), rsa512 (a 512-bit
// RSA key, tests/data/dkim-vectors/keys/rsa-512.pem); selector "temp"
// at any domain is a temporary lookup failure; everything else does not exist. Now is
// 2023-11-14T22:13:20Z (1700000000).
// Invariants:
//   - verify() fails exactly when the header section does not parse, with the same error;
//     otherwise there is one result per DKIM-Signature field, in order;
//   - each result is a verdict: pass with reason none and no detail; temperror only for a
//     failed lookup; fail only for body_length_exceeded, body_hash_mismatch, signature_mismatch;
//     permerror for every other reason; the detail is non-empty printable ASCII otherwise;
//     results past max_signatures are too_many_signatures and cost no lookup; the lookup runs
//     at most once per checked signature; a pass names a record of the map and a loaded key;
//   - round trip: any input whose header parses and has a From field, signed by sign_message()
//     with the RFC 8463 Ed25519 key (c= chosen by the input length), verifies: the new first
//     result is pass.
// Seeds: corpus/fuzz_dkim_verify/ (RFC 8463 Appendix A.3 signed message, the same with each
// tag or record changed to reach every FailReason, messages from tests/data/dkim-corpus).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "signer/canon.hpp"
#include "signer/header.hpp"
#include "signer/key.hpp"
#include "signer/sign.hpp"
#include "signer/verify.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::signer;

// RFC 8463 Appendix A.1: the Ed25519 seed (RFC 8032 §7.1 TEST 1).
constexpr std::string_view kEd25519Seed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
constexpr std::string_view kRfc8463Ed = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
constexpr std::string_view kRfc8463Rsa =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"
    "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+"
    "2kryOTIKT+l/K4w3QIDAQAB";
constexpr std::string_view kTestEdKey = "p=vYth5mitgi3rFnAohZ3J6qufDx7oGaJp5Uc59OMXEpc=";
constexpr std::string_view kTestRsa =
    "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA4oYfcromJQirnqqHUvd/Qe96MKtzGYnv7nYpK7bQDqW3X4diVd"
    "NWi78aRcuvEdTbbqNZym9KGWy37hGQ8qu9eNHw5X3ZmQIbIXGioFZhFMl/C8+kPvR8thMmHvxaznaTfJNPBXoNomMWBoCldnu0QMMZZ683n4FI6KV6"
    "bbZeIlzcJTStV33Ix1XxVMynUujisXKaXxt+tsqLGX11lnktqhABRxVHfiKJBY9z8oZnRIvxM0dvdDlLtb4cdCnvtc/GTHZFO9vcsM3/zmvt8LuN0"
    "4e++Wv4AF4wKyMEQXfbDMxK/K1F+vwrfWgx51rjsT1MPbnl9X8yAPOZzPye0pXtjQIDAQAB";

const std::map<std::string, std::string>& records() {
    static const auto* r = new std::map<std::string, std::string>{
        {"brisbane/football.example.com", std::string(kRfc8463Ed)},
        {"test/football.example.com", std::string(kRfc8463Rsa)},
        {"ed25519/example.test", "v=DKIM1; k=ed25519; " + std::string(kTestEdKey)},
        {"rsa2048/example.test", std::string(kTestRsa)},
        {"revoked/example.test", "v=DKIM1; k=rsa; p="},
        {"testing/example.test", "v=DKIM1; k=ed25519; t=y; " + std::string(kTestEdKey)},
        {"strict/example.test", "v=DKIM1; k=ed25519; t=s; " + std::string(kTestEdKey)},
        {"sha1only/example.test", "v=DKIM1; h=sha1; " + std::string(kTestEdKey)},
        {"badkey/example.test", "v=DKIM1; k=rsa; p=AAAA"},
        {"v2/example.test", "v=DKIM2; " + std::string(kTestEdKey)},
        // tests/data/dkim-vectors/keys/rsa-512.pem: under RFC 8301's 1024 bits.
        {"rsa512/example.test",
         "v=DKIM1; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBANcvrtCfOf7aBLhqVssZ72pHd1glOLd/XZu8vlF6wPss73BFXOTIi1qTkXF"
         "uPaQ2KMzkG1wAd49E1UjUyKaIzb8CAwEAAQ=="},
    };
    return *r;
}

std::string lowered(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

struct Lookup {
    std::size_t calls = 0;
    LookupResult operator()(std::string_view selector, std::string_view domain) {
        ++calls;
        if (selector == "temp") return LookupResult::temp_error();
        const auto it = records().find(std::string(selector) + "/" + lowered(domain));
        return it == records().end() ? LookupResult::not_found() : LookupResult::found(it->second);
    }
};

const PrivateKey& signing_key() {
    // Never freed: key.hpp forbids keys with static storage duration.
    static const PrivateKey* k = [] {
        auto key = load_ed25519_seed(kEd25519Seed);
        CHECK(key);
        return new PrivateKey(*key);
    }();
    return *k;
}

std::chrono::system_clock::time_point now() {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
}

void check_result(const SignatureResult& r, std::size_t index, const VerifyOptions& options) {
    using R = FailReason;
    switch (r.status) {
        case VerifyStatus::pass:
            CHECK(r.reason == R::none && r.detail.empty() && r.passed());
            CHECK(records().count(r.s + "/" + lowered(r.d)) == 1 && r.key_bits > 0);
            break;
        case VerifyStatus::temperror:
            CHECK(r.reason == R::key_temp_error);
            break;
        case VerifyStatus::fail:
            CHECK(r.reason == R::body_length_exceeded || r.reason == R::body_hash_mismatch ||
                  r.reason == R::signature_mismatch);
            CHECK(r.key_bits > 0);
            break;
        case VerifyStatus::permerror:
            CHECK(r.reason != R::none && r.reason != R::key_temp_error && r.reason != R::body_length_exceeded &&
                  r.reason != R::body_hash_mismatch && r.reason != R::signature_mismatch);
            break;
        default:
            CHECK(false);
    }
    CHECK(!to_string(r.status).empty() && to_string(r.reason) != "unknown");
    CHECK((r.reason == R::too_many_signatures) == (index >= options.max_signatures));
    if (r.status != VerifyStatus::pass) {
        CHECK(!r.detail.empty());
        for (char c : r.detail) CHECK(c >= 0x20 && c < 0x7f);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 64 * 1024) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const VerifyOptions options;

    Lookup lookup;
    const KeyLookup fn = [&lookup](std::string_view s, std::string_view d) { return lookup(s, d); };
    const auto results = verify(in, fn, now(), options);
    const auto fields = parse_header_block(split_message(in).header);
    if (!fields) {
        CHECK(!results && results.error() == fields.error() && lookup.calls == 0);
        return 0;
    }
    CHECK(results.has_value());
    std::size_t signatures = 0;
    bool has_from = false;
    for (const HeaderField& f : *fields) {
        signatures += header_name_equals(f.name, "DKIM-Signature") ? 1 : 0;
        has_from = has_from || header_name_equals(f.name, "From");
    }
    CHECK(results->size() == signatures);
    CHECK(lookup.calls <= std::min(signatures, options.max_signatures));
    for (std::size_t i = 0; i < results->size(); ++i) check_result((*results)[i], i, options);

    // Round trip: what Signpost signs, Signpost verifies.
    if (!has_from) return 0;
    SignParams params;
    params.d = "football.example.com";
    params.header_canon = (size & 1) != 0 ? Canonicalization::relaxed : Canonicalization::simple;
    params.body_canon = (size & 2) != 0 ? Canonicalization::relaxed : Canonicalization::simple;
    const SigningKey key{"brisbane", signing_key()};
    const auto signature = sign_message(in, {&key, 1}, params, now());
    CHECK(signature && signature->size() == 1);
    const std::string signed_message = signature->front() + std::string(in);
    Lookup again;
    const KeyLookup fn2 = [&again](std::string_view s, std::string_view d) { return again(s, d); };
    const auto checked = verify(signed_message, fn2, now(), options);
    CHECK(checked && checked->size() == signatures + 1);
    CHECK(checked->front().passed() && checked->front().key_bits == 256);
    return 0;
}
