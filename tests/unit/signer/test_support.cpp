// tests/unit/signer/test_support.cpp — see test_support.hpp.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "signer/header.hpp"

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

namespace {

// Feeds `body` in `chunk`-octet pieces (0: whole), with an empty chunk before and after.
void feed(StreamVerifier& v, std::string_view body, std::size_t chunk) {
    v.body({});
    const std::size_t step = chunk == 0 ? std::max<std::size_t>(body.size(), 1) : chunk;
    for (std::size_t pos = 0; pos < body.size(); pos += step) v.body(body.substr(pos, step));
    v.body({});
}

}  // namespace

Result<std::vector<SignatureResult>> verify_streamed(std::string_view message,
                                                     const KeyLookup& lookup,
                                                     std::chrono::system_clock::time_point now,
                                                     std::size_t chunk,
                                                     const VerifyOptions& options) {
    const MessageParts parts = split_message(message);
    StreamVerifier v(std::string(parts.header), options);
    feed(v, parts.body, chunk);
    return v.finish(lookup, now);
}

void expect_same_results(const std::vector<SignatureResult>& want,
                         const std::vector<SignatureResult>& got, const std::string& what) {
    ASSERT_EQ(want.size(), got.size()) << what;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const SignatureResult& w = want[i];
        const SignatureResult& g = got[i];
        const std::string at = what + ", signature " + std::to_string(i);
        EXPECT_EQ(to_string(w.status), to_string(g.status)) << at;
        EXPECT_EQ(to_string(w.reason), to_string(g.reason)) << at << ": " << g.detail;
        EXPECT_EQ(w.detail, g.detail) << at;
        EXPECT_EQ(w.d, g.d) << at;
        EXPECT_EQ(w.s, g.s) << at;
        EXPECT_EQ(w.a, g.a) << at;
        EXPECT_EQ(w.i, g.i) << at;
        EXPECT_EQ(w.key_bits, g.key_bits) << at;
        EXPECT_EQ(w.testing, g.testing) << at;
    }
}

namespace {

struct Asked {
    std::string s;
    std::string d;
    LookupResult answer;
};

}  // namespace

Result<std::vector<SignatureResult>> verify_both(std::string_view message,
                                                 const KeyLookup& lookup,
                                                 std::chrono::system_clock::time_point now,
                                                 const VerifyOptions& options) {
    std::vector<Asked> asked;
    const KeyLookup recording = [&](std::string_view s, std::string_view d) {
        LookupResult answer = lookup(s, d);
        asked.push_back({std::string(s), std::string(d), answer});
        return answer;
    };
    auto whole = verify(message, recording, now, options);

    for (const std::size_t chunk : stream_chunk_sizes) {
        const std::string what = chunk == 0 ? std::string("streamed whole")
                                            : "streamed in chunks of " + std::to_string(chunk);
        const MessageParts parts = split_message(message);
        StreamVerifier v(std::string(parts.header), options);
        const auto keys = v.keys_needed();
        std::size_t next = 0;
        const KeyLookup replay = [&](std::string_view s, std::string_view d) {
            EXPECT_TRUE(std::find(keys.begin(), keys.end(),
                                  std::pair{std::string(s), std::string(d)}) != keys.end())
                << what << ": " << s << "/" << d << " not in keys_needed()";
            EXPECT_LT(next, asked.size()) << what << ": more lookups than verify() made";
            if (next >= asked.size()) return LookupResult::not_found();
            const Asked& a = asked[next++];
            EXPECT_EQ(a.s, s) << what << ": lookup " << next;
            EXPECT_EQ(a.d, d) << what << ": lookup " << next;
            return a.answer;
        };
        feed(v, parts.body, chunk);
        auto streamed = v.finish(replay, now);
        EXPECT_EQ(next, asked.size()) << what << ": fewer lookups than verify() made";
        EXPECT_EQ(bool(whole), bool(streamed)) << what;
        if (!whole && !streamed) {
            EXPECT_EQ(whole.error(), streamed.error()) << what;
            EXPECT_TRUE(keys.empty()) << what;
        }
        if (whole && streamed) expect_same_results(*whole, *streamed, what);
    }
    return whole;
}

}  // namespace signer_test
