// signer/canon.cpp — RFC 6376 §3.4 canonicalization and the streaming body hash.
#include "signer/canon.hpp"

#include <botan/base64.h>

#include <algorithm>

namespace signpost::signer {
namespace {

bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }

char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

class StringSink final : public ByteSink {
public:
    explicit StringSink(std::string& out) : out_(out) {}
    void write(std::string_view bytes) override { out_.append(bytes); }

private:
    std::string& out_;
};

}  // namespace

std::string_view to_string(Canonicalization c) noexcept {
    return c == Canonicalization::simple ? "simple" : "relaxed";
}

std::optional<Canonicalization> parse_canonicalization(std::string_view s) noexcept {
    if (header_name_equals(s, "simple")) return Canonicalization::simple;
    if (header_name_equals(s, "relaxed")) return Canonicalization::relaxed;
    return std::nullopt;
}

void canonicalize_header(const HeaderField& field, Canonicalization c, std::string& out) {
    if (c == Canonicalization::simple) {
        out.append(field.raw);  // §3.4.1: no change at all
        return;
    }
    // §3.4.2: lowercase the name; unfold (CRLF removed, the WSP after it stays and joins the
    // run); WSP runs become one SP; WSP at the start and end of the value removed; no WSP
    // around the colon (the name was already cut before any WSP preceding the colon).
    for (char ch : field.name) out.push_back(ascii_lower(ch));
    out.push_back(':');
    bool pending_space = false;
    bool any = false;
    for (char ch : field.value) {
        if (ch == '\r' || ch == '\n') continue;
        if (is_wsp(ch)) {
            pending_space = any;
            continue;
        }
        if (pending_space) out.push_back(' ');
        pending_space = false;
        out.push_back(ch);
        any = true;
    }
    out.append("\r\n");
}

std::string canonicalize_header(const HeaderField& field, Canonicalization c) {
    std::string out;
    canonicalize_header(field, c, out);
    return out;
}

// --- body ------------------------------------------------------------------------------

void BodyCanonicalizer::drain(ByteSink& sink) {
    if (buf_len_ == 0) return;
    sink.write(std::string_view(buf_.data(), buf_len_));
    buf_len_ = 0;
}

void BodyCanonicalizer::put(char c, ByteSink& sink) {
    if (buf_len_ == buf_.size()) drain(sink);
    buf_[buf_len_++] = c;
    emitted_any_ = true;
}

void BodyCanonicalizer::put(std::string_view s, ByteSink& sink) {
    for (char c : s) put(c, sink);
}

void BodyCanonicalizer::flush_pending(ByteSink& sink) {
    // Order is the order the octets arrived in: CRLFs end earlier lines, then a WSP run
    // began the current line's tail, then a CR came after that WSP.
    for (; pending_crlfs_ > 0; --pending_crlfs_) put("\r\n", sink);
    if (pending_wsp_) put(' ', sink);
    pending_wsp_ = false;
    if (pending_cr_) put('\r', sink);
    pending_cr_ = false;
}

void BodyCanonicalizer::update(std::string_view chunk, ByteSink& sink) {
    const bool relaxed = canon_ == Canonicalization::relaxed;
    for (char c : chunk) {
        if (pending_cr_) {
            if (c == '\n') {
                // A line ends: WSP before it is end-of-line WSP (relaxed drops it); the CRLF
                // itself is held back until something shows it is not trailing.
                pending_cr_ = false;
                pending_wsp_ = false;
                ++pending_crlfs_;
                continue;
            }
            flush_pending(sink);  // the held CR was a lone CR: ordinary data
        }
        if (c == '\r') {
            pending_cr_ = true;
            continue;
        }
        if (relaxed && is_wsp(c)) {
            pending_wsp_ = true;
            continue;
        }
        flush_pending(sink);
        put(c, sink);
    }
    drain(sink);
}

void BodyCanonicalizer::finish(ByteSink& sink) {
    if (pending_cr_) flush_pending(sink);  // a lone CR ending the body is data
    pending_wsp_ = false;                  // WSP ending the body ends its last line
    pending_crlfs_ = 0;                    // trailing empty lines are ignored (both)
    if (canon_ == Canonicalization::simple) {
        put("\r\n", sink);  // empty body -> CRLF; otherwise the last line's (or an added) CRLF
    } else if (emitted_any_) {
        put("\r\n", sink);  // non-empty body ends with exactly one CRLF
    }
    drain(sink);
}

std::string canonicalize_body(std::string_view body, Canonicalization c) {
    std::string out;
    StringSink sink(out);
    BodyCanonicalizer canon(c);
    canon.update(body, sink);
    canon.finish(sink);
    return out;
}

std::string BodyHash::base64() const { return Botan::base64_encode(sha256.data(), sha256.size()); }

void BodyHasher::Sink::write(std::string_view bytes) {
    total += bytes.size();
    std::size_t take = bytes.size();
    if (limit_) take = static_cast<std::size_t>(std::min<std::uint64_t>(take, *limit_ - hashed));
    if (take == 0) return;
    sha.update(reinterpret_cast<const std::uint8_t*>(bytes.data()), take);
    hashed += take;
}

BodyHasher::BodyHasher(Canonicalization c, std::optional<std::uint64_t> limit)
    : canon_(c), canonicalizer_(c), sink_(limit) {}

void BodyHasher::update(std::string_view chunk) { canonicalizer_.update(chunk, sink_); }

BodyHash BodyHasher::finish() {
    canonicalizer_.finish(sink_);
    BodyHash out;
    out.canon = canon_;
    sink_.sha.final(out.sha256.data());
    out.length = sink_.hashed;
    out.canonical_length = sink_.total;
    return out;
}

BodyHash hash_body(std::string_view body, Canonicalization c, std::optional<std::uint64_t> limit) {
    BodyHasher hasher(c, limit);
    hasher.update(body);
    return hasher.finish();
}

}  // namespace signpost::signer
