// signer/sign.cpp — DKIM-Signature creation (see sign.hpp).
#include "signer/sign.hpp"

#include <botan/base64.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <initializer_list>

#include "signer/tag_list.hpp"

namespace signpost::signer {
namespace {

constexpr std::array<std::string_view, 22> default_headers = {
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "in-reply-to",
    "references",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
    "list-unsubscribe-post",
};

constexpr std::array<std::string_view, 12> oversigned = {
    "from",        "to",         "cc",           "subject",      "date",
    "reply-to",    "message-id", "mime-version", "content-type", "content-transfer-encoding",
    "in-reply-to", "references",
};

constexpr std::size_t max_line = 78;  // RFC 5322 §2.1.1 SHOULD, excluding CRLF

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

// header_name_equals() behind an inlined length check: most pairs differ in length.
bool same_name(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && header_name_equals(a, b);
}

bool is_oversigned(std::string_view name) {
    return std::find(oversigned.begin(), oversigned.end(), name) != oversigned.end();
}

// Builds a folded header field. Continuation lines start with a TAB, which counts as one
// octet toward the 78-octet line length.
class Folder {
public:
    // `capacity`: a guess at the final size, reserved once.
    Folder(std::string_view first, std::size_t capacity) : line_(first.size()) {
        out_.reserve(capacity);
        out_.append(first);
    }

    void newline() {
        out_ += "\r\n\t";
        line_ = 1;
    }

    // An unbreakable piece, the concatenation of `parts`: " piece" on this line if it fits,
    // else on a new line.
    void token(std::initializer_list<std::string_view> parts) {
        std::size_t size = 0;
        for (std::string_view part : parts) size += part.size();
        if (line_ + 1 + size > max_line && line_ > 1) {
            newline();
        } else {
            out_ += ' ';
            ++line_;
        }
        for (std::string_view part : parts) append(part);
    }

    // h=: "h=a:b:c;" with line breaks allowed after each colon (§3.5 sig-h-tag).
    void name_list(std::string_view tag, std::span<const std::string_view> names) {
        for (std::size_t i = 0; i < names.size(); ++i) {
            const std::string_view end = i + 1 == names.size() ? ";" : ":";
            if (i == 0) {
                token({tag, names[i], end});
            } else {
                if (line_ + names[i].size() + end.size() > max_line) newline();
                append(names[i]);
                append(end);
            }
        }
    }

    // A base64 tag (bh=): whole on this line, else whole on the next, else broken anywhere.
    void breakable(std::string_view tag, std::string_view value, std::string_view end) {
        const std::size_t whole = tag.size() + value.size() + end.size();
        if (line_ + 1 + whole <= max_line) {
            out_ += ' ';
            ++line_;
        } else if (1 + whole <= max_line) {
            newline();
        } else if (line_ + 1 + tag.size() + 1 <= max_line) {
            out_ += ' ';
            ++line_;
        } else {
            newline();
        }
        append(tag);
        fill(value);
        if (line_ + end.size() > max_line) newline();
        append(end);
    }

    // Value octets that may be broken anywhere (base64, §3.5 allows FWS between them): as
    // many as fit on this line, then a new line, and so on.
    void fill(std::string_view value) {
        while (!value.empty()) {
            if (line_ >= max_line) newline();
            const std::size_t take = std::min(max_line - line_, value.size());
            append(value.substr(0, take));
            value.remove_prefix(take);
        }
    }

    void append(std::string_view s) {
        out_ += s;
        line_ += s.size();
    }

    const std::string& text() const noexcept { return out_; }

    // The finished field, with its final CRLF.
    std::string finish() && {
        out_ += "\r\n";
        return std::move(out_);
    }

private:
    std::string out_;
    std::size_t line_;
};

// Decimal text of a non-negative count, in `buf`.
std::string_view decimal(std::int64_t v, std::array<char, 24>& buf) noexcept {
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return std::string_view(buf.data(), static_cast<std::size_t>(r.ptr - buf.data()));
}

// select_headers() as views: into the static tables, or into `lowered` (lowercase copies of
// a configured SignParams::headers list, filled here; it must outlive the result).
Result<std::vector<std::string_view>> select_header_views(std::span<const HeaderField> fields,
                                                          const SignParams& params,
                                                          std::vector<std::string>& lowered) {
    std::span<const std::string_view> selection = default_headers;
    std::vector<std::string_view> custom;
    if (!params.headers.empty()) {
        lowered.clear();
        lowered.reserve(params.headers.size());  // never reallocated: views point into it
        custom.reserve(params.headers.size());
        for (const auto& n : params.headers) {
            if (!is_valid_header_name(n)) return Errc::bad_header_selection;
            const bool seen = std::any_of(custom.begin(), custom.end(), [&](std::string_view c) {
                return header_name_equals(c, n);
            });
            if (seen) continue;
            lowered.push_back(ascii_lower(n));
            custom.emplace_back(lowered.back());
        }
        selection = custom;
    }
    if (std::find(selection.begin(), selection.end(), "from") == selection.end()) {
        return Errc::bad_header_selection;
    }
    // Each field matches at most one (distinct) name; oversigning adds one per name at most.
    std::vector<std::string_view> h;
    h.reserve(fields.size() + oversigned.size());
    for (std::string_view name : selection) {
        std::size_t n = 0;
        for (const auto& f : fields) n += same_name(f.name, name) ? 1 : 0;
        if (params.oversign && is_oversigned(name)) ++n;
        h.insert(h.end(), n, name);
    }
    return h;
}

// An upper bound on the canonical size of all of `fields` (either canonicalization: relaxed
// output is never longer than the raw field).
std::size_t raw_size(std::span<const HeaderField> fields) noexcept {
    std::size_t n = 0;
    for (const auto& f : fields) n += f.raw.size();
    return n;
}

// The first part of the §3.7 signing input: the fields named by `h`, each name taking the
// next instance from the bottom, canonicalized. A name with no instance left adds nothing.
void append_signed_fields(std::span<const HeaderField> fields,
                          std::span<const std::string_view> h, Canonicalization canon,
                          std::string& out) {
    // For each distinct name (compared case-insensitively), the index below which its next
    // (upward) instance is searched.
    struct Cursor {
        std::string_view name;
        std::size_t below;
    };
    std::vector<Cursor> cursors;
    cursors.reserve(h.size());
    for (std::string_view name : h) {
        auto it = std::find_if(cursors.begin(), cursors.end(),
                               [&](const Cursor& c) { return same_name(c.name, name); });
        if (it == cursors.end()) {
            cursors.push_back({name, fields.size()});
            it = std::prev(cursors.end());
        }
        std::size_t i = it->below;
        while (i > 0 && !same_name(fields[i - 1].name, name)) --i;
        if (i == 0) {
            it->below = 0;  // no instance left: contributes nothing (§5.4.2)
            continue;
        }
        canonicalize_header(fields[i - 1], canon, out);
        it->below = i - 1;
    }
}

// The last part of the signing input: the signature field `field` (no final CRLF) whose
// b= value is already empty, canonicalized, without the trailing CRLF (§3.7).
void append_signature_field(std::string_view field, Canonicalization canon, std::string& out) {
    if (canon == Canonicalization::simple) {
        out.append(field);
        return;
    }
    const std::size_t colon = field.find(':');
    HeaderField f;
    f.name = field.substr(0, colon);
    // §3.4.2: no WSP before the colon (RFC 5322 §4.5 allows it in the field as written).
    while (!f.name.empty() && (f.name.back() == ' ' || f.name.back() == '\t')) f.name.remove_suffix(1);
    f.value = field.substr(colon + 1);
    f.raw = field;
    canonicalize_header(f, canon, out);
    out.resize(out.size() - 2);  // drop the CRLF canonicalize_header appended
}

// The raw field with the b= tag's value removed (§3.7); unchanged if no b= tag is found.
std::string without_b_value(const HeaderField& field) {
    auto tags = parse_tag_list(field.value);
    if (!tags) return std::string(field.raw);
    for (const Tag& t : *tags) {
        if (t.name != "b") continue;
        const auto start = static_cast<std::size_t>(t.raw_value.data() - field.raw.data());
        const auto end = start + t.raw_value.size();
        std::string out(field.raw.substr(0, start));
        out.append(field.raw.substr(end));
        return out;
    }
    return std::string(field.raw);
}

}  // namespace

std::span<const std::string_view> default_signed_headers() noexcept { return default_headers; }

std::span<const std::string_view> oversigned_headers() noexcept { return oversigned; }

bool is_valid_domain(std::string_view d, bool allow_underscore) noexcept {
    if (d.empty() || d.size() > 253) return false;
    std::size_t pos = 0;
    while (pos <= d.size()) {
        auto dot = d.find('.', pos);
        if (dot == std::string_view::npos) dot = d.size();
        const std::string_view label = d.substr(pos, dot - pos);
        if (label.empty() || label.size() > 63) return false;
        if (label.front() == '-' || label.back() == '-') return false;
        for (char c : label) {
            const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || (allow_underscore && c == '_');
            if (!ok) return false;
        }
        pos = dot + 1;
    }
    return true;
}

bool is_valid_selector(std::string_view s, bool allow_underscore) noexcept {
    return is_valid_domain(s, allow_underscore);
}

Result<std::vector<std::string>> select_headers(std::span<const HeaderField> fields,
                                                const SignParams& params) {
    std::vector<std::string> lowered;
    auto h = select_header_views(fields, params, lowered);
    if (!h) return h.error();
    return std::vector<std::string>(h->begin(), h->end());
}

std::string signing_input(std::span<const HeaderField> fields, std::span<const std::string_view> h,
                          const HeaderField& signature, Canonicalization canon) {
    std::string out;
    out.reserve(raw_size(fields) + signature.raw.size());
    append_signed_fields(fields, h, canon, out);

    // The signature field itself, b= emptied, no trailing CRLF (§3.7).
    const std::string raw = without_b_value(signature);
    std::string_view v(raw);
    if (v.ends_with("\r\n")) v.remove_suffix(2);
    append_signature_field(v, canon, out);
    return out;
}

Result<std::vector<std::string>> sign(std::string_view header_block,
                                      std::span<const BodyHash> body_hashes,
                                      std::span<const SigningKey> keys, const SignParams& params,
                                      std::chrono::system_clock::time_point now, SpareThread* spare) {
    if (keys.empty()) return Errc::no_keys;
    if (!is_valid_domain(params.d)) return Errc::bad_domain;
    for (const auto& k : keys) {
        if (!is_valid_selector(k.s)) return Errc::bad_selector;
        if (k.key.type() == KeyType::rsa) {
            if (k.key.bits() < min_rsa_sign_bits) return Errc::key_too_small;
            if (k.key.bits() > max_rsa_sign_bits) return Errc::key_too_large;
        }
    }
    if (params.expire_after && params.expire_after->count() <= 0) return Errc::bad_expiry;
    const auto t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
    if (t.count() < 0) return Errc::bad_time;

    auto fields = parse_header_block(header_block);
    if (!fields) return fields.error();
    const bool has_from = std::any_of(fields->begin(), fields->end(), [](const HeaderField& f) {
        return header_name_equals(f.name, "from");
    });
    if (!has_from) return Errc::header_missing_from;

    const auto bh = std::find_if(body_hashes.begin(), body_hashes.end(),
                                 [&](const BodyHash& b) { return b.canon == params.body_canon; });
    if (bh == body_hashes.end()) return Errc::body_hash_missing;

    std::vector<std::string> lowered;  // backs `h` when SignParams::headers is set
    const auto h = select_header_views(*fields, params, lowered);
    if (!h) return h.error();

    // The signed fields are the same for every key: canonicalize them once.
    std::string input;
    input.reserve(raw_size(*fields) + 1024);
    append_signed_fields(*fields, *h, params.header_canon, input);
    const std::size_t fields_input_size = input.size();

    const std::string bh_value = bh->base64();
    std::array<char, 24> t_buf;
    std::array<char, 24> x_buf;
    const std::string_view t_text = decimal(t.count(), t_buf);
    const std::string_view x_text =
        params.expire_after ? decimal(t.count() + params.expire_after->count(), x_buf) : "";
    std::size_t h_size = 0;
    for (std::string_view name : *h) h_size += name.size() + 1;

    std::vector<std::string> out;
    out.reserve(keys.size());
    for (const auto& k : keys) {
        // Reserve for the tags, the base64 signature (4 characters per 3 octets; RSA: the
        // modulus size, Ed25519: 64 octets) and a "\r\n\t" per line.
        const std::size_t sig_octets = k.key.type() == KeyType::rsa ? k.key.bits() / 8 : 64;
        const std::size_t unfolded =
            160 + params.d.size() + k.s.size() + h_size + 4 * (sig_octets + 2) / 3;
        Folder f("DKIM-Signature:", unfolded + unfolded / 24);
        f.token({"v=1;"});
        f.token({"a=", to_string(k.key.algorithm()), ";"});
        f.token({"c=", to_string(params.header_canon), "/", to_string(params.body_canon), ";"});
        f.token({"d=", params.d, ";"});
        f.token({"s=", k.s, ";"});
        f.token({"t=", t_text, ";"});
        if (params.expire_after) f.token({"x=", x_text, ";"});
        f.name_list("h=", *h);
        f.breakable("bh=", bh_value, ";");
        f.newline();
        f.append("b=");

        // Sign the field exactly as it will be emitted, minus the b= value (§3.7). b= is its
        // last tag and still empty, so the field as built so far is that text: no need to
        // parse it back and search for b=.
        input.resize(fields_input_size);
        append_signature_field(f.text(), params.header_canon, input);
        auto sig = dkim_sign(k.key, input, spare);
        if (!sig) return sig.error();

        f.fill(Botan::base64_encode(sig->data(), sig->size()));
        out.push_back(std::move(f).finish());
    }
    return out;
}

Result<std::vector<std::string>> sign_message(std::string_view message,
                                              std::span<const SigningKey> keys,
                                              const SignParams& params,
                                              std::chrono::system_clock::time_point now) {
    const MessageParts parts = split_message(message);
    const BodyHash bh = hash_body(parts.body, params.body_canon);
    return sign(parts.header, std::span<const BodyHash>(&bh, 1), keys, params, now);
}

Result<std::string> sign_signature_header(const PrivateKey& key, std::string_view header_block,
                                          std::string_view signature_field) {
    std::string text(signature_field);
    if (!text.ends_with("\r\n")) text += "\r\n";
    auto parsed = parse_header_block(text);
    if (!parsed || parsed->size() != 1 ||
        !header_name_equals(parsed->front().name, "DKIM-Signature")) {
        return Errc::signature_header_invalid;
    }
    const HeaderField& sig = parsed->front();
    auto tags = parse_tag_list(sig.value);
    if (!tags) return Errc::signature_header_invalid;

    const auto a = find_tag(*tags, "a");
    if (!a) return Errc::signature_header_invalid;
    const auto alg = parse_algorithm(*a);
    if (!alg) return Errc::signature_header_invalid;
    if (*alg != key.algorithm()) return Errc::algorithm_mismatch;

    const auto h_value = find_tag(*tags, "h");
    if (!h_value) return Errc::signature_header_invalid;
    const auto h = split_h_tag(*h_value);
    if (!h) return Errc::signature_header_invalid;

    CanonPair c;
    if (const auto c_value = find_tag(*tags, "c")) {
        const auto parsed_c = parse_c_tag(*c_value);
        if (!parsed_c) return Errc::signature_header_invalid;
        c = *parsed_c;
    }

    auto fields = parse_header_block(header_block);
    if (!fields) return fields.error();
    const std::string input = signing_input(*fields, *h, sig, c.header);
    auto signature = dkim_sign(key, input);
    if (!signature) return signature.error();
    return Botan::base64_encode(signature->data(), signature->size());
}

}  // namespace signpost::signer
