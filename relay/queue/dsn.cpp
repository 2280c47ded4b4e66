// relay/queue/dsn.cpp — RFC 3464 / RFC 6522 delivery status notifications (see dsn.hpp).
#include "relay/queue/dsn.hpp"

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string_view>

namespace signpost::queue {

namespace {

constexpr std::size_t kWidth = 78;      // RFC 5322 §2.1.1 SHOULD
constexpr std::size_t kMaxLine = 998;   // RFC 5322 §2.1.1 MUST
constexpr std::string_view kCrlf = "\r\n";

// Untrusted text -> one printable line. CR, LF and TAB become spaces (a multi-line SMTP
// reply reads as one line); other controls and invalid UTF-8 become '?'. Valid non-ASCII
// code points and the backslash itself become \x{HHHH} (RFC 6533 §3) unless `keep_utf8`
// (the RFC 6533 international form), which keeps them as they are.
std::string clean_text(std::string_view in, bool keep_utf8) {
    std::string out;
    out.reserve(in.size());
    std::size_t i = 0;
    while (i < in.size()) {
        const auto c = static_cast<unsigned char>(in[i]);
        if (c < 0x80) {
            if (c == '\r' || c == '\n' || c == '\t') out += ' ';
            else if (c == '\\' && !keep_utf8) out += "\\x{5C}";  // so our escapes stay unambiguous
            else if (c < 0x20 || c == 0x7f) out += '?';
            else out += static_cast<char>(c);
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
        bool ok = len != 0 && i + len <= in.size();
        for (std::size_t k = 1; ok && k < len; ++k) {
            const auto cc = static_cast<unsigned char>(in[i + k]);
            if ((cc & 0xc0) != 0x80) ok = false;
            else cp = (cp << 6) | (cc & 0x3f);
        }
        // Reject overlong forms, surrogates and values past U+10FFFF.
        if (ok && ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
                   (cp >= 0xd800 && cp <= 0xdfff)))
            ok = false;
        if (!ok) {
            out += '?';
            ++i;
            continue;
        }
        if (keep_utf8) {
            out.append(in.substr(i, len));
        } else {
            char buf[16];
            std::snprintf(buf, sizeof buf, "\\x{%04X}", static_cast<unsigned>(cp));
            out += buf;
        }
        i += len;
    }
    return out;
}

std::string to_7bit(std::string_view in) { return clean_text(in, false); }

bool has_8bit(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return true;
    return false;
}

// Folds `first` + `value` into lines of at most kWidth octets, breaking at spaces; a word
// too long for a line is cut. Continuation lines start with `indent` (which must begin
// with whitespace for header fields, RFC 5322 §2.2.3). Returns the lines joined by CRLF,
// without a final CRLF.
std::string fold(std::string_view first, std::string_view value, std::string_view indent) {
    std::string out;
    std::string line(first);
    bool line_has_word = false;
    std::size_t pos = 0;
    auto flush = [&]() {
        out += line;
        out += kCrlf;
        line.assign(indent);
        line_has_word = false;
    };
    while (pos < value.size()) {
        while (pos < value.size() && value[pos] == ' ') ++pos;
        if (pos >= value.size()) break;
        std::size_t end = value.find(' ', pos);
        if (end == std::string_view::npos) end = value.size();
        std::string_view word = value.substr(pos, end - pos);
        pos = end;
        const std::size_t sep = line_has_word ? 1 : 0;
        if (line.size() + sep + word.size() > kWidth && line_has_word) flush();
        while (line.size() + (line_has_word ? 1 : 0) + word.size() > kWidth) {
            // The word alone does not fit: cut it.
            if (line_has_word) flush();
            std::size_t room = kWidth > line.size() ? kWidth - line.size() : 1;
            // Never inside a UTF-8 sequence (the international form keeps UTF-8).
            while (room > 1 && room < word.size() && (static_cast<unsigned char>(word[room]) & 0xc0) == 0x80) --room;
            line += word.substr(0, room);
            word.remove_prefix(room);
            line_has_word = true;
            if (!word.empty()) flush();
        }
        if (!word.empty()) {
            if (line_has_word) line += ' ';
            line += word;
            line_has_word = true;
        }
    }
    out += line;
    return out;
}

// A header field (or DSN field), folded, ending in CRLF.
std::string field(std::string_view name, std::string_view value) {
    std::string first(name);
    first += ": ";
    return fold(first, value, " ") + std::string(kCrlf);
}

// Only the characters of a host name (and of an address literal) survive.
std::string clean_host(std::string_view host) {
    std::string out;
    for (char c : host) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
            c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']')
            out += c;
    }
    return out.empty() ? std::string("localhost") : out;
}

std::string strip_angles(std::string_view a) {
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
    return std::string(a);
}

bool valid_status(std::string_view s, char cls) {
    // class "." subject "." detail, RFC 3463 §2: 1 digit, 1-3 digits, 1-3 digits.
    if (s.size() < 5 || s[0] != cls || s[1] != '.') return false;
    std::size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        std::size_t n = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') { ++i; ++n; }
        if (n < 1 || n > 3) return false;
        if (part == 0) {
            if (i >= s.size() || s[i] != '.') return false;
            ++i;
        }
    }
    return i == s.size();
}

// The original header section: up to its first empty line, CRLF endings, 8-bit octets kept
// (returned intact), NUL and other controls as '?', lines no longer than kMaxLine.
std::string clean_headers(std::string_view h) {
    std::string out;
    std::size_t pos = 0;
    while (pos < h.size()) {
        std::size_t end = h.find_first_of("\r\n", pos);
        if (end == std::string_view::npos) end = h.size();
        std::string_view line = h.substr(pos, end - pos);
        pos = end;
        if (pos < h.size() && h[pos] == '\r') ++pos;
        if (pos < h.size() && h[pos] == '\n') ++pos;
        if (line.empty()) break;  // end of the header section
        if (line.size() > kMaxLine) line = line.substr(0, kMaxLine);
        for (char c : line) {
            const auto u = static_cast<unsigned char>(c);
            out += (u == 0 || (u < 0x20 && c != '\t') || u == 0x7f) ? '?' : c;
        }
        out += kCrlf;
    }
    return out;
}

std::string alnum_only(std::string_view s) {
    std::string out;
    for (char c : s)
        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) out += c;
    return out;
}

}  // namespace

std::string rfc5322_date(std::chrono::system_clock::time_point t) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                  tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    return buf;
}

bool dsn_needs_8bit(std::string_view dsn) { return has_8bit(dsn); }

std::optional<std::string> build_dsn(const DsnInput& in) {
    const std::string sender = strip_angles(in.envelope_sender);
    if (sender.empty()) return std::nullopt;  // never bounce a bounce (RFC 3464 §2, RFC 3834 §2)
    if (in.recipients.empty()) return std::nullopt;

    const bool failure = in.kind == DsnKind::failure;
    const bool intl = in.international;
    const std::string host = clean_host(in.reporting_host);
    const std::string qid = to_7bit(in.queue_id);

    // ---- part 1: text/plain, our words; the remote reply is quoted and labelled.
    std::string text;
    text += fold("", "This is the mail system at host " + host + ".", "") + "\r\n\r\n";
    if (failure) {
        text += fold("", "Your message (queue id " + qid + ", received " +
                             rfc5322_date(in.arrival) +
                             ") could not be delivered to the recipients listed below. "
                             "The mail system has given up and will not try again.",
                     "");
    } else {
        text += fold("", "Your message (queue id " + qid + ", received " +
                             rfc5322_date(in.arrival) +
                             ") has not yet been delivered to the recipients listed below. "
                             "The mail system will keep trying until " +
                             rfc5322_date(in.retry_until) +
                             ". You do not need to send it again; you will be told if it "
                             "finally fails.",
                     "");
    }
    text += "\r\n";
    for (const auto& r : in.recipients) {
        const char cls = failure ? '5' : '4';
        const std::string status =
            valid_status(r.status, cls) ? r.status : std::string(1, cls) + ".0.0";
        text += "\r\n";
        // Appended, not `"<" + string`: GCC 12 -O3 reports a false -Wrestrict there (bug 105651).
        std::string bracketed = "<";
        bracketed += clean_text(r.address, intl);
        bracketed += ">:";
        text += fold("", bracketed, "    ") + "\r\n";
        text += "    Status " + status + ", last attempt " + rfc5322_date(r.last_attempt) + "\r\n";
        if (r.remote_host)
            text += fold(r.remote ? "    Remote server: " : "    Server tried: ", clean_host(*r.remote_host), "    ") +
                    "\r\n";
        const std::string diag = clean_text(r.diagnostic, intl);
        if (diag.find_first_not_of(' ') != std::string::npos) {
            text += r.remote ? "    The remote server replied:\r\n" : "    Signpost did not deliver it:\r\n";
            text += fold("        ", diag, "        ") + "\r\n";
        }
    }

    // ---- part 2: message/delivery-status, RFC 3464 §2.2 (per message), §2.3 (per recipient).
    std::string status_part;
    status_part += field("Reporting-MTA", "dns; " + host);
    status_part += field("X-Signpost-Queue-ID", qid);
    status_part += field("Arrival-Date", rfc5322_date(in.arrival));
    for (const auto& r : in.recipients) {
        const char cls = failure ? '5' : '4';
        const std::string status =
            valid_status(r.status, cls) ? r.status : std::string(1, cls) + ".0.0";
        status_part += kCrlf;
        // RFC 6533 §3: the "utf-8" address type carries a UTF-8 address as it is.
        const std::string rcpt = strip_angles(r.address);
        status_part += field("Final-Recipient", intl && has_8bit(rcpt) ? "utf-8; " + clean_text(rcpt, true)
                                                                       : "rfc822; " + to_7bit(rcpt));
        status_part += field("Action", failure ? "failed" : "delayed");
        status_part += field("Status", status);
        // Remote-MTA and an "smtp" diagnostic only for a server's own reply (RFC 3464
        // §2.3.5, §2.3.6); Signpost's decisions get its own diagnostic type.
        if (r.remote_host && r.remote) status_part += field("Remote-MTA", "dns; " + clean_host(*r.remote_host));
        const std::string diag = clean_text(r.diagnostic, intl);
        if (diag.find_first_not_of(' ') != std::string::npos)
            status_part += field("Diagnostic-Code", (r.remote ? "smtp; " : "X-Signpost; ") + diag);
        status_part += field("Last-Attempt-Date", rfc5322_date(r.last_attempt));
        if (!failure) status_part += field("Will-Retry-Until", rfc5322_date(in.retry_until));
    }

    // ---- part 3: text/rfc822-headers.
    const std::string headers_part = clean_headers(in.original_headers);

    // ---- boundary: must not occur in any part (RFC 2046 §5.1.1).
    std::string boundary;
    for (unsigned counter = 0;; ++counter) {
        boundary = "=_signpost-dsn-" + alnum_only(in.queue_id) + "-" + std::to_string(counter);
        if (text.find(boundary) == std::string::npos &&
            status_part.find(boundary) == std::string::npos &&
            headers_part.find(boundary) == std::string::npos)
            break;
    }

    // ---- the message.
    std::string m;
    m += "From: \"Mail Delivery System\" <MAILER-DAEMON@" + host + ">\r\n";
    m += field("To", "<" + clean_text(sender, intl) + ">");
    m += field("Subject", failure ? "Undelivered Mail Returned to Sender"
                                  : "Delayed Mail (still being retried)");
    m += field("Date", rfc5322_date(in.now));
    const auto epoch =
        std::chrono::duration_cast<std::chrono::seconds>(in.now.time_since_epoch()).count();
    m += field("Message-ID", "<" + alnum_only(in.queue_id) + "." +
                                 (failure ? "failed" : "delayed") + "." + std::to_string(epoch) +
                                 "@" + host + ">");
    m += "MIME-Version: 1.0\r\n";
    m += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 §5: a DSN is a reply, never answered
    m += "Content-Type: multipart/report; report-type=delivery-status;\r\n"
         "\tboundary=\"" + boundary + "\"\r\n";
    m += "\r\n";
    m += "This is a MIME-encapsulated message.\r\n";
    m += "\r\n--" + boundary + "\r\n";
    m += "Content-Description: Notification\r\n";
    m += intl ? "Content-Type: text/plain; charset=utf-8\r\n" : "Content-Type: text/plain; charset=us-ascii\r\n";
    m += has_8bit(text) ? "Content-Transfer-Encoding: 8bit\r\n\r\n" : "Content-Transfer-Encoding: 7bit\r\n\r\n";
    m += text;
    m += "\r\n--" + boundary + "\r\n";
    m += "Content-Description: Delivery report\r\n";
    m += intl ? "Content-Type: message/global-delivery-status\r\n" : "Content-Type: message/delivery-status\r\n";
    m += has_8bit(status_part) ? "Content-Transfer-Encoding: 8bit\r\n\r\n" : "Content-Transfer-Encoding: 7bit\r\n\r\n";
    m += status_part;
    m += "\r\n--" + boundary + "\r\n";
    m += "Content-Description: Undelivered Message Headers\r\n";
    m += intl ? "Content-Type: message/global-headers\r\n" : "Content-Type: text/rfc822-headers\r\n";
    m += has_8bit(headers_part) ? "Content-Transfer-Encoding: 8bit\r\n\r\n" : "Content-Transfer-Encoding: 7bit\r\n\r\n";
    m += headers_part;
    m += "\r\n--" + boundary + "--\r\n";
    return m;
}

}  // namespace signpost::queue
