// relay/submission/ingest.cpp — header/body split, submission fix-ups, signing, commit
// (see ingest.hpp).
#include "relay/submission/ingest.hpp"

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <random>

#include "relay/inbound/auth.hpp"
#include "relay/queue/dsn.hpp"
#include "signer/header.hpp"
#include "signer/sign.hpp"

namespace signpost::submission {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
    return s;
}

bool atext(unsigned char c) {
    return std::isalnum(c) || c >= 0x80 || std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string_view::npos;
}

// RFC 5322 §3.4.1 addr-spec: (dot-atom / quoted-string) "@" (dot-atom / domain-literal).
// Strict on purpose: a From that two parsers could read differently is refused.
bool valid_addr_spec(std::string_view a) {
    auto at = a.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return false;
    std::string_view local = a.substr(0, at), domain = a.substr(at + 1);
    if (local.front() == '"') {
        if (local.size() < 2 || local.back() != '"') return false;
        for (std::size_t i = 1; i + 1 < local.size(); ++i) {
            if (local[i] == '\\') ++i;
            else if (local[i] == '"') return false;
        }
    } else {
        if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
        for (unsigned char c : local)
            if (!atext(c) && c != '.') return false;
    }
    if (domain.front() == '[') return domain.back() == ']' && domain.find_first_of("[]\\", 1) == domain.size() - 1;
    if (domain.front() == '.' || domain.back() == '.' || domain.find("..") != std::string_view::npos) return false;
    for (unsigned char c : domain)
        if (!(std::isalnum(c) || c == '-' || c == '.' || c >= 0x80)) return false;
    return true;
}

// The addr-spec of one mailbox: "Name <a@b>" -> "a@b"; "a@b (Name)" -> "a@b". nullopt
// unless the mailbox is exactly one display-name (optional) and one address: text after
// the ">" or an unquoted special in the display name makes it unreadable.
std::optional<std::string> mailbox_address(std::string_view mailbox) {
    std::string outside;  // the text outside <...>, comments removed
    std::string angle;
    enum { before, inside, after } where = before;
    bool in_quote = false, saw_angle = false;
    int comment = 0;
    for (std::size_t i = 0; i < mailbox.size(); ++i) {
        char c = mailbox[i];
        std::string& out = where == inside ? angle : outside;
        if (in_quote) {
            out += c;
            if (c == '\\' && i + 1 < mailbox.size()) out += mailbox[++i];
            else if (c == '"') in_quote = false;
            continue;
        }
        if (comment > 0) {
            if (c == '\\') ++i;
            else if (c == '(') ++comment;
            else if (c == ')') --comment;
            continue;
        }
        if (c == '(' && where != inside) {
            ++comment;
            continue;
        }
        if (where == after) {
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return std::nullopt;  // text after ">"
            continue;
        }
        if (c == '"') {
            in_quote = true;
            out += c;
        } else if (c == '<') {
            if (where != before) return std::nullopt;
            where = inside;
            saw_angle = true;
        } else if (c == '>') {
            if (where != inside) return std::nullopt;
            where = after;
        } else {
            out += c;
        }
    }
    if (in_quote || comment > 0 || where == inside) return std::nullopt;
    std::string addr;
    if (saw_angle) {
        // The display name: words and quoted strings, no unquoted specials.
        bool quoted = false;
        for (std::size_t i = 0; i < outside.size(); ++i) {
            char c = outside[i];
            if (quoted) {
                if (c == '\\') ++i;
                else if (c == '"') quoted = false;
            } else if (c == '"') {
                quoted = true;
            } else if (std::string_view("@,;:[]\\<>").find(c) != std::string_view::npos) {
                return std::nullopt;
            }
        }
        addr = std::string(trim(angle));
    } else {
        addr = std::string(trim(outside));
    }
    // Folding inside an address is allowed only at its ends (trimmed above).
    if (addr.find_first_of(" \t\r\n") != std::string::npos) return std::nullopt;
    if (!valid_addr_spec(addr)) return std::nullopt;
    return addr;
}

std::string header_value(const signer::HeaderField& f) { return std::string(f.value); }

bool has_non_ascii(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

}  // namespace

bool needs_smtputf8(const smtp::Envelope& envelope, std::string_view header) {
    if (!envelope.smtputf8) return false;
    if (has_non_ascii(envelope.mail_from) || has_non_ascii(header)) return true;
    return std::any_of(envelope.rcpt_to.begin(), envelope.rcpt_to.end(),
                       [](const std::string& r) { return has_non_ascii(r); });
}

bool tls_required_no(std::string_view header) {
    int fields = 0;
    bool no = false;
    std::size_t pos = 0;
    while (pos < header.size()) {
        std::size_t eol = header.find('\n', pos);
        if (eol == std::string_view::npos) eol = header.size();
        std::string_view line = header.substr(pos, eol - pos);
        pos = eol + 1;
        if (line.empty() || line[0] == ' ' || line[0] == '\t') continue;  // a continuation or the end
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name(line.substr(0, colon));
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
        if (lower(name) != "tls-required") continue;
        ++fields;
        std::string value(line.substr(colon + 1));
        while (pos < header.size() && (header[pos] == ' ' || header[pos] == '\t')) {  // unfold
            std::size_t next = header.find('\n', pos);
            if (next == std::string_view::npos) next = header.size();
            value.append(header.substr(pos, next - pos));
            pos = next + 1;
        }
        std::string trimmed;
        for (char c : value)
            if (c != ' ' && c != '\t' && c != '\r') trimmed.push_back(c);
        no = lower(trimmed) == "no";
    }
    return fields == 1 && no;
}

std::string sign_own_message(const config::Config& config, keys::KeyStore& keys, std::string_view message,
                             std::string_view from_domain, std::chrono::system_clock::time_point now) {
    const config::DomainConfig* domain = config.find_domain(lower(from_domain));
    if (!domain) return {};
    auto keyset = keys.signing_keys(domain->name);
    if (!keyset || keyset->keys.empty()) return {};
    std::size_t end = message.find("\r\n\r\n");
    std::string_view header = end == std::string_view::npos ? message : message.substr(0, end + 2);
    std::string_view body = end == std::string_view::npos ? std::string_view() : message.substr(end + 4);
    const auto params = keys::sign_params(*domain);
    signer::BodyHasher hasher(params.body_canon);
    hasher.update(body);
    signer::BodyHash bh = hasher.finish();
    auto sigs = signer::sign(std::string(header), {&bh, 1}, keyset->keys, params, now);
    if (!sigs) return {};
    std::string out;
    for (const auto& s : *sigs) out += s;
    return out;
}

std::string received_protocol(bool esmtp, bool smtputf8, bool tls, bool authenticated) {
    std::string with = smtputf8 ? "UTF8SMTP" : esmtp ? "ESMTP" : "SMTP";
    if (tls) with += 'S';
    if (authenticated) with += 'A';
    return with;
}

std::optional<std::string> single_mailbox(std::string_view value, std::string& problem) {
    // Split at top-level commas and group punctuation; count mailboxes.
    std::vector<std::string_view> parts;
    bool in_quote = false;
    int comment = 0, angle = 0;
    std::size_t start = 0;
    bool group = false;
    for (std::size_t i = 0; i < value.size(); ++i) {
        char c = value[i];
        if (in_quote) {
            if (c == '\\') ++i;
            else if (c == '"') in_quote = false;
            continue;
        }
        if (comment > 0) {
            if (c == '\\') ++i;
            else if (c == '(') ++comment;
            else if (c == ')') --comment;
            continue;
        }
        switch (c) {
            case '"': in_quote = true; break;
            case '(': ++comment; break;
            case '<': ++angle; break;
            case '>': angle = std::max(0, angle - 1); break;
            case ',':
            case ';':
                if (angle == 0) {
                    parts.push_back(value.substr(start, i - start));
                    start = i + 1;
                }
                break;
            case ':':
                if (angle == 0) {  // "group: a@b, c@d;" (RFC 5322 §3.4)
                    group = true;
                    start = i + 1;
                }
                break;
            default: break;
        }
    }
    parts.push_back(value.substr(start));
    std::vector<std::string> addresses;
    for (auto p : parts) {
        if (trim(p).empty()) continue;
        auto a = mailbox_address(p);
        if (!a) {
            problem = "the From field has an address that cannot be read";
            return std::nullopt;
        }
        addresses.push_back(*a);
    }
    if (addresses.empty()) {
        problem = group ? "the From field holds an empty group" : "the From field holds no address";
        return std::nullopt;
    }
    if (addresses.size() > 1) {
        problem = "the From field holds " + std::to_string(addresses.size()) + " addresses";
        return std::nullopt;
    }
    return addresses.front();
}

Ingest::Ingest(std::shared_ptr<const config::Config> config, std::shared_ptr<keys::KeyStore> keys,
               SenderCheck may_send_as, std::unique_ptr<queue::IncomingMessage> spool_file,
               IngestContext context)
    : config_(std::move(config)), keys_(std::move(keys)), may_send_as_(std::move(may_send_as)),
      file_(std::move(spool_file)), ctx_(std::move(context)) {}

void Ingest::write(std::string_view bytes) {
    size_ += bytes.size();
    if (in_body_) {
        body(bytes);
        return;
    }
    // Still in the header section: look for the empty line that ends it. Only the new
    // bytes (plus the three before them) need to be searched.
    std::size_t old = header_.size();
    header_.append(bytes);
    std::size_t from = old >= 3 ? old - 3 : 0;
    std::size_t end = std::string::npos;
    if (header_.rfind("\r\n", 1) == 0) end = 0;  // no header fields at all
    else end = header_.find("\r\n\r\n", from);
    if (end == std::string::npos) {
        if (header_.size() > kMaxHeaderBytes) {
            header_too_big_ = true;
            header_.resize(0);
            in_body_ = true;  // the rest is discarded
        }
        return;
    }
    std::size_t header_len = end == 0 ? 0 : end + 2;  // keep the header's last CRLF
    std::size_t body_start = end == 0 ? 2 : end + 4;
    std::string rest = header_.substr(body_start);
    header_.resize(header_len);
    in_body_ = true;
    end_of_header();
    // The header section and its separator line go to the file as received.
    if (!write_error_) write_error_ = file_->write(header_);
    if (!write_error_) write_error_ = file_->write("\r\n");
    body(rest);
}

void Ingest::end_of_header() {
    if (header_too_big_) return;
    if (ctx_.inbound) {
        end_of_inbound_header();
        return;
    }
    auto fields = signer::parse_header_block(header_);
    if (!fields) {
        from_problem_ = "the header section is malformed (" + fields.error().message() + ")";
        return;
    }
    const signer::HeaderField* from = nullptr;
    int from_count = 0;
    for (const auto& f : *fields) {
        if (signer::header_name_equals(f.name, "from")) {
            from = &f;
            ++from_count;
        }
    }
    if (from_count != 1) {
        from_problem_ = from_count == 0 ? "the message has no From field"
                                        : "the message has " + std::to_string(from_count) + " From fields";
        return;
    }
    std::string problem;
    auto addr = single_mailbox(header_value(*from), problem);
    if (!addr) {
        from_problem_ = problem;
        return;
    }
    from_address_ = *addr;
    std::string domain = lower(from_address_.substr(from_address_.rfind('@') + 1));
    domain_ = config_->find_domain(domain);
    if (domain_) {
        auto params = keys::sign_params(*domain_);
        hasher_.emplace(params.body_canon);
    }
}

// Inbound: an Authentication-Results field naming our host name as its authserv-id did not
// come from us (RFC 8601 §5) and goes; the DKIM verification starts on the header as it
// will be stored; the From domain is noted for DMARC.
void Ingest::end_of_inbound_header() {
    auto fields = signer::parse_header_block(header_);
    if (!fields) return;  // no checks can read it; stored as it came
    std::string kept;
    int from_count = 0;
    std::string_view from_value;
    for (const auto& f : *fields) {
        if (signer::header_name_equals(f.name, "authentication-results") &&
            inbound::claims_authserv_id(f.value, config_->server.hostname)) {
            ++forged_results_removed_;
            continue;
        }
        if (signer::header_name_equals(f.name, "from")) {
            ++from_count;
            from_value = f.value;
        }
        kept += f.raw;
    }
    if (from_count == 1) {
        std::string problem;
        if (auto addr = single_mailbox(std::string(from_value), problem))
            from_domain_ = lower(addr->substr(addr->rfind('@') + 1));
    }
    if (forged_results_removed_ > 0) {
        size_ -= header_.size() - kept.size();
        header_ = std::move(kept);
    }
    verifier_.emplace(header_);
}

void Ingest::body(std::string_view bytes) {
    if (header_too_big_ || bytes.empty()) return;
    if (hasher_) hasher_->update(bytes);
    if (verifier_) verifier_->body(bytes);
    if (!write_error_) write_error_ = file_->write(bytes);
}

void Ingest::abort() {
    if (file_) file_->abort();
}

const char* to_label(Refusal r) noexcept {
    switch (r) {
        case Refusal::size: return "size";
        case Refusal::bad_from: return "bad_from";
        case Refusal::sender_not_allowed: return "sender_not_allowed";
        case Refusal::no_domain: return "no_domain";
        case Refusal::no_key: return "no_key";
        case Refusal::storage: return "storage";
        case Refusal::local_error: return "local_error";
        case Refusal::data_error: return "data_error";
        case Refusal::unknown_recipient: return "unknown_recipient";
        case Refusal::relay_denied: return "relay_denied";
        case Refusal::dmarc: return "dmarc";
        case Refusal::rate_limited: return "rate_limited";
    }
    return "local_error";
}

// The spool could not write or commit: 452 4.3.1 when the disk is full, else 451 4.3.0.
IngestResult Ingest::refuse_storage(std::error_code ec, const char* what) {
    const bool full = ec == std::errc::no_space_on_device;
    return refuse(full ? Refusal::storage : Refusal::local_error, full ? 452 : 451, full ? "4.3.1" : "4.3.0",
                  full ? "Insufficient system storage; try again later" : "Local error in processing; try again later",
                  std::string(what) + ": " + ec.message());
}

IngestResult Ingest::refuse(Refusal why, int code, const char* enhanced, std::string text, std::string reason) {
    abort();
    IngestResult r;
    r.refusal = why;
    r.reply = smtp::make_reply(code, enhanced, std::move(text));
    r.reason = std::move(reason);
    return r;
}

IngestResult Ingest::finish(std::chrono::system_clock::time_point now) {
    if (!in_body_) {
        // The message ended inside its header section (no empty line): all header.
        if (!header_.empty() && header_.size() >= 2 && header_.compare(header_.size() - 2, 2, "\r\n") != 0)
            header_ += "\r\n";
        in_body_ = true;
        end_of_header();
        if (!write_error_) write_error_ = file_->write(header_);
    }
    if (header_too_big_)
        return refuse(Refusal::size, 552, "5.3.4", "The header section is larger than " + std::to_string(kMaxHeaderBytes / 1024) + " KB",
                      "header too large");
    if (ctx_.inbound) return finish_inbound(now);
    if (!from_problem_.empty())
        return refuse(Refusal::bad_from, 550, "5.6.0", "Message refused: " + from_problem_ + "; it must have exactly one From address",
                      "bad From");
    if (!may_send_as_(ctx_.user, from_address_))
        return refuse(Refusal::sender_not_allowed, 550, "5.7.1", "User " + ctx_.user + " may not send as From: <" + from_address_ + ">",
                      "From not allowed");
    if (!domain_) {
        std::string d = from_address_.substr(from_address_.rfind('@') + 1);
        return refuse(Refusal::no_domain, 550, "5.7.1", "Signpost does not sign for " + d + " (no [[domain]] entry); not relaying",
                      "no domain");
    }
    auto keyset = keys_->signing_keys(domain_->name);
    if (!keyset || keyset->keys.empty())
        return refuse(Refusal::no_key, 451, "4.7.0", keys_->no_active_key_reason(domain_->name), "no active key");
    if (write_error_) return refuse_storage(write_error_, "spool write");

    // Fix-ups (RFC 6409 §8), in the order they will be delivered.
    std::string fixups;
    const std::string& id = file_->id();
    const std::string& host = config_->server.hostname;
    std::string date = queue::rfc5322_date(now);
    // Submission is always authenticated here.
    std::string with = received_protocol(ctx_.esmtp, ctx_.envelope.smtputf8, !ctx_.tls.empty(), true);
    if (config_->server.received_client)
        fixups += "Received: from " + (ctx_.client_name.empty() ? std::string("unknown") : ctx_.client_name) + " ([" +
                  ctx_.client_address + "])\r\n\tby " + host + " (Signpost) with " + with + " id " + id +
                  (ctx_.tls.empty() ? "" : "\r\n\t(" + ctx_.tls + ")") + ";\r\n\t" + date + "\r\n";
    else
        fixups += "Received: by " + host + " (Signpost) with " + with + " id " + id + ";\r\n\t" + date + "\r\n";
    auto fields = signer::parse_header_block(header_);
    bool has_date = false, has_msgid = false;
    for (const auto& f : *fields) {
        has_date |= signer::header_name_equals(f.name, "date");
        has_msgid |= signer::header_name_equals(f.name, "message-id");
    }
    if (!has_date) fixups += "Date: " + date + "\r\n";
    if (!has_msgid) fixups += "Message-ID: <" + id + "@" + host + ">\r\n";

    std::string signed_header = fixups + header_;
    signer::BodyHash bh = hasher_->finish();
    auto sigs = signer::sign(signed_header, {&bh, 1}, keyset->keys, keys::sign_params(*domain_), now, ctx_.spare);
    if (!sigs)
        return refuse(Refusal::local_error, 451, "4.7.0", "Signing failed; try again later", "sign: " + sigs.error().message());

    queue::Envelope env;
    env.mail_from = ctx_.envelope.mail_from;
    env.set_recipients(ctx_.envelope.rcpt_to);
    env.user = ctx_.user;
    env.client = ctx_.client_address;
    for (const auto& s : *sigs) env.prepend += s;
    env.prepend += fixups;
    env.arrival = now;
    env.size = size_;
    // What the next hop must offer, not what the client said it may send (DESIGN.md).
    env.smtputf8 = needs_smtputf8(ctx_.envelope, header_);
    env.body_8bit = ctx_.envelope.body_8bit;
    env.requiretls = ctx_.envelope.requiretls;
    // RFC 8689 §4.1: with REQUIRETLS the TLS-Required field is ignored.
    env.tls_required_no = !env.requiretls && tls_required_no(header_);
    if (auto ec = file_->commit(env)) return refuse_storage(ec, "spool commit");
    IngestResult r;
    r.queue_id = id;
    r.envelope = std::move(env);
    r.signed_domain = domain_->name;
    for (const auto& k : keyset->keys) {
        r.selectors.push_back(k.s);
        r.key_types.push_back(k.key.type());
    }
    r.reply = smtp::make_reply(250, "2.0.0", "Ok: queued as " + id);
    return r;
}

IngestResult Ingest::finish_inbound(std::chrono::system_clock::time_point now) {
    if (write_error_) return refuse_storage(write_error_, "spool write");
    const std::string& id = file_->id();
    // RFC 5321 §4.4: the client's name and address, always (this is not a user's private
    // submission), and "for" when there is one recipient (naming several would disclose
    // the others' addresses to each).
    std::string received = "Received: from " + (ctx_.client_name.empty() ? std::string("unknown") : ctx_.client_name) +
                           " ([" + ctx_.client_address + "])\r\n\tby " + config_->server.hostname + " (Signpost) with " +
                           received_protocol(ctx_.esmtp, ctx_.envelope.smtputf8, !ctx_.tls.empty(), false) + " id " + id +
                           (ctx_.tls.empty() ? "" : "\r\n\t(" + ctx_.tls + ")");
    if (ctx_.envelope.rcpt_to.size() == 1) received += "\r\n\tfor <" + ctx_.envelope.rcpt_to.front() + ">";
    received += ";\r\n\t" + queue::rfc5322_date(now) + "\r\n";

    queue::Envelope env;
    env.mail_from = ctx_.envelope.mail_from;
    env.set_recipients(ctx_.envelope.rcpt_to);
    env.client = ctx_.client_address;
    // RFC 8601 §5: the results go above the trace field of the same host.
    env.prepend = authentication_results_ + received;
    env.arrival = now;
    env.size = size_;
    env.smtputf8 = needs_smtputf8(ctx_.envelope, header_);
    env.body_8bit = ctx_.envelope.body_8bit;
    env.tls_required_no = tls_required_no(header_);
    if (auto ec = file_->commit(env)) return refuse_storage(ec, "spool commit");
    IngestResult r;
    r.queue_id = id;
    r.envelope = std::move(env);
    r.reply = smtp::make_reply(250, "2.0.0", "Ok: queued as " + id);
    return r;
}

}  // namespace signpost::submission
