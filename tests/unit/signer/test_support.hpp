// tests/unit/signer/test_support.hpp — shared fixtures for the signer unit tests: the
// TEST-ONLY keys under tests/data/dkim-vectors/keys (loaded once per process, so no test
// pays for RSA key generation), a fixed clock, a map-backed key lookup, sample messages.
#pragma once

#include <chrono>
#include <map>
#include <string>

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

}  // namespace signer_test
