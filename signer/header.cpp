// signer/header.cpp — message splitting and header-section parsing (see header.hpp).
#include "signer/header.hpp"

#include <algorithm>

namespace signpost::signer {
namespace {

bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }

char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

bool header_name_equals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

bool is_valid_header_name(std::string_view name) noexcept {
    if (name.empty()) return false;
    for (char ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 33 || c > 126 || c == ':') return false;
    }
    return true;
}

MessageParts split_message(std::string_view message) noexcept {
    // The header ends at the first line that is empty: either the message starts with CRLF,
    // or a CRLF is immediately followed by another CRLF.
    if (message.starts_with("\r\n")) return {message.substr(0, 0), message.substr(2)};
    const auto pos = message.find("\r\n\r\n");
    if (pos == std::string_view::npos) return {message, message.substr(message.size())};
    return {message.substr(0, pos + 2), message.substr(pos + 4)};
}

Result<std::vector<HeaderField>> parse_header_block(std::string_view header) {
    std::vector<HeaderField> fields;
    // One field per line at most; reserved up to a typical header's worth so that a
    // hostile header of many continuation lines cannot make this reservation large.
    fields.reserve(std::min<std::size_t>(
        static_cast<std::size_t>(std::count(header.begin(), header.end(), '\n')), 64));
    std::size_t field_start = 0;  // where the field being collected starts
    std::size_t name_end = 0;     // end of its name (WSP before the colon excluded)
    std::size_t value_start = 0;  // first octet after its colon
    bool in_field = false;

    auto close_field = [&](std::size_t end_of_crlf) {
        HeaderField f;
        f.name = header.substr(field_start, name_end - field_start);
        f.value = header.substr(value_start, end_of_crlf - 2 - value_start);
        f.raw = header.substr(field_start, end_of_crlf - field_start);
        fields.push_back(f);
        in_field = false;
    };

    std::size_t pos = 0;
    while (pos < header.size()) {
        // Find the end of this line, checking every octet on the way.
        std::size_t eol = pos;
        while (eol < header.size()) {
            const char c = header[eol];
            if (static_cast<unsigned char>(c) > '\r') {  // the common case: not NUL, LF, CR
                ++eol;
                continue;
            }
            if (c == '\0') return Errc::header_nul;
            if (c == '\n') return Errc::header_bare_line_ending;
            if (c == '\r') {
                if (eol + 1 >= header.size()) return Errc::header_unterminated;
                if (header[eol + 1] != '\n') return Errc::header_bare_line_ending;
                break;
            }
            ++eol;
        }
        if (eol >= header.size()) return Errc::header_unterminated;
        if (eol - pos > max_line_length) return Errc::header_line_too_long;
        const std::size_t next = eol + 2;
        const std::string_view line = header.substr(pos, eol - pos);

        if (line.empty()) {
            // The separator line: only allowed as the very last line of the block.
            if (next != header.size()) return Errc::header_no_colon;
            if (in_field) close_field(pos);
            return fields;
        }
        if (is_wsp(line.front())) {
            if (!in_field) return Errc::header_leading_continuation;
            pos = next;  // continuation: the field grows to this line's CRLF
            continue;
        }
        if (in_field) close_field(pos);

        const auto colon = line.find(':');
        if (colon == std::string_view::npos) return Errc::header_no_colon;
        std::size_t n_end = colon;
        while (n_end > 0 && is_wsp(line[n_end - 1])) --n_end;
        if (!is_valid_header_name(line.substr(0, n_end))) return Errc::header_bad_name;

        field_start = pos;
        name_end = pos + n_end;
        value_start = pos + colon + 1;
        in_field = true;
        pos = next;
    }
    if (in_field) close_field(header.size());
    return fields;
}

}  // namespace signpost::signer
