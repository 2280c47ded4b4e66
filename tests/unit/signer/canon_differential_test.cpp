// tests/unit/signer/canon_differential_test.cpp — randomized differential test of the
// streaming BodyCanonicalizer (which passes runs of unchanged octets through in bulk, 16 at
// a time where SSE2 is available) against a deliberately plain reference implementation of
// RFC 6376 §3.4.3 (simple) and §3.4.4 (relaxed, with the errata for WSP that ends the body)
// written here, line by line in the RFC's own steps.
//
// Inputs: seeded random octet strings biased towards SP, HTAB, CR and LF (plus text-like
// bodies with long runs, to cross the 16-octet blocks and the 4 KiB output buffer), fed in
// random chunk splits (0-octet chunks included). The canonical octets themselves are
// compared, not only their hash; the BodyHasher's hash, lengths and l= prefix too.
#include <botan/base64.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "signer/canon.hpp"

namespace {

using namespace signpost::signer;

// --- the reference ------------------------------------------------------------------------

bool wsp(char c) { return c == ' ' || c == '\t'; }

// Splits at CRLF only (a lone CR or LF is data). The last element is what follows the last
// CRLF: the partial last line, empty if the body ends in CRLF (or is empty).
std::vector<std::string> split_crlf(const std::string& body) {
    std::vector<std::string> parts;
    std::string cur;
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') {
            parts.push_back(cur);
            cur.clear();
            ++i;
        } else {
            cur += body[i];
        }
    }
    parts.push_back(cur);
    return parts;
}

// §3.4.4 a and b for one line: WSP at its end removed, other WSP runs become one SP.
std::string relax_line(const std::string& line) {
    std::string end_trimmed = line;
    while (!end_trimmed.empty() && wsp(end_trimmed.back())) end_trimmed.pop_back();
    std::string out;
    for (std::size_t i = 0; i < end_trimmed.size(); ++i) {
        if (wsp(end_trimmed[i])) {
            if (i == 0 || !wsp(end_trimmed[i - 1])) out += ' ';
        } else {
            out += end_trimmed[i];
        }
    }
    return out;
}

bool ends_with_two_crlf(const std::string& s) {
    return s.size() >= 4 && s.compare(s.size() - 4, 4, "\r\n\r\n") == 0;
}

std::string reference_simple(const std::string& body) {
    // §3.4.3: a body without a final CRLF (the empty body included) gets one; then all
    // empty lines at the end are ignored.
    std::string out = body;
    if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
    while (ends_with_two_crlf(out)) out.resize(out.size() - 2);
    return out;
}

std::string reference_relaxed(const std::string& body) {
    const std::vector<std::string> parts = split_crlf(body);
    std::string out;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) out += relax_line(parts[i]) + "\r\n";
    // The text after the last CRLF is a line too: its trailing WSP goes (errata), and if
    // anything is left it gets the CRLF a non-empty body must end with.
    const std::string last = relax_line(parts.back());
    if (!last.empty()) out += last + "\r\n";
    // §3.4.4 c: ignore all empty lines at the end; a body of empty lines only is empty.
    while (ends_with_two_crlf(out)) out.resize(out.size() - 2);
    if (out == "\r\n") out.clear();
    return out;
}

std::string reference(const std::string& body, Canonicalization c) {
    return c == Canonicalization::simple ? reference_simple(body) : reference_relaxed(body);
}

// --- the code under test ------------------------------------------------------------------

class CollectSink final : public ByteSink {
public:
    void write(std::string_view bytes) override { out.append(bytes); }
    std::string out;
};

// Canonicalizes `body` fed in chunks of the given sizes (cycled; 0 = an empty chunk).
std::string streamed(const std::string& body, Canonicalization c,
                     const std::vector<std::size_t>& sizes) {
    BodyCanonicalizer canon(c);
    CollectSink sink;
    std::size_t pos = 0;
    for (std::size_t i = 0; pos < body.size(); ++i) {
        const std::size_t n = std::min(sizes[i % sizes.size()], body.size() - pos);
        canon.update(std::string_view(body).substr(pos, n), sink);
        pos += n;
    }
    canon.update({}, sink);
    canon.finish(sink);
    return sink.out;
}

std::string sha256_b64(std::string_view s) {
    Botan::SHA_256 sha;
    sha.update(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    return Botan::base64_encode(sha.final());
}

// --- inputs -------------------------------------------------------------------------------

using Rng = std::mt19937_64;

std::size_t uniform(Rng& rng, std::size_t lo, std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
}

// One octet, mostly SP/HTAB/CR/LF; the rest letters, NUL and 8-bit octets.
char biased_octet(Rng& rng) {
    static constexpr char alphabet[] = {' ', ' ', ' ',  ' ',    '\t',   '\t',   '\r', '\r',
                                        '\r', '\n', '\n', 'a',    'b',    'x',    'q',  '\0',
                                        '\xe9', '\xff', '.',  '\r'};
    return alphabet[uniform(rng, 0, sizeof(alphabet) - 1)];
}

std::string random_octets(Rng& rng, std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        if (uniform(rng, 0, 5) == 0) {
            s += "\r\n";  // real line ends, often
        } else {
            s += biased_octet(rng);
        }
    }
    return s;
}

// Text-like: runs of ordinary octets (sometimes longer than the 4 KiB output buffer)
// between separators that exercise every rule.
std::string text_like(Rng& rng) {
    static const std::vector<std::string> separators = {
        " ",     " ",     "  ",   "\t",     " \t ",   "\r\n", "\r\n", "\r\n\r\n",
        " \r\n", "\t\r\n", "\r",  "\n",     "\r\n ",  "\r\n\t\r\n", " \r",  "\r\r\n",
        "\r\n \r\n \r\n", " \n", "\r\n\r\n\r\n",
    };
    std::string s;
    const std::size_t pieces = uniform(rng, 0, 60);
    for (std::size_t i = 0; i < pieces; ++i) {
        if (uniform(rng, 0, 80) == 0) {
            // A long run (past the output buffer), filled in bulk: "bcd...zab..." from a
            // random letter.
            const std::size_t run = uniform(rng, 1000, 6000);
            const std::size_t from = uniform(rng, 0, 25);
            for (std::size_t k = 0; k < run; ++k) s += static_cast<char>('a' + (from + k) % 26);
        } else {
            const std::size_t run = uniform(rng, 0, 90);
            for (std::size_t k = 0; k < run; ++k) s += static_cast<char>('a' + uniform(rng, 0, 25));
        }
        s += separators[uniform(rng, 0, separators.size() - 1)];
    }
    return s;
}

std::string random_body(Rng& rng) {
    std::string body;
    switch (uniform(rng, 0, 3)) {
    case 0: body = random_octets(rng, uniform(rng, 0, 24)); break;
    case 1: body = random_octets(rng, uniform(rng, 0, 300)); break;
    default: body = text_like(rng); break;
    }
    switch (uniform(rng, 0, 4)) {  // endings: the trailing-line rules live there
    case 0: body += "\r\n\r\n\r\n"; break;
    case 1: body += "\r\n \r\n\t \r\n"; break;
    case 2: body += random_octets(rng, uniform(rng, 1, 6)); break;
    default: break;
    }
    return body;
}

// Chunk sizes for one feed: 1-octet, tiny, mixed with empty chunks, or large.
std::vector<std::size_t> random_sizes(Rng& rng) {
    std::vector<std::size_t> sizes;
    const std::size_t kind = uniform(rng, 0, 3);
    const std::size_t count = uniform(rng, 1, 12);
    for (std::size_t i = 0; i < count; ++i) {
        switch (kind) {
        case 0: sizes.push_back(1); break;
        case 1: sizes.push_back(uniform(rng, 0, 5)); break;
        case 2: sizes.push_back(uniform(rng, 0, 40)); break;
        default: sizes.push_back(uniform(rng, 0, 9000)); break;
        }
    }
    sizes[0] = std::max<std::size_t>(sizes[0], 1);  // progress is guaranteed
    return sizes;
}

// --- tests --------------------------------------------------------------------------------

TEST(CanonDifferential, ReferenceAgreesWithTheRfcExamples) {
    // RFC 6376 §3.4.5 examples, to pin the reference itself down.
    const std::string body = " C \r\nD \t E\r\n\r\n\r\n";
    EXPECT_EQ(reference_relaxed(body), " C\r\nD E\r\n");
    EXPECT_EQ(reference_simple(body), " C \r\nD \t E\r\n");
    EXPECT_EQ(reference_simple(""), "\r\n");
    EXPECT_EQ(reference_relaxed(""), "");
    EXPECT_EQ(reference_relaxed(" \r\n\t"), "");
    EXPECT_EQ(reference_relaxed("a \r"), "a \r\r\n");  // a lone CR is data
}

TEST(CanonDifferential, RandomBodiesAndRandomSplits) {
    Rng rng(0x6376'8463);
    constexpr int cases = 6000;
    for (int iter = 0; iter < cases; ++iter) {
        const std::string body = random_body(rng);
        for (auto c : {Canonicalization::simple, Canonicalization::relaxed}) {
            const std::string want = reference(body, c);
            ASSERT_EQ(canonicalize_body(body, c), want)
                << "case " << iter << " " << to_string(c) << " "
                << ::testing::PrintToString(body);
            const auto sizes = random_sizes(rng);
            ASSERT_EQ(streamed(body, c, sizes), want)
                << "case " << iter << " " << to_string(c) << " chunks of "
                << ::testing::PrintToString(sizes) << " " << ::testing::PrintToString(body);

            // The hasher over another split: hash and lengths; sometimes an l= prefix.
            const auto sizes2 = random_sizes(rng);
            std::optional<std::uint64_t> limit;
            if (uniform(rng, 0, 3) == 0) limit = uniform(rng, 0, want.size() + 2);
            BodyHasher hasher(c, limit);
            std::size_t pos = 0;
            for (std::size_t i = 0; pos < body.size(); ++i) {
                const std::size_t n = std::min(sizes2[i % sizes2.size()], body.size() - pos);
                hasher.update(std::string_view(body).substr(pos, n));
                pos += n;
            }
            const BodyHash h = hasher.finish();
            const std::size_t hashed =
                limit ? static_cast<std::size_t>(std::min<std::uint64_t>(*limit, want.size()))
                      : want.size();
            ASSERT_EQ(h.base64(), sha256_b64(std::string_view(want).substr(0, hashed)))
                << "case " << iter << " " << to_string(c);
            ASSERT_EQ(h.length, hashed);
            ASSERT_EQ(h.canonical_length, want.size());
        }
    }
}

TEST(CanonDifferential, EveryPositionInsideA16OctetBlock) {
    // Each stop octet (and pattern) at every offset of a 40-octet line, so it falls at each
    // position of a 16-octet block, right before and after a block's end, and at the end
    // of a chunk; then cut into two chunks at every point.
    const std::string line = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN";
    const std::vector<std::string> patterns = {
        " ", "\t", "\r", "\n", "  ", " \t", " \r", " \r\n", "\r\n", "\r\n ", "\r\n\r\n",
        "\r\nz", " \n", "\r\r\n",
    };
    for (const auto& pat : patterns) {
        for (std::size_t at = 0; at <= line.size(); ++at) {
            const std::string body = line.substr(0, at) + pat + line.substr(at) + "\r\n" + line;
            for (auto c : {Canonicalization::simple, Canonicalization::relaxed}) {
                const std::string want = reference(body, c);
                ASSERT_EQ(canonicalize_body(body, c), want)
                    << to_string(c) << " " << ::testing::PrintToString(body);
                for (std::size_t cut = 0; cut <= body.size(); ++cut) {
                    ASSERT_EQ(streamed(body, c, {cut == 0 ? body.size() : cut, body.size()}), want)
                        << to_string(c) << " cut " << cut << " " << ::testing::PrintToString(body);
                }
            }
        }
    }
}

}  // namespace
