// keys/keygen.hpp — DKIM private key generation and crash-safe key files.
//
// Generates RSA (2048/3072/4096 bits) and Ed25519 private keys with Botan and encodes
// them as PEM PKCS#8, the form `signpost dkim sign --key` and the key store read.
// write_file_atomic is the one way key material reaches the disk: temp file in the same
// directory, fsync, rename, fsync of the directory, so a crash leaves the old file or the
// new one, never a torn one.
//
// Untrusted input: none (the algorithm is a typed value).
// Threading: reentrant; RSA generation takes ~100 ms-1 s of CPU, keep it off I/O threads.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "config/config.hpp"

namespace signpost::keys {

// A new private key for `algorithm` as PEM PKCS#8 ("-----BEGIN PRIVATE KEY-----").
std::string generate_private_key_pem(config::DkimAlgorithm algorithm);

// Writes `data` to `path` with `mode` atomically and durably (see above).
std::error_code write_file_atomic(const std::filesystem::path& path, std::string_view data,
                                  unsigned mode);

}  // namespace signpost::keys
