// signer/tag_list.cpp — RFC 6376 §3.2 tag-list parser.
#include "signer/tag_list.hpp"

#include <botan/base64.h>

#include <string>

#include "signer/header.hpp"

namespace signpost::signer {
namespace {

bool is_fws_octet(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool is_alpha(char c) noexcept { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool is_valid_tag_name(std::string_view n) noexcept {
    if (n.empty() || !is_alpha(n.front())) return false;
    for (char c : n) {
        if (!is_alpha(c) && !is_digit(c) && c != '_') return false;
    }
    return true;
}

bool is_valid_tag_value(std::string_view v) noexcept {
    for (char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        if (is_fws_octet(ch)) continue;
        if (c < 0x21 || c > 0x7e || c == ';') return false;
    }
    return true;
}

}  // namespace

std::string_view trim_fws(std::string_view s) noexcept {
    while (!s.empty() && is_fws_octet(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_fws_octet(s.back())) s.remove_suffix(1);
    return s;
}

std::string remove_fws(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (!is_fws_octet(c)) out.push_back(c);
    }
    return out;
}

Result<std::vector<Tag>> parse_tag_list(std::string_view text) {
    std::vector<Tag> tags;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        auto semi = text.find(';', pos);
        if (semi == std::string_view::npos) semi = text.size();
        const std::string_view spec = text.substr(pos, semi - pos);
        pos = semi + 1;
        if (trim_fws(spec).empty()) continue;  // empty spec (trailing ";" or ";;")

        const auto eq = spec.find('=');
        if (eq == std::string_view::npos) return Errc::tag_list_syntax;
        const std::string_view name = trim_fws(spec.substr(0, eq));
        if (!is_valid_tag_name(name)) return Errc::tag_list_syntax;
        const std::string_view raw = spec.substr(eq + 1);
        if (!is_valid_tag_value(raw)) return Errc::tag_list_syntax;
        for (const Tag& t : tags) {
            if (t.name == name) return Errc::tag_duplicate;
        }
        if (tags.size() == max_tags) return Errc::tag_list_syntax;
        tags.push_back(Tag{name, trim_fws(raw), raw});
    }
    return tags;
}

std::optional<std::string_view> find_tag(const std::vector<Tag>& tags, std::string_view name) {
    for (const Tag& t : tags) {
        if (t.name == name) return t.value;
    }
    return std::nullopt;
}

std::optional<CanonPair> parse_c_tag(std::string_view value) {
    value = trim_fws(value);
    const auto slash = value.find('/');
    CanonPair out;
    const auto h = parse_canonicalization(trim_fws(value.substr(0, slash)));
    if (!h) return std::nullopt;
    out.header = *h;
    if (slash != std::string_view::npos) {
        const auto b = parse_canonicalization(trim_fws(value.substr(slash + 1)));
        if (!b) return std::nullopt;
        out.body = *b;
    }
    return out;
}

std::optional<std::vector<std::string_view>> split_h_tag(std::string_view value) {
    std::vector<std::string_view> names;
    std::size_t pos = 0;
    while (true) {
        const auto colon = value.find(':', pos);
        const auto name =
            trim_fws(value.substr(pos, colon == value.npos ? value.npos : colon - pos));
        if (!is_valid_header_name(name)) return std::nullopt;
        names.push_back(name);
        if (colon == std::string_view::npos) break;
        pos = colon + 1;
    }
    return names;
}

std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view s) {
    const std::string compact = remove_fws(s);
    try {
        const auto v = Botan::base64_decode(compact.data(), compact.size(), false);
        return std::vector<std::uint8_t>(v.begin(), v.end());
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace signpost::signer
