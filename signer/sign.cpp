// signer/sign.cpp — DKIM-Signature creation (see sign.hpp).
#include "signer/sign.hpp"

#include <botan/base64.h>

#include <algorithm>
#include <array>

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

bool is_oversigned(std::string_view name) {
    return std::find(oversigned.begin(), oversigned.end(), name) != oversigned.end();
}

// Builds a folded header field. Continuation lines start with a TAB, which counts as one
// octet toward the 78-octet line length.
class Folder {
public:
    explicit Folder(std::string_view first) : out_(first), line_(first.size()) {}

    void newline() {
        out_ += "\r\n\t";
        line_ = 1;
    }

    // An unbreakable piece: " piece" on this line if it fits, else on a new line.
    void token(std::string_view piece) {
        if (line_ + 1 + piece.size() > max_line && line_ > 1) {
            newline();
        } else {
            out_ += ' ';
            ++line_;
        }
        append(piece);
    }

    // h=: "h=a:b:c;" with line breaks allowed after each colon (§3.5 sig-h-tag).
    void name_list(std::string_view tag, const std::vector<std::string>& names) {
        for (std::size_t i = 0; i < names.size(); ++i) {
            std::string piece = (i == 0 ? std::string(tag) : std::string()) + names[i] +
                                (i + 1 == names.size() ? ";" : ":");
            if (i == 0) {
                token(piece);
            } else {
                if (line_ + piece.size() > max_line) newline();
                append(piece);
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

    // Value octets that may be broken anywhere (base64, §3.5 allows FWS between them).
    void fill(std::string_view value) {
        for (char c : value) {
            if (line_ >= max_line) newline();
            out_ += c;
            ++line_;
        }
    }

    void append(std::string_view s) {
        out_ += s;
        line_ += s.size();
    }

    const std::string& text() const noexcept { return out_; }

private:
    std::string out_;
    std::size_t line_;
};

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
    std::vector<std::string> selection;
    if (params.headers.empty()) {
        for (auto n : default_headers) selection.emplace_back(n);
    } else {
        for (const auto& n : params.headers) {
            if (!is_valid_header_name(n)) return Errc::bad_header_selection;
            std::string lower = ascii_lower(n);
            if (std::find(selection.begin(), selection.end(), lower) == selection.end()) {
                selection.push_back(std::move(lower));
            }
        }
    }
    if (std::find(selection.begin(), selection.end(), "from") == selection.end()) {
        return Errc::bad_header_selection;
    }
    std::vector<std::string> h;
    for (const auto& name : selection) {
        std::size_t n = 0;
        for (const auto& f : fields) n += header_name_equals(f.name, name) ? 1 : 0;
        if (params.oversign && is_oversigned(name)) ++n;
        for (std::size_t i = 0; i < n; ++i) h.push_back(name);
    }
    return h;
}

std::string signing_input(std::span<const HeaderField> fields, std::span<const std::string_view> h,
                          const HeaderField& signature, Canonicalization canon) {
    std::string out;
    // For each distinct name, the index below which the next (upward) instance is searched.
    std::vector<std::pair<std::string, std::size_t>> cursors;
    for (std::string_view name : h) {
        const std::string lower = ascii_lower(name);
        auto it = std::find_if(cursors.begin(), cursors.end(),
                               [&](const auto& c) { return c.first == lower; });
        if (it == cursors.end()) {
            cursors.emplace_back(lower, fields.size());
            it = std::prev(cursors.end());
        }
        std::size_t i = it->second;
        while (i > 0 && !header_name_equals(fields[i - 1].name, lower)) --i;
        if (i == 0) {
            it->second = 0;  // no instance left: contributes nothing (§5.4.2)
            continue;
        }
        canonicalize_header(fields[i - 1], canon, out);
        it->second = i - 1;
    }

    // The signature field itself, b= emptied, no trailing CRLF (§3.7).
    const std::string raw = without_b_value(signature);
    if (canon == Canonicalization::simple) {
        std::string_view v(raw);
        if (v.ends_with("\r\n")) v.remove_suffix(2);
        out.append(v);
    } else {
        const std::size_t colon = raw.find(':');
        HeaderField f;
        f.name = signature.name;
        f.raw = raw;
        std::string_view value = std::string_view(raw).substr(colon + 1);
        if (value.ends_with("\r\n")) value.remove_suffix(2);
        f.value = value;
        canonicalize_header(f, canon, out);
        out.resize(out.size() - 2);  // drop the CRLF canonicalize_header appended
    }
    return out;
}

Result<std::vector<std::string>> sign(std::string_view header_block,
                                      std::span<const BodyHash> body_hashes,
                                      std::span<const SigningKey> keys, const SignParams& params,
                                      std::chrono::system_clock::time_point now) {
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

    auto h = select_headers(*fields, params);
    if (!h) return h.error();
    const std::vector<std::string_view> h_views(h->begin(), h->end());

    std::vector<std::string> out;
    for (const auto& k : keys) {
        Folder f("DKIM-Signature:");
        f.token("v=1;");
        f.token("a=" + std::string(to_string(k.key.algorithm())) + ";");
        f.token("c=" + std::string(to_string(params.header_canon)) + "/" +
                std::string(to_string(params.body_canon)) + ";");
        f.token("d=" + params.d + ";");
        f.token("s=" + k.s + ";");
        f.token("t=" + std::to_string(t.count()) + ";");
        if (params.expire_after) {
            f.token("x=" + std::to_string(t.count() + params.expire_after->count()) + ";");
        }
        f.name_list("h=", *h);
        f.breakable("bh=", bh->base64(), ";");
        f.newline();
        f.append("b=");

        // Sign the field exactly as it will be emitted, minus the b= value.
        const std::string unsigned_field = f.text() + "\r\n";
        auto parsed = parse_header_block(unsigned_field);
        if (!parsed || parsed->size() != 1) return Errc::crypto_failure;  // cannot happen
        const std::string input =
            signing_input(*fields, h_views, parsed->front(), params.header_canon);
        auto sig = dkim_sign(k.key, input);
        if (!sig) return sig.error();

        f.fill(Botan::base64_encode(sig->data(), sig->size()));
        out.push_back(f.text() + "\r\n");
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
