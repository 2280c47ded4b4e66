// signer/canon.hpp — DKIM canonicalization (RFC 6376 §3.4) and the streaming body hash.
//
// What it does:
//  - canonicalize_header(): one header field in "simple" (§3.4.1: unchanged, with its CRLF)
//    or "relaxed" (§3.4.2: name lowercased, unfolded, WSP runs to one SP, WSP around the
//    colon and at the ends removed, then ":" value CRLF) form.
//  - BodyCanonicalizer: the body algorithms (§3.4.3 simple, §3.4.4 relaxed) as a byte-stream
//    state machine. Chunks may split anywhere (inside a CRLF, a WSP run, a run of empty
//    lines); the output is the same as canonicalizing the whole body at once.
//  - BodyHasher: SHA-256 over the canonical body fed in chunks, giving bh= (§3.7). This is
//    the relay's ingest path: every DATA chunk goes to the spool file and to a BodyHasher.
//    Memory is constant in the body size: the only state held back is a count of pending
//    CRLFs, one pending WSP flag and one pending CR flag — never body bytes.
//    Speed: while nothing is held back, runs of octets that the algorithm passes through
//    unchanged (simple: up to a CR; relaxed: up to a CR, an HTAB, or an SP that starts a
//    run of WSP or precedes a CR; in both, a CRLF followed by an octet that makes the next
//    line non-empty) are found in bulk and written in one piece. Only the octets that stop
//    a run go through the octet-by-octet state machine.
//
// Exact rules implemented (RFC 6376 and its errata):
//  - simple body: trailing empty lines removed; if the body is empty or does not end in CRLF,
//    a CRLF is added. So an empty body is "\r\n" (2 octets).
//  - relaxed body: WSP (SP, HTAB) at the end of a line removed, other WSP runs become one SP,
//    trailing empty lines removed, a non-empty body that does not end in CRLF gets one.
//    An empty body (or one of empty/blank lines only) is "" (0 octets).
//  - Only CRLF ends a line. A lone CR or LF is an ordinary octet (the relay guarantees CRLF
//    line ends, so they only appear in hostile or broken input; they are hashed as data).
//    Consequence: WSP before a lone CR is not "at the end of a line".
//  - A body that ends in WSP without a final CRLF: that WSP ends the last line, so relaxed
//    removes it (" " alone canonicalizes to "").
//  - length limit (l=, §3.4.5) is supported for verification only: a BodyHasher built with
//    a limit hashes the first `limit` canonical octets. The signer never emits l=.
//
// Untrusted input: body bytes, header fields (already split by signer/header.hpp).
// Threading: free functions are reentrant; a BodyCanonicalizer/BodyHasher object is used by
// one thread at a time (no internal locking).
#pragma once

#include <botan/sha2_32.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "signer/header.hpp"

namespace signpost::signer {

enum class Canonicalization { simple, relaxed };

// "simple" / "relaxed".
std::string_view to_string(Canonicalization c) noexcept;

// Parses one algorithm name ("simple", "relaxed"; ASCII case-insensitive).
std::optional<Canonicalization> parse_canonicalization(std::string_view s) noexcept;

// Appends the canonical form of one header field, including the final CRLF.
void canonicalize_header(const HeaderField& field, Canonicalization c, std::string& out);
std::string canonicalize_header(const HeaderField& field, Canonicalization c);

// Receives canonical body octets from a BodyCanonicalizer.
class ByteSink {
public:
    virtual void write(std::string_view bytes) = 0;

protected:
    ~ByteSink() = default;
};

class BodyCanonicalizer {
public:
    explicit BodyCanonicalizer(Canonicalization c) noexcept : canon_(c) {}

    // Feeds the next chunk; writes out what is decided so far. Any chunk size, including 0.
    void update(std::string_view chunk, ByteSink& sink);
    // Ends the body; writes the held-back tail. Call once; the object is then spent.
    void finish(ByteSink& sink);

private:
    bool nothing_pending() const noexcept {
        return !pending_cr_ && !pending_wsp_ && pending_crlfs_ == 0;
    }
    void put(char c, ByteSink& sink);
    void put(std::string_view s, ByteSink& sink);
    void put_run(std::string_view run, ByteSink& sink);  // octets that pass through unchanged
    void flush_pending(ByteSink& sink);  // emit held-back CRLFs, WSP, CR as data
    void drain(ByteSink& sink);          // hand the output buffer to the sink

    Canonicalization canon_;
    std::uint64_t pending_crlfs_ = 0;  // complete CRLFs not yet known to be non-trailing
    bool pending_wsp_ = false;         // relaxed: a WSP run not yet known to be mid-line
    bool pending_cr_ = false;          // a CR whose LF may arrive in the next chunk
    bool emitted_any_ = false;         // relaxed: any octet written (body non-empty)
    std::array<char, 4096> buf_;       // not zeroed: only the first buf_len_ octets are valid
    std::size_t buf_len_ = 0;
};

// One-shot body canonicalization (tests, small bodies).
std::string canonicalize_body(std::string_view body, Canonicalization c);

// The finished hash of one canonical body: what goes in bh=.
struct BodyHash {
    Canonicalization canon = Canonicalization::relaxed;
    std::array<std::uint8_t, 32> sha256{};
    std::uint64_t length = 0;            // canonical octets hashed (after any limit)
    std::uint64_t canonical_length = 0;  // canonical octets in the whole body

    std::string base64() const;  // the bh= value
};

class BodyHasher {
public:
    // `limit`: hash only the first `limit` canonical octets (l=, verification only).
    explicit BodyHasher(Canonicalization c, std::optional<std::uint64_t> limit = std::nullopt);

    void update(std::string_view chunk);  // any chunk size
    BodyHash finish();                    // call once

    Canonicalization canonicalization() const noexcept { return canon_; }

private:
    class Sink final : public ByteSink {
    public:
        explicit Sink(std::optional<std::uint64_t> limit) : limit_(limit) {}
        void write(std::string_view bytes) override;
        Botan::SHA_256 sha;
        std::uint64_t hashed = 0;
        std::uint64_t total = 0;

    private:
        std::optional<std::uint64_t> limit_;
    };

    Canonicalization canon_;
    BodyCanonicalizer canonicalizer_;
    Sink sink_;
};

// Convenience: hash a whole body at once.
BodyHash hash_body(std::string_view body, Canonicalization c,
                   std::optional<std::uint64_t> limit = std::nullopt);

}  // namespace signpost::signer
