// tests/unit/signer/chunking_test.cpp — the streaming body hash equals the one-shot hash
// whatever the chunk boundaries (random splits, 1-octet chunks, splits inside CRLF and
// inside runs of trailing empty lines and WSP), for both canonicalizations; and the
// streaming canonicalizer equals an independent line-based reference implementation of
// RFC 6376 §3.4.3/§3.4.4.
#include <botan/base64.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "signer/canon.hpp"

namespace {

using namespace signpost::signer;

// Reference: split at CRLF into complete lines plus a final partial line, apply the rules
// per line, drop trailing empty lines, then re-join. Written independently of the state
// machine, in the RFC's own terms.
std::string reference(const std::string& body, Canonicalization c) {
    std::vector<std::string> lines;
    std::size_t pos = 0;
    while (true) {
        const auto crlf = body.find("\r\n", pos);
        if (crlf == std::string::npos) break;
        lines.push_back(body.substr(pos, crlf - pos));
        pos = crlf + 2;
    }
    std::string partial = body.substr(pos);
    if (c == Canonicalization::relaxed) {
        auto relax = [](const std::string& line) {
            std::string out;
            bool wsp = false;
            for (char ch : line) {
                if (ch == ' ' || ch == '\t') {
                    wsp = true;
                    continue;
                }
                if (wsp) out += ' ';
                wsp = false;
                out += ch;
            }
            return out;  // a WSP run at the end is dropped: "WSP at end of line removed"
        };
        for (auto& l : lines) l = relax(l);
        partial = relax(partial);
    }
    if (!partial.empty()) {
        lines.push_back(partial);  // the CRLF that a body without a final CRLF gets
    } else {
        while (!lines.empty() && lines.back().empty()) lines.pop_back();
    }
    std::string out;
    for (const auto& l : lines) out += l + "\r\n";
    if (out.empty() && c == Canonicalization::simple) out = "\r\n";
    return out;
}

std::string sha256_b64(const std::string& s) {
    Botan::SHA_256 sha;
    sha.update(s);
    return Botan::base64_encode(sha.final());
}

std::string streamed(const std::string& body, Canonicalization c,
                     const std::vector<std::size_t>& sizes) {
    BodyHasher h(c);
    std::size_t pos = 0;
    for (std::size_t i = 0; pos < body.size(); ++i) {
        const std::size_t n = std::min(sizes[i % sizes.size()], body.size() - pos);
        h.update(std::string_view(body).substr(pos, n));
        pos += n;
    }
    h.update("");  // empty chunks are harmless
    return h.finish().base64();
}

// Bodies over a small alphabet that stresses the state machine: WSP, CR, LF, CRLF, text.
std::string random_body(std::mt19937& rng) {
    static const std::vector<std::string> atoms = {
        "a", "b", " ", "\t", "\r\n", "\r\n", "\r\n", "\r", "\n", "  ", "\r\n\r\n", "xyz",
    };
    std::uniform_int_distribution<std::size_t> len(0, 40);
    std::uniform_int_distribution<std::size_t> pick(0, atoms.size() - 1);
    std::string body;
    const std::size_t n = len(rng);
    for (std::size_t i = 0; i < n; ++i) body += atoms[pick(rng)];
    // Often end with a run of trailing empty / blank lines.
    std::uniform_int_distribution<int> tail(0, 3);
    switch (tail(rng)) {
    case 0: break;
    case 1: body += "\r\n\r\n\r\n"; break;
    case 2: body += "\r\n \r\n\t\r\n\r\n"; break;
    case 3: body += " \t "; break;
    }
    return body;
}

TEST(Chunking, CanonicalizerMatchesReference) {
    std::mt19937 rng(6376);
    for (int iter = 0; iter < 3000; ++iter) {
        const std::string body = random_body(rng);
        for (auto c : {Canonicalization::simple, Canonicalization::relaxed}) {
            ASSERT_EQ(canonicalize_body(body, c), reference(body, c))
                << to_string(c) << " " << ::testing::PrintToString(body);
        }
    }
}

TEST(Chunking, RandomSplitsGiveTheOneShotHash) {
    std::mt19937 rng(8463);
    std::uniform_int_distribution<std::size_t> chunk(0, 7);
    for (int iter = 0; iter < 1500; ++iter) {
        const std::string body = random_body(rng);
        for (auto c : {Canonicalization::simple, Canonicalization::relaxed}) {
            const std::string whole = hash_body(body, c).base64();
            ASSERT_EQ(whole, sha256_b64(reference(body, c)));
            ASSERT_EQ(streamed(body, c, {1}), whole) << ::testing::PrintToString(body);
            std::vector<std::size_t> sizes;
            for (int k = 0; k < 16; ++k) sizes.push_back(chunk(rng) + (k == 0 ? 1 : 0));
            ASSERT_EQ(streamed(body, c, sizes), whole) << ::testing::PrintToString(body);
        }
    }
}

TEST(Chunking, EverySplitPointOfCraftedBodies) {
    const std::vector<std::string> bodies = {
        "line one\r\nline two  \r\n\r\n\r\n",
        "a\r\n\r\n\r\n\r\nb\r\n\r\n",
        "tail blanks\r\n \t \r\n\t\r\n   \r\n",
        "a\r\r\n\r\n",
        "ends with cr\r",
        "ws before cr \rx\r\n",
        "\r\n\r\n",
        "",
    };
    for (const auto& body : bodies) {
        for (auto c : {Canonicalization::simple, Canonicalization::relaxed}) {
            const std::string whole = hash_body(body, c).base64();
            // Two chunks, split at every position (inside each CRLF and each blank run).
            for (std::size_t cut = 0; cut <= body.size(); ++cut) {
                BodyHasher h(c);
                h.update(std::string_view(body).substr(0, cut));
                h.update(std::string_view(body).substr(cut));
                ASSERT_EQ(h.finish().base64(), whole)
                    << to_string(c) << " cut " << cut << " " << ::testing::PrintToString(body);
            }
        }
    }
}

TEST(Chunking, LargeBodyInOddChunks) {
    std::string body;
    for (int i = 0; i < 20000; ++i) body += (i % 7 == 0) ? "\r\n" : "word \t ";
    body += "\r\n\r\n\r\n";
    for (auto c : {Canonicalization::simple, Canonicalization::relaxed}) {
        const std::string whole = hash_body(body, c).base64();
        EXPECT_EQ(streamed(body, c, {4093, 1, 2, 8191}), whole);
        EXPECT_EQ(whole, sha256_b64(reference(body, c)));
    }
}

}  // namespace
