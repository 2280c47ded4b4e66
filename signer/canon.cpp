// signer/canon.cpp — RFC 6376 §3.4 canonicalization and the streaming body hash.
#include "signer/canon.hpp"

#include <botan/base64.h>

#include <algorithm>
#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace signpost::signer {
namespace {

bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }

// SP, HTAB, CR or LF: one compare for the common case of a printable octet.
bool is_fws_octet(char c) noexcept {
    constexpr std::uint64_t set = (1ULL << ' ') | (1ULL << '\t') | (1ULL << '\r') | (1ULL << '\n');
    const auto u = static_cast<unsigned char>(c);
    return u <= ' ' && ((set >> u) & 1U) != 0;
}

// Relaxed body: an octet after which an SP cannot pass through as is (it starts or
// continues a WSP run, or it may end the line).
bool relaxed_special(char c) noexcept { return c == ' ' || c == '\t' || c == '\r'; }

// Runs longer than this skip the output buffer and go to the sink directly.
constexpr std::size_t direct_write_min = 1024;

// The end of the run of octets at [p, end) that simple body canonicalization (§3.4.3)
// passes through unchanged, given that nothing is held back before p: everything up to a
// CR, and a CRLF too when the next line has an octet that is not CR (so the CRLF cannot
// be among the trailing empty lines). Returns the first octet the state machine must see.
const char* simple_run_end(const char* p, const char* end) noexcept {
    while (p != end) {
        const void* cr = std::memchr(p, '\r', static_cast<std::size_t>(end - p));
        if (cr == nullptr) return end;
        const char* q = static_cast<const char*>(cr);
        if (end - q >= 3 && q[1] == '\n' && q[2] != '\r') {
            p = q + 2;  // "CRLF x": this line ends, the next one is not empty
            continue;
        }
        return q;
    }
    return end;
}

// The same for relaxed (§3.4.4): an octet passes unless it is a CR, an HTAB, or an SP
// followed by SP, HTAB or CR (a WSP run to shrink, or WSP that may end the line) or by the
// end of the chunk (not known yet). A single SP between other octets stays one SP. A CRLF
// passes when the next line starts with an octet that is not SP, HTAB or CR: that line is
// not empty after relaxing, so the CRLF is not trailing. (No WSP precedes such a CR: an SP
// before a CR stops the run first, and nothing is held back where the run starts.)
const char* relaxed_run_end(const char* p, const char* end) noexcept {
    auto crlf_passes = [end](const char* q) {
        return end - q >= 3 && q[1] == '\n' && !relaxed_special(q[2]);
    };
#if defined(__SSE2__)
    const __m128i sp = _mm_set1_epi8(' ');
    const __m128i tab = _mm_set1_epi8('\t');
    const __m128i cr = _mm_set1_epi8('\r');
    while (end - p >= 17) {  // 16 octets and the one after them
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i next = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 1));
        const __m128i next_special = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(next, sp), _mm_cmpeq_epi8(next, tab)),
            _mm_cmpeq_epi8(next, cr));
        const __m128i stop = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, tab), _mm_cmpeq_epi8(v, cr)),
            _mm_and_si128(_mm_cmpeq_epi8(v, sp), next_special));
        const auto mask = static_cast<unsigned>(_mm_movemask_epi8(stop));
        if (mask == 0) {
            p += 16;
            continue;
        }
        const char* q = p + std::countr_zero(mask);
        if (*q == '\r' && crlf_passes(q)) {
            p = q + 2;
            continue;
        }
        return q;
    }
#endif
    while (p != end) {
        const char c = *p;
        if (c == '\t') return p;
        if (c == ' ' && (end - p < 2 || relaxed_special(p[1]))) return p;
        if (c == '\r') {
            if (!crlf_passes(p)) return p;
            p += 2;
            continue;
        }
        ++p;
    }
    return end;
}

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
    // The output is never longer than name + ":" + value + CRLF: size once, write through
    // a pointer, cut to what was written.
    const std::size_t start = out.size();
    out.resize(start + field.name.size() + 1 + field.value.size() + 2);
    char* w = out.data() + start;
    for (char ch : field.name) *w++ = ascii_lower(ch);
    *w++ = ':';
    char* const value_start = w;
    const char* s = field.value.data();
    const char* const end = s + field.value.size();
    while (s != end) {
        const char ch = *s++;
        if (!is_fws_octet(ch)) {
            *w++ = ch;
            continue;
        }
        // A run of WSP, CR and LF (folding). CR and LF vanish; WSP in the run becomes one SP
        // if there is value text on both sides of it.
        bool wsp = is_wsp(ch);
        while (s != end && is_fws_octet(*s)) wsp = is_wsp(*s++) || wsp;
        if (wsp && s != end && w != value_start) *w++ = ' ';
    }
    *w++ = '\r';
    *w++ = '\n';
    out.resize(static_cast<std::size_t>(w - out.data()));
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

void BodyCanonicalizer::put_run(std::string_view run, ByteSink& sink) {
    if (run.empty()) return;
    emitted_any_ = true;
    if (run.size() >= direct_write_min) {
        drain(sink);  // keep the order: what is buffered came first
        sink.write(run);
        return;
    }
    if (run.size() > buf_.size() - buf_len_) drain(sink);
    std::memcpy(buf_.data() + buf_len_, run.data(), run.size());
    buf_len_ += run.size();
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
    const char* p = chunk.data();
    const char* const end = p + chunk.size();
    while (p != end) {
        if (nothing_pending()) {
            // Fast path: the octets up to `stop` are output exactly as they are.
            const char* stop = relaxed ? relaxed_run_end(p, end) : simple_run_end(p, end);
            put_run(std::string_view(p, static_cast<std::size_t>(stop - p)), sink);
            p = stop;
            if (p == end) break;
        }
        // One octet through the state machine.
        const char c = *p++;
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
        if (pending_wsp_ || pending_crlfs_ != 0) flush_pending(sink);  // no CR is held here
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
