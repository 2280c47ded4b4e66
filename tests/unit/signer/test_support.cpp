// tests/unit/signer/test_support.cpp — see test_support.hpp.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace signer_test {

using namespace signpost::signer;

std::string read_test_file(const std::string& relative) {
    const std::string path = std::string(SIGNPOST_TEST_DATA_DIR) + "/" + relative;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string key_pem(const std::string& name) { return read_test_file("dkim-vectors/keys/" + name); }

const PrivateKey& key(const std::string& name) {
    static std::mutex mu;
    // Deliberately never destroyed: Botan's secure-memory pool is a static that may be
    // destroyed before a static of ours, and freeing key memory after it crashes at exit.
    static auto* cache = new std::map<std::string, std::unique_ptr<PrivateKey>>();
    std::lock_guard lock(mu);
    auto& slot = (*cache)[name];
    if (!slot) {
        auto loaded = load_private_key_pem(key_pem(name));
        if (!loaded) throw std::runtime_error(name + ": " + loaded.error().message());
        slot = std::make_unique<PrivateKey>(*loaded);
    }
    return *slot;
}

KeyLookup lookup_from(std::map<std::string, std::string> records) {
    return [records = std::move(records)](std::string_view s, std::string_view d) {
        const auto it = records.find(std::string(s) + "/" + std::string(d));
        if (it == records.end()) return LookupResult::not_found();
        return LookupResult::found(it->second);
    };
}

std::string sample_message() {
    return "From: Alice Example <alice@example.com>\r\n"
           "To: Bob <bob@example.org>\r\n"
           "Subject: Lunch on\r\n"
           "  Thursday?\r\n"
           "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
           "Message-ID: <abc123@example.com>\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "X-Mailer: test\r\n"
           "\r\n"
           "Hi Bob,\r\n"
           "\r\n"
           "Shall we  meet at noon?\t \r\n"
           "\r\n"
           "-- \r\n"
           "Alice\r\n"
           "\r\n"
           "\r\n";
}

std::map<std::string, std::string> sample_records() {
    return {{"ed/example.com", key("ed25519.pem").dns_record()},
            {"rsa/example.com", key("rsa-2048.pem").dns_record()}};
}

}  // namespace signer_test
