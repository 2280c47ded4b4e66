// tests/fuzz/dkim/fuzz_dkim_header.cpp — libFuzzer target for the DKIM parsers a verifier runs
// on message bytes: split_message / parse_header_block (signer/header.hpp), the tag list with
// parse_c_tag / split_h_tag (signer/tag_list.hpp), the DKIM-Signature tags as verify.cpp reads
// them (a=, c=, h=, d=, s=, b=, bh=), the §3.7 signing input (signer/sign.hpp) and header and
// body canonicalization, simple and relaxed (signer/canon.hpp).
// Covers: signer/header.cpp signer/tag_list.cpp signer/canon.cpp signer/sign.cpp signer/key.cpp signer/error.cpp
//
// The input is used whole in several roles: as a message (header fields, DKIM-Signature fields
// among them), as one "name:value" field, as a DKIM-Signature value / tag list, as a c= and an
// h= value, and as a body. Its first 8 octets also seed the chunk sizes of the body stream.
// Invariants:
//   - header: parsed fields tile the header section in order (the empty line aside); each raw
//     field ends in CRLF, its name is valid ftext and is followed by optional WSP and ":", its
//     value ends where the final CRLF begins, every CRLF inside it is followed by WSP (folding),
//     no line is over 998 octets, no NUL; split_message's header + CRLF + body is the message.
//   - header canonicalization (RFC 6376 §3.4.1, §3.4.2): simple is the raw field; relaxed equals
//     the RFC's steps done naively (lowercase name, unfold, WSP runs to one SP, no WSP around
//     the colon or at the end), ends in its only CRLF, holds no HTAB or SP run, and is idempotent.
//   - tag list (§3.2): names and values lie inside the input; names are ALPHA *(ALPHA/DIGIT/_)
//     and distinct; values are their raw text FWS-trimmed; at most max_tags; a success means
//     every octet is VALCHAR or FWS; "name=value;" text built from the tags parses back the same.
//   - c= parses back from its canonical spelling, body simple when only the header part is
//     given; h= names are valid, one per colon-separated item; a= parses only to a name equal
//     to it; base64 b=/bh= decode round-trips; d=/s= syntax is case-insensitive and bounded.
//   - signing input (§3.7, §5.4.2): for each DKIM-Signature field with a valid h=, equals the
//     fields picked bottom-up per name, canonicalized, then the signature field with its b=
//     value removed, canonicalized, without its final CRLF (relaxed: no WSP before the colon).
//   - body (§3.4.3, §3.4.4): one-shot output equals a naive line-by-line implementation of the
//     RFC text; streaming in arbitrary chunks (split inside CRLFs, WSP runs, empty lines) gives
//     the same bytes and the same SHA-256 as one-shot; relaxed output is empty or ends in
//     exactly one CRLF with no WSP before a CRLF and no HTAB or SP run; simple output ends in
//     CRLF; both are idempotent, and relaxed(simple(x)) == relaxed(x); an l= limit hashes
//     exactly the first min(l, length) canonical octets.
// Seeds: corpus/fuzz_dkim_header/ (RFC 6376 §3.4.6 and RFC 8463 Appendix A fields, see
// corpus/README, plus folding, WSP and CRLF edge cases).
#include <botan/base64.h>
#include <botan/sha2_32.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signer/canon.hpp"
#include "signer/header.hpp"
#include "signer/key.hpp"
#include "signer/sign.hpp"
#include "signer/tag_list.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::signer;

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
bool is_fws(char c) { return is_wsp(c) || c == '\r' || c == '\n'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = lower(c);
    return out;
}

std::string uppered(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
}

// --- naive implementations of the RFC 6376 text, to compare with ---------------------------

// §3.4.2 step by step. CR and LF vanish wherever they are (unfolding; canon.hpp documents the
// same rule for stray ones), then WSP runs become one SP, WSP at the ends of the value goes.
std::string naive_relaxed_header(std::string_view name, std::string_view value) {
    std::string out = lowered(name) + ":";
    const std::size_t value_start = out.size();
    bool wsp = false;
    for (char c : value) {
        if (c == '\r' || c == '\n') continue;
        if (is_wsp(c)) {
            wsp = true;
            continue;
        }
        if (wsp && out.size() > value_start) out += ' ';
        wsp = false;
        out += c;
    }
    return out + "\r\n";
}

// §3.4.3 / §3.4.4 line by line. Only CRLF ends a line; text after the last CRLF is a last line
// without one. Relaxed: WSP runs to one SP, WSP at the end of each line removed. Both: trailing
// empty lines removed, every line ends in CRLF; simple turns an empty body into one CRLF.
std::string naive_body(std::string_view body, Canonicalization c) {
    std::vector<std::string> lines;
    std::size_t pos = 0;
    while (true) {
        const auto e = body.find("\r\n", pos);
        if (e == std::string_view::npos) {
            if (pos < body.size()) lines.emplace_back(body.substr(pos));
            break;
        }
        lines.emplace_back(body.substr(pos, e - pos));
        pos = e + 2;
    }
    if (c == Canonicalization::relaxed) {
        for (std::string& line : lines) {
            std::string r;
            for (char ch : line) {
                if (is_wsp(ch)) {
                    if (r.empty() || r.back() != ' ') r += ' ';
                } else {
                    r += ch;
                }
            }
            while (!r.empty() && r.back() == ' ') r.pop_back();
            line = std::move(r);
        }
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    if (lines.empty()) return c == Canonicalization::simple ? "\r\n" : "";
    std::string out;
    for (const std::string& line : lines) out += line + "\r\n";
    return out;
}

std::array<std::uint8_t, 32> sha256(std::string_view s) {
    Botan::SHA_256 sha;
    sha.update(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    std::array<std::uint8_t, 32> out;
    sha.final(out.data());
    return out;
}

// Splits the input into chunks of pseudo-random sizes (0, small, medium, over the canonicalizer's
// 1024-octet direct-write threshold and its 4096-octet buffer).
class Chunker {
public:
    explicit Chunker(std::uint64_t seed) : state_(seed | 1) {}
    std::size_t next() {
        state_ ^= state_ << 13;
        state_ ^= state_ >> 7;
        state_ ^= state_ << 17;
        const std::uint64_t r = state_ >> 8;
        switch (state_ & 7) {
            case 0: return 0;
            case 1: case 2: case 3: return 1 + r % 4;
            case 4: case 5: return 1 + r % 40;
            case 6: return 1 + r % 300;
            default: return 1 + r % 5000;
        }
    }

private:
    std::uint64_t state_;
};

class StringSink final : public ByteSink {
public:
    void write(std::string_view bytes) override { out += bytes; }
    std::string out;
};

// --- header fields -------------------------------------------------------------------------

void check_relaxed_shape(std::string_view canon, std::size_t name_size) {
    CHECK(canon.size() >= name_size + 3 && canon.ends_with("\r\n") && canon[name_size] == ':');
    const std::string_view value = canon.substr(name_size + 1, canon.size() - name_size - 3);
    CHECK(value.find_first_of("\r\n\t") == std::string_view::npos);
    CHECK(value.find("  ") == std::string_view::npos);
    CHECK(value.empty() || (value.front() != ' ' && value.back() != ' '));
}

void check_field_canon(const HeaderField& f) {
    CHECK(canonicalize_header(f, Canonicalization::simple) == f.raw);
    const std::string relaxed = canonicalize_header(f, Canonicalization::relaxed);
    CHECK(relaxed == naive_relaxed_header(f.name, f.value));
    check_relaxed_shape(relaxed, f.name.size());
    CHECK(std::string_view(relaxed).substr(0, f.name.size()) == lowered(f.name));
    // Idempotent: the canonical text, read as a field, canonicalizes to itself.
    HeaderField again;
    again.name = std::string_view(relaxed).substr(0, f.name.size());
    again.value = std::string_view(relaxed).substr(f.name.size() + 1, relaxed.size() - f.name.size() - 3);
    again.raw = relaxed;
    CHECK(canonicalize_header(again, Canonicalization::relaxed) == relaxed);
    // The appending form appends exactly that.
    std::string appended = "x";
    canonicalize_header(f, Canonicalization::relaxed, appended);
    CHECK(appended.size() == relaxed.size() + 1 && std::string_view(appended).substr(1) == relaxed);
}

// The input as one field: the name is everything before the first colon.
void check_arbitrary_field(std::string_view in) {
    const auto colon = in.find(':');
    if (colon == std::string_view::npos) return;
    HeaderField f;
    f.name = in.substr(0, colon);
    f.value = in.substr(colon + 1);
    f.raw = in;
    check_field_canon(f);
}

// --- tag lists and DKIM-Signature values ---------------------------------------------------

bool valid_tag_name(std::string_view n) {
    if (n.empty()) return false;
    const auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
    if (!alpha(n.front())) return false;
    for (char c : n) {
        if (!alpha(c) && !(c >= '0' && c <= '9') && c != '_') return false;
    }
    return true;
}

std::optional<std::vector<Tag>> check_tag_list(std::string_view text) {
    auto tags = parse_tag_list(text);
    if (!tags) {
        CHECK(tags.error() == Errc::tag_list_syntax || tags.error() == Errc::tag_duplicate);
        return std::nullopt;
    }
    CHECK(tags->size() <= max_tags);
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        CHECK(is_fws(ch) || (c >= 0x21 && c <= 0x7e));
    }
    std::string rebuilt;
    for (std::size_t i = 0; i < tags->size(); ++i) {
        const Tag& t = (*tags)[i];
        CHECK(inside(t.name, text) && inside(t.raw_value, text) && inside(t.value, t.raw_value));
        CHECK(valid_tag_name(t.name));
        CHECK(t.value == trim_fws(t.raw_value));
        CHECK(t.raw_value.data() > text.data() && t.raw_value.data()[-1] == '=');
        CHECK(t.raw_value.find(';') == std::string_view::npos);
        CHECK(t.name.data() < t.raw_value.data());
        for (std::size_t j = 0; j < i; ++j) {
            CHECK((*tags)[j].name != t.name);
            CHECK((*tags)[j].raw_value.data() < t.name.data());  // in input order
        }
        CHECK(find_tag(*tags, t.name) == t.value);
        rebuilt += std::string(t.name) + "=" + std::string(t.value) + ";";
    }
    const auto again = parse_tag_list(rebuilt);
    CHECK(again && again->size() == tags->size());
    for (std::size_t i = 0; i < tags->size(); ++i) {
        CHECK((*again)[i].name == (*tags)[i].name && (*again)[i].value == (*tags)[i].value);
    }
    return std::move(*tags);
}

void check_c_tag(std::string_view value) {
    const auto c = parse_c_tag(value);
    if (!c) return;
    const std::string spelled = std::string(to_string(c->header)) + "/" + std::string(to_string(c->body));
    const auto again = parse_c_tag(spelled);
    CHECK(again && again->header == c->header && again->body == c->body);
    const auto upper = parse_c_tag(uppered(value));
    CHECK(upper && upper->header == c->header && upper->body == c->body);
    if (value.find('/') == std::string_view::npos) {
        CHECK(c->body == Canonicalization::simple);
        CHECK(parse_canonicalization(trim_fws(value)) == c->header);
    }
}

void check_h_tag(std::string_view value) {
    const auto names = split_h_tag(value);
    if (!names) return;
    std::size_t colons = 0;
    for (char c : value) colons += c == ':' ? 1 : 0;
    CHECK(names->size() == colons + 1);
    for (std::string_view n : *names) CHECK(inside(n, value) && is_valid_header_name(n));
}

void check_domain(std::string_view d) {
    const bool strict = is_valid_domain(d);
    const bool lenient = is_valid_domain(d, true);
    if (strict) CHECK(lenient);
    CHECK(is_valid_selector(d, true) == lenient);
    CHECK(is_valid_domain(uppered(d), true) == lenient);
    if (!lenient) return;
    CHECK(!d.empty() && d.size() <= 253 && d.front() != '.' && d.back() != '.');
    CHECK(d.find("..") == std::string_view::npos);
    for (char c : d) CHECK(!is_fws(c) && c != ';' && c != '@');
}

void check_base64(std::string_view value) {
    const auto bytes = decode_base64(value);
    if (!bytes) return;
    const std::string text = Botan::base64_encode(bytes->data(), bytes->size());
    CHECK(decode_base64(text) == bytes);
}

// What verify.cpp reads from a DKIM-Signature value before the key lookup.
void check_signature_value(std::string_view value) {
    const auto tags = check_tag_list(value);
    if (!tags) return;
    if (const auto a = find_tag(*tags, "a")) {
        if (const auto alg = parse_algorithm(*a)) CHECK(header_name_equals(to_string(*alg), *a));
    }
    if (const auto c = find_tag(*tags, "c")) check_c_tag(*c);
    if (const auto h = find_tag(*tags, "h")) check_h_tag(*h);
    for (const char* name : {"d", "s"}) {
        if (const auto v = find_tag(*tags, name)) check_domain(*v);
    }
    for (const char* name : {"b", "bh"}) {
        if (const auto v = find_tag(*tags, name)) check_base64(*v);
    }
}

// §3.7 by hand: the fields named by h=, each name taking the next instance from the bottom,
// then the signature field without its b= value and final CRLF.
std::string naive_signing_input(const std::vector<HeaderField>& fields, const std::vector<std::string_view>& h,
                                const HeaderField& sig, const std::vector<Tag>& sig_tags, Canonicalization c) {
    std::string out;
    std::vector<std::string> used;  // lowercased names, one entry per instance taken
    for (std::string_view name : h) {
        std::size_t skip = 0;
        for (const std::string& u : used) skip += u == lowered(name) ? 1 : 0;
        used.push_back(lowered(name));
        for (std::size_t i = fields.size(); i-- > 0;) {
            if (!header_name_equals(fields[i].name, name)) continue;
            if (skip-- == 0) {
                out += canonicalize_header(fields[i], c);
                break;
            }
        }
    }
    std::string raw(sig.raw);
    for (const Tag& t : sig_tags) {
        if (t.name != "b") continue;
        const auto at = static_cast<std::size_t>(t.raw_value.data() - sig.raw.data());
        raw.erase(at, t.raw_value.size());
    }
    raw.resize(raw.size() - 2);  // the final CRLF
    if (c == Canonicalization::simple) return out + raw;
    HeaderField f;
    f.name = sig.name;  // WSP before the colon is not part of the name (§3.4.2)
    f.raw = raw;
    const auto colon = raw.find(':');
    f.value = std::string_view(raw).substr(colon + 1);
    std::string canon = canonicalize_header(f, c);
    canon.resize(canon.size() - 2);
    return out + canon;
}

void check_signature_field(const std::vector<HeaderField>& fields, const HeaderField& sig) {
    check_signature_value(sig.value);
    const auto tags = parse_tag_list(sig.value);
    if (!tags) return;
    const auto h_value = find_tag(*tags, "h");
    if (!h_value) return;
    const auto h = split_h_tag(*h_value);
    if (!h) return;
    for (auto c : {Canonicalization::simple, Canonicalization::relaxed}) {
        CHECK(signing_input(fields, *h, sig, c) == naive_signing_input(fields, *h, sig, *tags, c));
    }
}

// --- the message ---------------------------------------------------------------------------

void check_message(std::string_view in) {
    const MessageParts parts = split_message(in);
    CHECK(in.starts_with(parts.header) && in.ends_with(parts.body) && parts.header.data() == in.data());
    if (parts.header.size() + parts.body.size() == in.size()) {
        CHECK(parts.body.empty() && in.find("\r\n\r\n") == std::string_view::npos && !in.starts_with("\r\n"));
    } else {
        CHECK(parts.header.size() + 2 + parts.body.size() == in.size());
        CHECK(in.substr(parts.header.size(), 2) == "\r\n");
        CHECK(parts.header.empty() || parts.header.ends_with("\r\n"));
        CHECK(parts.header.find("\r\n\r\n") == std::string_view::npos);
    }

    const std::string_view header = parts.header;
    auto fields = parse_header_block(header);
    if (!fields) {
        const Errc e = static_cast<Errc>(fields.error().value());
        CHECK(fields.error().category() == error_category());
        CHECK(e == Errc::header_no_colon || e == Errc::header_nul || e == Errc::header_bad_name ||
              e == Errc::header_line_too_long || e == Errc::header_bare_line_ending ||
              e == Errc::header_leading_continuation || e == Errc::header_unterminated);
        return;
    }
    std::size_t pos = 0;
    for (const HeaderField& f : *fields) {
        CHECK(f.raw.data() == header.data() + pos && inside(f.raw, header));
        CHECK(f.name.data() == f.raw.data() && is_valid_header_name(f.name));
        CHECK(f.raw.ends_with("\r\n") && inside(f.value, f.raw));
        CHECK(f.value.data() + f.value.size() + 2 == f.raw.data() + f.raw.size());
        const auto name_end = f.name.data() + f.name.size();
        const std::string_view between(name_end, static_cast<std::size_t>(f.value.data() - name_end));
        CHECK(!between.empty() && between.back() == ':');
        for (std::size_t i = 0; i + 1 < between.size(); ++i) CHECK(is_wsp(between[i]));
        CHECK(f.raw.find('\0') == std::string_view::npos);
        std::size_t line_start = 0;
        for (std::size_t i = 0; i < f.raw.size(); ++i) {
            if (f.raw[i] == '\n') CHECK(i > 0 && f.raw[i - 1] == '\r');
            if (f.raw[i] != '\r') continue;
            CHECK(i + 1 < f.raw.size() && f.raw[i + 1] == '\n');
            CHECK(i - line_start <= max_line_length);
            if (i + 2 < f.raw.size()) CHECK(is_wsp(f.raw[i + 2]));  // folding
            line_start = i + 2;
        }
        check_field_canon(f);
        pos += f.raw.size();
    }
    CHECK(pos == header.size() || (pos + 2 == header.size() && header.ends_with("\r\n")));
    for (const HeaderField& f : *fields) {
        if (header_name_equals(f.name, "DKIM-Signature")) check_signature_field(*fields, f);
    }
}

// --- the body ------------------------------------------------------------------------------

void check_body(std::string_view in, std::uint64_t seed) {
    for (auto c : {Canonicalization::simple, Canonicalization::relaxed}) {
        const std::string once = canonicalize_body(in, c);
        CHECK(once == naive_body(in, c));
        CHECK(canonicalize_body(once, c) == once);
        if (c == Canonicalization::simple) {
            CHECK(once.ends_with("\r\n") && (once == "\r\n" || !once.ends_with("\r\n\r\n")));
        } else {
            CHECK(once.empty() || (once.ends_with("\r\n") && !once.ends_with("\r\n\r\n")));
            CHECK(once.find('\t') == std::string::npos && once.find("  ") == std::string::npos);
            CHECK(once.find(" \r\n") == std::string::npos);
            CHECK(canonicalize_body(canonicalize_body(in, Canonicalization::simple), c) == once);
        }

        // The same body in chunks, to a canonicalizer and to a hasher.
        Chunker chunks(seed);
        StringSink sink;
        BodyCanonicalizer streaming(c);
        BodyHasher hasher(c);
        for (std::size_t pos = 0; pos < in.size();) {
            const std::size_t n = std::min(chunks.next(), in.size() - pos);
            streaming.update(in.substr(pos, n), sink);
            hasher.update(in.substr(pos, n));
            pos += n;
        }
        streaming.finish(sink);
        CHECK(sink.out == once);
        const BodyHash streamed = hasher.finish();
        const BodyHash whole = hash_body(in, c);
        CHECK(streamed.sha256 == whole.sha256 && whole.sha256 == sha256(once));
        CHECK(streamed.length == once.size() && streamed.canonical_length == once.size());
        CHECK(streamed.canon == c && hasher.canonicalization() == c);
        CHECK(decode_base64(whole.base64()) == std::vector<std::uint8_t>(whole.sha256.begin(), whole.sha256.end()));

        // l=: only the first `limit` canonical octets are hashed.
        const std::uint64_t limit = (seed >> 8) % (once.size() + 2);
        const BodyHash limited = hash_body(in, c, limit);
        const std::size_t hashed = static_cast<std::size_t>(std::min<std::uint64_t>(limit, once.size()));
        CHECK(limited.length == hashed && limited.canonical_length == once.size());
        CHECK(limited.sha256 == sha256(std::string_view(once).substr(0, hashed)));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 32 * 1024) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (std::size_t i = 0; i < size && i < 8; ++i) seed = (seed ^ data[i]) * 0x100000001b3ULL;

    check_message(in);
    check_arbitrary_field(in);
    check_signature_value(in);
    check_c_tag(in);
    check_h_tag(in);
    check_body(in, seed);
    return 0;
}
