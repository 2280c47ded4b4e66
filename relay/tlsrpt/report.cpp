// relay/tlsrpt/report.cpp — the report JSON, file name, gzip, TXT record and days (see
// report.hpp). Strings are built by appending: GCC 12 at -O3 warns falsely (-Wrestrict)
// on `"literal" + std::string`.
#define ZLIB_CONST  // next_in is `const Bytef*`
#include "relay/tlsrpt/report.hpp"

#include <zlib.h>

#include <limits>
#include <stdexcept>

#include <boost/json.hpp>

namespace signpost::tlsrpt {
namespace {

namespace json = boost::json;

// ---- JSON --------------------------------------------------------------------------------

// `s` with every byte that does not start (or continue) a well-formed UTF-8 sequence
// (RFC 3629 §4: no overlong forms, no surrogates, nothing above U+10FFFF) replaced by
// U+FFFD. Boost.JSON escapes quotes and control characters but copies other bytes as they
// are, and a report must be valid JSON (RFC 8259 §8.1) whatever DNS or a policy file held.
std::string utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const auto cont = [&](std::size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
    std::size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = byte(i);
        std::size_t len = 0;
        if (c < 0x80) len = 1;
        else if (c >= 0xC2 && c <= 0xDF) len = cont(i + 1) ? 2 : 0;
        else if (c >= 0xE0 && c <= 0xEF) {
            const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
            if (i + 1 < s.size() && byte(i + 1) >= lo && byte(i + 1) <= hi && cont(i + 2)) len = 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            const unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
            if (i + 1 < s.size() && byte(i + 1) >= lo && byte(i + 1) <= hi && cont(i + 2) && cont(i + 3)) len = 4;
        }
        if (len == 0) {
            out.append("\xEF\xBF\xBD");
            ++i;
        } else {
            out.append(s.substr(i, len));
            i += len;
        }
    }
    return out;
}

json::value text(std::string_view s) { return json::value(json::string_view(utf8(s))); }

json::array texts(const std::vector<std::string>& v) {
    json::array a;
    a.reserve(v.size());
    for (const auto& s : v) a.push_back(text(s));
    return a;
}

// An optional string member: absent when empty (§4.4 marks these "optional").
void put_optional(json::object& o, std::string_view key, const std::string& value) {
    if (!value.empty()) o[key] = text(value);
}

json::object failure_json(const FailureDetail& f) {
    json::object o;
    o["result-type"] = to_string(f.result);
    put_optional(o, "sending-mta-ip", f.sending_mta_ip);
    put_optional(o, "receiving-mx-hostname", f.receiving_mx_hostname);
    put_optional(o, "receiving-ip", f.receiving_ip);
    o["failed-session-count"] = f.count;
    put_optional(o, "additional-information", f.additional_information);
    put_optional(o, "failure-reason-code", f.failure_reason_code);
    return o;
}

json::object policy_json(const PolicyCounts& pc) {
    json::object policy;
    policy["policy-type"] = to_string(pc.policy.type);
    if (!pc.policy.strings.empty()) policy["policy-string"] = texts(pc.policy.strings);
    policy["policy-domain"] = text(pc.policy.domain);
    if (!pc.policy.mx_host.empty()) policy["mx-host"] = texts(pc.policy.mx_host);

    json::object summary;
    summary["total-successful-session-count"] = pc.successful;
    summary["total-failure-session-count"] = pc.failed;

    json::object o;
    o["policy"] = std::move(policy);
    o["summary"] = std::move(summary);
    if (!pc.failures.empty()) {
        json::array details;
        details.reserve(pc.failures.size());
        for (const auto& f : pc.failures) details.push_back(failure_json(f));
        o["failure-details"] = std::move(details);
    }
    return o;
}

// ---- TXT record (§3) ---------------------------------------------------------------------

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
    return s;
}

// tlsrpt-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
bool is_ext_name(std::string_view s) {
    if (s.empty() || s.size() > 32 || !(is_alpha(s[0]) || is_digit(s[0]))) return false;
    for (char c : s)
        if (!(is_alpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.')) return false;
    return true;
}

// tlsrpt-ext-value = 1*(%x21-3A / %x3C / %x3E-7E): printable ASCII but ";" and "=".
bool is_ext_value(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < 0x21 || c > 0x7E || c == ';' || c == '=') return false;
    return true;
}

// The scheme of an RFC 3986 URI (ALPHA *(ALPHA / DIGIT / "+" / "-" / ".") ":"), lower-cased;
// "" when `uri` does not start with one.
std::string scheme_of(std::string_view uri) {
    const auto colon = uri.find(':');
    if (colon == std::string_view::npos || colon == 0 || !is_alpha(uri[0])) return {};
    std::string scheme;
    for (char c : uri.substr(0, colon)) {
        if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.')) return {};
        scheme.push_back(lower(c));
    }
    return scheme;
}

// tlsrpt-rua = "rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri): appends the usable URIs to
// `out`; false when the list is malformed.
bool parse_rua(std::string_view value, std::vector<std::string>& out) {
    while (true) {
        const auto comma = value.find(',');
        const std::string_view uri = trim(value.substr(0, comma));
        if (uri.empty()) return false;
        for (char c : uri)
            if (c < 0x21 || c > 0x7E) return false;  // a URI has no spaces, controls or 8-bit bytes
        const std::string scheme = scheme_of(uri);
        if (scheme.empty()) return false;
        // The scheme is case-insensitive (RFC 3986 §3.1): kept in lower case, so callers can
        // compare it as "mailto:" / "https:".
        if ((scheme == "mailto" || scheme == "https") && uri.size() > scheme.size() + 1)
            out.push_back(scheme + std::string(uri.substr(scheme.size())));
        if (comma == std::string_view::npos) return true;
        value.remove_prefix(comma + 1);
    }
}

// ---- days (§4.1) -------------------------------------------------------------------------

constexpr int kFirstYear = 1970, kLastYear = 9999;

void append_padded(std::string& out, unsigned value, std::size_t width) {
    std::string digits = std::to_string(value);
    if (digits.size() < width) out.append(width - digits.size(), '0');
    out.append(digits);
}

}  // namespace

std::string report_json(const ReportMeta& meta, const std::vector<PolicyCounts>& policies) {
    std::string start(meta.day), end(meta.day);
    start.append("T00:00:00Z");
    end.append("T23:59:59Z");

    json::object range;
    range["start-datetime"] = text(start);
    range["end-datetime"] = text(end);

    json::array list;
    list.reserve(policies.size());
    for (const auto& pc : policies) list.push_back(policy_json(pc));

    json::object report;
    report["organization-name"] = text(meta.organization);
    report["date-range"] = std::move(range);
    report["contact-info"] = text(meta.contact);
    report["report-id"] = text(meta.report_id);
    report["policies"] = std::move(list);
    return json::serialize(report);
}

std::string report_filename(std::string_view submitter, std::string_view policy_domain, std::string_view day,
                            std::string_view unique_id) {
    const std::int64_t begin = day_start_unix(day);
    const std::int64_t end = begin < 0 ? -1 : begin + 86399;
    std::string name(submitter);
    name.push_back('!');
    name.append(policy_domain);
    name.push_back('!');
    name.append(std::to_string(begin));
    name.push_back('!');
    name.append(std::to_string(end));
    std::string id;
    for (char c : unique_id)
        if (is_alpha(c) || is_digit(c)) id.push_back(c);
    if (!id.empty()) {
        name.push_back('!');
        name.append(id);
    }
    name.append(".json.gz");
    return name;
}

std::string gzip(std::string_view data) {
    z_stream zs{};
    // windowBits 15 + 16: a gzip header and trailer instead of zlib's (RFC 1952).
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("gzip: deflateInit2 failed");
    struct End {
        z_stream* zs;
        ~End() { deflateEnd(zs); }
    } end{&zs};

    std::string out;
    out.reserve(data.size() / 4 + 64);
    char buf[16384];
    // avail_in is 32 bits: feed larger inputs in pieces.
    constexpr std::size_t kPiece = std::numeric_limits<uInt>::max();
    int flush = Z_NO_FLUSH;
    do {
        const std::size_t piece = data.size() < kPiece ? data.size() : kPiece;
        zs.next_in = reinterpret_cast<const Bytef*>(data.data());
        zs.avail_in = static_cast<uInt>(piece);
        data.remove_prefix(piece);
        flush = data.empty() ? Z_FINISH : Z_NO_FLUSH;
        int rc = Z_OK;
        do {
            zs.next_out = reinterpret_cast<Bytef*>(buf);
            zs.avail_out = sizeof buf;
            rc = deflate(&zs, flush);
            if (rc == Z_STREAM_ERROR) throw std::runtime_error("gzip: deflate failed");
            out.append(buf, sizeof buf - zs.avail_out);
        } while (zs.avail_out == 0);
        if (flush == Z_FINISH && rc != Z_STREAM_END) throw std::runtime_error("gzip: deflate did not finish");
    } while (flush != Z_FINISH);
    return out;
}

std::optional<std::vector<std::string>> parse_tlsrpt_record(std::string_view txt) {
    // tlsrpt-record = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
    // field-delim = *WSP ";" *WSP; tlsrpt-version = %s"v=TLSRPTv1"
    constexpr std::string_view kVersion = "v=TLSRPTv1";
    if (!txt.starts_with(kVersion)) return std::nullopt;
    txt.remove_prefix(kVersion.size());
    const auto first = txt.find(';');
    if (first == std::string_view::npos || !trim(txt.substr(0, first)).empty()) return std::nullopt;
    txt.remove_prefix(first + 1);

    std::vector<std::string> uris;
    bool has_rua = false;
    while (true) {
        const auto semi = txt.find(';');
        const bool last = semi == std::string_view::npos;
        const std::string_view field = trim(txt.substr(0, semi));
        if (field.empty()) {
            if (!last) return std::nullopt;  // ";;": an empty field
            break;                           // the optional trailing delimiter
        }
        const auto eq = field.find('=');
        if (eq == std::string_view::npos) return std::nullopt;
        const std::string_view name = field.substr(0, eq), value = field.substr(eq + 1);
        if (name == "rua") {  // %s"rua=": case-sensitive
            if (!parse_rua(value, uris)) return std::nullopt;
            has_rua = true;
        } else if (!is_ext_name(name) || !is_ext_value(value)) {
            return std::nullopt;
        }
        if (last) break;
        txt.remove_prefix(semi + 1);
    }
    if (!has_rua) return std::nullopt;
    return uris;
}

std::optional<std::string> day_of(std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    // year_month_day from sys_days is the civil-from-days computation (proleptic Gregorian,
    // UTC): no timegm, no time zone, no locale.
    const year_month_day ymd{floor<days>(t)};
    const int y = static_cast<int>(ymd.year());
    if (y < kFirstYear || y > kLastYear) return std::nullopt;
    std::string out;
    out.reserve(10);
    append_padded(out, static_cast<unsigned>(y), 4);
    out.push_back('-');
    append_padded(out, static_cast<unsigned>(ymd.month()), 2);
    out.push_back('-');
    append_padded(out, static_cast<unsigned>(ymd.day()), 2);
    return out;
}

std::int64_t day_start_unix(std::string_view day) {
    using namespace std::chrono;
    if (day.size() != 10 || day[4] != '-' || day[7] != '-') return -1;
    const auto number = [&](std::size_t pos, std::size_t len) {
        int n = 0;
        for (std::size_t i = pos; i < pos + len; ++i) {
            if (!is_digit(day[i])) return -1;
            n = n * 10 + (day[i] - '0');
        }
        return n;
    };
    const int y = number(0, 4), m = number(5, 2), d = number(8, 2);
    if (y < kFirstYear || y > kLastYear || m < 1 || d < 1) return -1;
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(m)}, std::chrono::day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) return -1;  // month 13, 31 April, 29 February of a common year, ...
    return static_cast<std::int64_t>(sys_days{ymd}.time_since_epoch().count()) * 86400;
}

}  // namespace signpost::tlsrpt
