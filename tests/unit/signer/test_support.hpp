// tests/unit/signer/test_support.hpp — shared fixtures for the signer unit tests: the
// TEST-ONLY keys under tests/data/dkim-vectors/keys (loaded once per process, so no test
// pays for RSA key generation), a fixed clock, a map-backed key lookup, sample messages.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "signer/key.hpp"
#include "signer/sign.hpp"
#include "signer/verify.hpp"

namespace signer_test {

std::string read_test_file(const std::string& relative);           // under tests/data/
std::string key_pem(const std::string& name);                      // dkim-vectors/keys/<name>
const signpost::signer::PrivateKey& key(const std::string& name);  // loaded once; must load

// 2023-11-14T22:13:20Z.
inline std::chrono::system_clock::time_point fixed_now() {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
}

// "selector/domain" -> TXT record text.
signpost::signer::KeyLookup lookup_from(std::map<std::string, std::string> records);

// A plain message with CRLF line ends.
std::string sample_message();

// Records for "ed" and "rsa" at example.com, from the test keys ed25519.pem / rsa-2048.pem.
std::map<std::string, std::string> sample_records();

// The chunk sizes the streaming comparisons use; 0 means the whole body in one piece.
inline constexpr std::size_t stream_chunk_sizes[] = {1, 2, 7, 64, 4096, 0};

// `message` through signer::StreamVerifier: the header section of split_message(), then the
// body in `chunk`-octet pieces (0: whole; also an empty chunk first and last), then finish().
signpost::signer::Result<std::vector<signpost::signer::SignatureResult>> verify_streamed(
    std::string_view message, const signpost::signer::KeyLookup& lookup,
    std::chrono::system_clock::time_point now, std::size_t chunk,
    const signpost::signer::VerifyOptions& options = {});

// Expects every field of every result equal (status, reason, detail, d, s, a, i, key_bits,
// testing); `what` names the comparison in failure messages.
void expect_same_results(const std::vector<signpost::signer::SignatureResult>& want,
                         const std::vector<signpost::signer::SignatureResult>& got,
                         const std::string& what);

// verify(), and checks that StreamVerifier agrees for every size of stream_chunk_sizes:
// the same results (expect_same_results) or the same error, the same key lookups in the
// same order, each listed by keys_needed(). The streaming runs replay the answers verify()
// got, so `lookup` is called exactly as by verify() alone. Returns verify()'s result.
signpost::signer::Result<std::vector<signpost::signer::SignatureResult>> verify_both(
    std::string_view message, const signpost::signer::KeyLookup& lookup,
    std::chrono::system_clock::time_point now, const signpost::signer::VerifyOptions& options = {});

}  // namespace signer_test
