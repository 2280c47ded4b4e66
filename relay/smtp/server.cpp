// relay/smtp/server.cpp — the SMTP submission server state machine (see server.hpp).
//
// Read top to bottom: replies and their helpers, the line entry points, then one handler
// per verb in the order a session uses them, then AUTH, BDAT and the I/O callbacks.
#include "relay/smtp/server.hpp"

#include <arpa/inet.h>

#include <limits>
#include <stdexcept>
#include <utility>

#include "relay/smtp/command.hpp"
#include "relay/smtp/sasl.hpp"

namespace signpost::smtp {
namespace {

// RFC 4954 §4 LOGIN prompts are base64 of "Username:" and "Password:".
constexpr const char* kLoginUserPrompt = "VXNlcm5hbWU6";
constexpr const char* kLoginPasswordPrompt = "UGFzc3dvcmQ6";

Reply bad_sequence(std::string text) { return make_reply(503, "5.5.1", std::move(text)); }
Reply send_ehlo_first() { return bad_sequence("Send EHLO first"); }
Reply auth_required() { return make_reply(530, "5.7.0", "Authentication required"); }
Reply syntax(std::string text) { return make_reply(501, "5.5.4", std::move(text)); }
Reply cannot_decode() { return make_reply(501, "5.5.2", "Cannot decode response"); }
Reply credentials_invalid() { return make_reply(535, "5.7.8", "Authentication credentials invalid"); }
Reply too_big() { return make_reply(552, "5.3.4", "Message size exceeds fixed maximum message size"); }
Reply non_ascii() { return make_reply(553, "5.6.7", "Address contains non-ASCII; SMTPUTF8 required"); }

// The reply for a MAIL/RCPT argument error. Syntax of the command itself: 501 5.5.4;
// unsupported parameters: 555 5.5.4 (RFC 5321 §4.1.1.11); the path: 553 with 5.1.7 (bad
// sender syntax) or 5.1.3 (bad destination syntax), RFC 3463 §3.2.
Reply argument_reply(Errc e, bool sender) {
    const std::string detail = make_error_code(e).message();
    switch (e) {
    case Errc::argument_syntax:
    case Errc::path_not_bracketed:
        return syntax(sender ? "Syntax: MAIL FROM:<address> [parameters]" : "Syntax: RCPT TO:<address>");
    case Errc::param_syntax:
    case Errc::param_duplicate:
    case Errc::param_value:
        return syntax("Syntax error in parameters: " + detail);
    case Errc::param_unsupported:
        return make_reply(555, "5.5.4", "Unsupported MAIL FROM/RCPT TO parameter");
    default:
        return sender ? make_reply(553, "5.1.7", "Bad sender address syntax: " + detail)
                      : make_reply(553, "5.1.3", "Bad recipient address syntax: " + detail);
    }
}

// EHLO/HELO argument: Domain / address-literal, but clients send all sorts (bare IPs,
// "localhost", NetBIOS names); accept printable ASCII, as Postfix does. It reaches the
// Received header field, so no controls and no 8-bit octets.
bool acceptable_helo(std::string_view arg) {
    if (arg.empty()) return false;
    for (char ch : arg) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c > 0x7E) return false;
    }
    return true;
}

}  // namespace

bool valid_helo_name(std::string_view name) {
    if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
        std::string_view inner = name.substr(1, name.size() - 2);
        unsigned char bytes[16];
        std::string_view tag = inner.substr(0, 5);
        if (inner.size() > 5 && (tag == "IPv6:" || tag == "ipv6:" || tag == "IPV6:"))
            return ::inet_pton(AF_INET6, std::string(inner.substr(5)).c_str(), bytes) == 1;
        return ::inet_pton(AF_INET, std::string(inner).c_str(), bytes) == 1;
    }
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > 255) return false;
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t dot = name.find('.', start);
        if (dot == std::string_view::npos) dot = name.size();
        const std::string_view label = name.substr(start, dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
        for (char ch : label) {
            const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                            ch == '-' || ch == '_';
            if (!ok) return false;
        }
        start = dot + 1;
    }
    return true;
}

// --- replies ----------------------------------------------------------------------------

Reply make_reply(int code, std::string enhanced, std::string text) {
    Reply r;
    r.code = code;
    r.enhanced = std::move(enhanced);
    r.lines.push_back(std::move(text));
    return r;
}

std::string Reply::wire() const {
    std::string out;
    const std::string code_text = std::to_string(code);
    const std::size_t n = lines.empty() ? 1 : lines.size();
    for (std::size_t i = 0; i < n; ++i) {
        const std::string_view text = lines.empty() ? std::string_view{} : std::string_view(lines[i]);
        out += code_text;
        out += i + 1 < n ? '-' : ' ';
        if (!enhanced.empty()) {
            out += enhanced;
            if (!text.empty()) out += ' ';
        }
        for (char c : text) out += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
        out += "\r\n";
    }
    return out;
}

// --- construction and step helpers --------------------------------------------------------

ServerProtocol::ServerProtocol(ServerOptions options, Policy& policy)
    : options_(std::move(options)), policy_(policy) {}

Step ServerProtocol::finish(Step step) {
    for (const Reply& r : step.replies) {
        if (r.code == 421) {  // RFC 5321 §3.8: 421 means the server closes the channel
            state_ = State::closed;
            wait_ = Wait::none;
            clear_credentials();
            step.next = Next::close;
            break;
        }
    }
    if (step.next != Next::read_line && step.next != Next::read_bdat) step.flush = true;
    return step;
}

Step ServerProtocol::bad(Reply reply) {
    if (bad_commands_ < std::numeric_limits<std::uint32_t>::max()) ++bad_commands_;
    Step s;
    s.replies.push_back(std::move(reply));
    if (bad_commands_ >= options_.max_bad_commands) {
        s.replies.push_back(make_reply(421, "4.7.0", options_.hostname + " Too many errors, closing connection"));
    }
    return finish(std::move(s));
}

Step ServerProtocol::progress(Reply reply) {
    bad_commands_ = 0;
    return neutral(std::move(reply));
}

Step ServerProtocol::neutral(Reply reply) {
    Step s;
    s.replies.push_back(std::move(reply));
    return finish(std::move(s));
}

Step ServerProtocol::closed_step() const {
    Step s;
    s.next = Next::close;
    s.flush = true;
    return s;
}

void ServerProtocol::expect(Wait wait, const char* call) const {
    if (wait_ != wait) {
        throw std::logic_error(std::string("smtp::ServerProtocol::") + call +
                               " called out of order (the last Step asked for something else)");
    }
}

void ServerProtocol::reset_transaction() {
    ++transaction_;
    envelope_ = Envelope{};
    bdat_size_ = 0;
    bdat_last_ = false;
    bdat_total_ = 0;
    bdat_failed_ = false;
    bdat_refusal_.reset();
    if (state_ == State::mail || state_ == State::rcpt || state_ == State::bdat) state_ = State::greeted;
}

void ServerProtocol::clear_credentials() noexcept {
    secure_clear(pending_password_);
    pending_user_.clear();
}

bool ServerProtocol::in_sasl() const {
    return state_ == State::sasl_plain || state_ == State::sasl_login_user ||
           state_ == State::sasl_login_pass;
}

std::size_t ServerProtocol::max_line_length() const {
    return in_sasl() ? max_sasl_line : max_command_line;
}

// --- lines --------------------------------------------------------------------------------

Step ServerProtocol::greeting() {
    if (state_ == State::closed) return closed_step();
    Step s;
    s.replies.push_back(make_reply(220, "", options_.hostname + " ESMTP Signpost"));
    s.flush = true;
    return s;
}

Step ServerProtocol::on_line(std::string_view line, bool bare_lf) {
    if (state_ == State::closed) return closed_step();
    expect(Wait::none, "on_line");
    if (line.size() + 2 > max_line_length()) return on_line_too_long();
    const bool sasl = in_sasl();
    auto refuse = [&](const char* text) {
        if (sasl) {  // a broken response ends the exchange
            state_ = State::greeted;
            clear_credentials();
        }
        return bad(make_reply(500, "5.5.2", text));
    };
    // RFC 5321 §2.3.8: lines end in CRLF only; a bare CR or LF is not a line end.
    if (bare_lf) return refuse("Line must end with CRLF");
    if (line.find('\0') != std::string_view::npos) return refuse("NUL character not allowed");
    if (line.find('\r') != std::string_view::npos) return refuse("Bare CR not allowed; lines must end with CRLF");
    if (sasl) return on_sasl_response(line);
    return on_command(line);
}

Step ServerProtocol::on_line_too_long() {
    if (state_ == State::closed) return closed_step();
    expect(Wait::none, "on_line_too_long");
    if (in_sasl()) {
        state_ = State::greeted;
        clear_credentials();
    }
    return bad(make_reply(500, "5.5.6", "Line too long"));
}

Step ServerProtocol::on_command(std::string_view line) {
    const CommandLine cmd = split_command(line);
    const std::string_view arg = cmd.argument;
    switch (cmd.verb) {
    case Verb::ehlo: return on_ehlo(arg, true);
    case Verb::helo: return on_ehlo(arg, false);
    case Verb::starttls: return on_starttls(arg);
    case Verb::auth: return on_auth(arg);
    case Verb::mail: return on_mail(arg);
    case Verb::rcpt: return on_rcpt(arg);
    case Verb::data: return on_data(arg);
    case Verb::bdat: return on_bdat(arg);
    case Verb::rset: return on_rset(arg);
    case Verb::noop: return neutral(make_reply(250, "2.0.0", "Ok"));  // "NOOP" [SP String]
    case Verb::quit: return on_quit(arg);
    case Verb::vrfy: return on_vrfy(arg);
    case Verb::help:
        return neutral(make_reply(214, "2.0.0",
                                  "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP"));
    case Verb::expn:
    case Verb::turn:
    case Verb::etrn:
    case Verb::atrn:
    case Verb::send:
    case Verb::soml:
    case Verb::saml:
        return bad(make_reply(502, "5.5.1", "Command not implemented"));
    case Verb::unknown: break;
    }
    return bad(make_reply(500, "5.5.2", "Syntax error, command unrecognized"));
}

// --- session commands ---------------------------------------------------------------------

// EHLO / HELO (RFC 5321 §4.1.1.1). Either one resets the transaction (§4.1.4); the
// authentication stays.
Step ServerProtocol::on_ehlo(std::string_view arg, bool esmtp) {
    if (!acceptable_helo(arg)) return bad(syntax(esmtp ? "Syntax: EHLO hostname" : "Syntax: HELO hostname"));
    if (options_.strict_helo && !valid_helo_name(arg))
        return bad(syntax(std::string(esmtp ? "EHLO" : "HELO") +
                          " needs a domain name or an address literal such as [192.0.2.1]"));
    reset_transaction();
    state_ = State::greeted;
    helo_ = std::string(arg);
    esmtp_ = esmtp;
    if (!esmtp) return progress(make_reply(250, "", options_.hostname));
    // Keyword lines carry no enhanced code (RFC 2034 §4), so the reply has none.
    Reply r;
    r.code = 250;
    r.lines = {options_.hostname,
               "PIPELINING",                                           // RFC 2920
               "SIZE " + std::to_string(options_.max_message_size),    // RFC 1870
               "8BITMIME",                                             // RFC 6152
               "SMTPUTF8",                                             // RFC 6531
               "ENHANCEDSTATUSCODES",                                  // RFC 2034
               "CHUNKING"};                                            // RFC 3030
    if (options_.starttls_offered && !options_.tls_active) r.lines.push_back("STARTTLS");  // RFC 3207
    if (options_.tls_active && options_.require_auth) {
        r.lines.push_back("AUTH PLAIN LOGIN");  // RFC 4954; never in clear
        r.lines.push_back("REQUIRETLS");        // RFC 8689 §4: only inside TLS
    }
    return progress(std::move(r));
}

// STARTTLS (RFC 3207 §4). The I/O layer drops bytes read behind it (§4.2, no plaintext
// survives the handshake); on_tls_started() then forgets the session.
Step ServerProtocol::on_starttls(std::string_view arg) {
    if (!options_.starttls_offered || options_.tls_active) {
        return bad(make_reply(454, "4.7.0", "TLS not available"));
    }
    if (!arg.empty()) return bad(syntax("Syntax: STARTTLS"));
    if (state_ != State::fresh && state_ != State::greeted) {
        return bad(bad_sequence("Mail transaction in progress"));
    }
    wait_ = Wait::tls;
    Step s = progress(make_reply(220, "2.0.0", "Ready to start TLS"));
    s.next = Next::start_tls;
    return finish(std::move(s));
}

Step ServerProtocol::on_rset(std::string_view arg) {
    if (!arg.empty()) return bad(syntax("Syntax: RSET"));
    reset_transaction();
    return neutral(make_reply(250, "2.0.0", "Ok"));
}

Step ServerProtocol::on_quit(std::string_view arg) {
    if (!arg.empty()) return bad(syntax("Syntax: QUIT"));
    state_ = State::closed;
    wait_ = Wait::none;
    clear_credentials();
    Step s;
    s.replies.push_back(make_reply(221, "2.0.0", "Bye"));
    s.next = Next::close;
    return finish(std::move(s));
}

// VRFY discloses nothing (RFC 5321 §3.5.3, §7.3): 252.
Step ServerProtocol::on_vrfy(std::string_view arg) {
    if (arg.empty()) return bad(syntax("Syntax: VRFY address"));
    return neutral(make_reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"));
}

// --- the mail transaction -----------------------------------------------------------------

// MAIL FROM:<reverse-path> [SP Mail-parameters] (RFC 5321 §4.1.1.2).
Step ServerProtocol::on_mail(std::string_view arg) {
    if (state_ == State::fresh) return bad(send_ehlo_first());
    if (!may_transact()) return bad(auth_required());
    if (state_ != State::greeted) return bad(bad_sequence("Nested MAIL command"));
    const auto split = split_path_argument(arg, "FROM:");
    if (!split) return bad(argument_reply(static_cast<Errc>(split.error().value()), true));
    const auto address = parse_path(split->path, PathKind::reverse);
    if (!address) return bad(argument_reply(static_cast<Errc>(address.error().value()), true));
    MailParameters params;
    if (!split->parameters.empty()) {
        // Parameters are ESMTP (RFC 5321 §4.1.2): not after HELO.
        if (!esmtp_) return bad(make_reply(555, "5.5.4", "MAIL FROM parameters require EHLO"));
        auto parsed = parse_mail_parameters(split->parameters);
        if (!parsed) return bad(argument_reply(static_cast<Errc>(parsed.error().value()), true));
        params = std::move(*parsed);
    }
    if (params.size && *params.size > options_.max_message_size) return neutral(too_big());  // RFC 1870 §6.1
    if (address->non_ascii && !params.smtputf8) return bad(non_ascii());  // RFC 6531 §3.5
    // REQUIRETLS is not offered on an MX listener: an unknown parameter there (RFC 5321 §4.1.1.11).
    if (params.requiretls && !options_.require_auth)
        return bad(make_reply(555, "5.5.4", "REQUIRETLS not supported on this port"));
    // RFC 8689 §4.1: REQUIRETLS is offered only inside TLS, and so accepted only there.
    if (params.requiretls && !options_.tls_active)
        return bad(make_reply(530, "5.7.10", "REQUIRETLS needs a TLS session: use STARTTLS first"));
    if (auto refusal = policy_.check_sender(user_, address->mailbox)) {
        if (refusal->positive()) throw std::logic_error("smtp::Policy::check_sender returned a positive reply");
        return neutral(std::move(*refusal));
    }
    envelope_ = Envelope{};
    envelope_.mail_from = address->mailbox;
    envelope_.declared_size = params.size;
    envelope_.body_8bit = params.body == BodyType::eight_bit_mime;
    envelope_.smtputf8 = params.smtputf8;
    envelope_.requiretls = params.requiretls;
    state_ = State::mail;
    return progress(make_reply(250, "2.1.0", "Sender ok"));
}

// RCPT TO:<forward-path> (RFC 5321 §4.1.1.3).
Step ServerProtocol::on_rcpt(std::string_view arg) {
    if (state_ == State::fresh) return bad(send_ehlo_first());
    if (!may_transact()) return bad(auth_required());
    if (state_ == State::greeted) return bad(bad_sequence("Need MAIL before RCPT"));
    if (state_ == State::bdat) return bad(bad_sequence("RCPT not allowed after BDAT"));
    const auto split = split_path_argument(arg, "TO:");
    if (!split) return bad(argument_reply(static_cast<Errc>(split.error().value()), false));
    const auto address = parse_path(split->path, PathKind::forward);
    if (!address) return bad(argument_reply(static_cast<Errc>(address.error().value()), false));
    if (auto params = parse_rcpt_parameters(split->parameters); !params) {
        return bad(argument_reply(static_cast<Errc>(params.error().value()), false));
    }
    if (address->non_ascii && !envelope_.smtputf8) return bad(non_ascii());
    // RFC 5321 §4.5.3.1.10: 452 for "too many recipients"; the client retries the rest.
    if (envelope_.rcpt_to.size() >= options_.max_recipients) {
        return neutral(make_reply(452, "4.5.3", "Too many recipients"));
    }
    if (auto refusal = policy_.check_recipient(user_, address->mailbox)) {
        if (refusal->positive()) throw std::logic_error("smtp::Policy::check_recipient returned a positive reply");
        return neutral(std::move(*refusal));
    }
    envelope_.rcpt_to.push_back(address->mailbox);
    state_ = State::rcpt;
    return progress(make_reply(250, "2.1.5", "Recipient ok"));
}

// DATA (RFC 5321 §4.1.1.4): the body is read by DataReader in the I/O layer.
Step ServerProtocol::on_data(std::string_view arg) {
    if (state_ == State::fresh) return bad(send_ehlo_first());
    if (!may_transact()) return bad(auth_required());
    if (!arg.empty()) return bad(syntax("Syntax: DATA"));
    if (state_ == State::greeted) return bad(bad_sequence("Need MAIL command"));
    if (state_ == State::mail) return bad(bad_sequence("No valid recipients"));
    if (state_ == State::bdat) return bad(bad_sequence("DATA not allowed after BDAT"));  // RFC 3030 §2
    wait_ = Wait::data;
    Step s = progress(make_reply(354, "", "Start mail input; end with <CRLF>.<CRLF>"));
    s.next = Next::read_data;
    return finish(std::move(s));
}

// BDAT chunk-size [SP "LAST"] (RFC 3030 §2). Replies come after the chunk is read.
Step ServerProtocol::on_bdat(std::string_view arg) {
    const auto size = parse_chunk_size(arg);
    if (!size) {
        // Without a size the chunk cannot be skipped: its octets would be read as commands.
        if (bad_commands_ < std::numeric_limits<std::uint32_t>::max()) ++bad_commands_;
        Step s;
        s.replies.push_back(syntax("Syntax: BDAT chunk-size [LAST]"));
        s.replies.push_back(make_reply(421, "4.5.0", options_.hostname + " Unreadable BDAT chunk size, closing connection"));
        return finish(std::move(s));
    }
    const auto parsed = parse_bdat(arg);
    std::optional<Reply> refusal;
    if (state_ == State::fresh || !esmtp_) {
        refusal = send_ehlo_first();
    } else if (!may_transact()) {
        refusal = auth_required();
    } else if (!parsed) {
        refusal = syntax("Syntax: BDAT chunk-size [LAST]");
    } else if (state_ == State::greeted) {
        refusal = bad_sequence("Need MAIL command");
    } else if (state_ == State::mail) {
        refusal = bad_sequence("No valid recipients");
    }
    Step s;
    s.next = Next::read_bdat;
    wait_ = Wait::chunk;
    if (refusal) {
        reset_transaction();  // a chunk of this transaction is lost: it cannot go on
        bdat_refusal_ = std::move(refusal);
        bdat_size_ = *size;
        bdat_last_ = parsed && parsed->last;
        return s;
    }
    bad_commands_ = 0;
    state_ = State::bdat;
    bdat_size_ = parsed->size;
    bdat_last_ = parsed->last;
    const auto max = std::numeric_limits<std::uint64_t>::max();
    bdat_total_ = bdat_size_ > max - bdat_total_ ? max : bdat_total_ + bdat_size_;
    if (bdat_total_ > options_.max_message_size) bdat_failed_ = true;
    return s;
}

Step ServerProtocol::on_bdat_chunk() {
    if (state_ == State::closed) return closed_step();
    expect(Wait::chunk, "on_bdat_chunk");
    wait_ = Wait::none;
    if (bdat_refusal_) {
        Reply r = std::move(*bdat_refusal_);
        bdat_refusal_.reset();
        return bad(std::move(r));
    }
    if (bdat_failed_) {
        // RFC 3030 §2: each BDAT of a failed transaction is answered with the failure.
        if (bdat_last_) reset_transaction();
        return neutral(too_big());
    }
    if (bdat_last_) throw std::logic_error("smtp::ServerProtocol::on_bdat_chunk after BDAT LAST: call on_message_end");
    return neutral(make_reply(250, "2.0.0", std::to_string(bdat_size_) + " octets received"));
}

Step ServerProtocol::on_message_end(const MessageOutcome& outcome) {
    if (state_ == State::closed) return closed_step();
    if (wait_ == Wait::chunk && bdat_last_ && bdat_discard()) return on_bdat_chunk();
    if (!(wait_ == Wait::data || (wait_ == Wait::chunk && bdat_last_))) {
        throw std::logic_error("smtp::ServerProtocol::on_message_end called out of order");
    }
    wait_ = Wait::none;
    reset_transaction();
    return outcome.reply.positive() ? progress(outcome.reply) : neutral(outcome.reply);
}

// --- AUTH (RFC 4954), PLAIN (RFC 4616) and LOGIN ------------------------------------------

Step ServerProtocol::on_auth(std::string_view arg) {
    // An MX listener has no AUTH: the command is unknown here (RFC 4954 §3 is an extension).
    if (!options_.require_auth) return bad(make_reply(502, "5.5.1", "AUTH not available on this port"));
    // RFC 4954 §4 / DESIGN.md: never before TLS. 538 per RFC 4954 §6.
    if (!options_.tls_active) {
        return bad(make_reply(538, "5.7.11", "Encryption required for requested authentication mechanism"));
    }
    if (state_ == State::fresh || !esmtp_) return bad(send_ehlo_first());
    if (authenticated()) return bad(bad_sequence("Already authenticated"));
    if (state_ != State::greeted) return bad(bad_sequence("AUTH not permitted during a mail transaction"));
    const std::size_t sp = arg.find(' ');
    const std::string_view mechanism = arg.substr(0, sp);
    std::string_view initial;
    bool has_initial = false;
    if (sp != std::string_view::npos) {
        initial = arg.substr(sp + 1);
        while (!initial.empty() && initial.front() == ' ') initial.remove_prefix(1);
        has_initial = !initial.empty();
        if (initial.find(' ') != std::string_view::npos) return bad(syntax("Syntax: AUTH mechanism [initial-response]"));
    }
    if (mechanism.empty()) return bad(syntax("Syntax: AUTH mechanism [initial-response]"));
    if (initial == "=") initial = {};  // RFC 4954 §4: "=" is an empty initial response
    if (iequals(mechanism, "PLAIN")) {
        if (!has_initial) {
            state_ = State::sasl_plain;
            Step s = neutral(make_reply(334, "", ""));
            s.flush = true;
            return s;
        }
        state_ = State::sasl_plain;
        return on_sasl_response(initial);
    }
    if (iequals(mechanism, "LOGIN")) {
        state_ = State::sasl_login_user;
        if (!has_initial) {
            Step s = neutral(make_reply(334, "", kLoginUserPrompt));
            s.flush = true;
            return s;
        }
        return on_sasl_response(initial);
    }
    return bad(make_reply(504, "5.5.4", "Unrecognized authentication type"));
}

Step ServerProtocol::on_sasl_response(std::string_view line) {
    const State was = state_;
    state_ = State::greeted;  // unless the exchange goes on below
    if (line == "*") {        // RFC 4954 §4: the client cancels
        clear_credentials();
        return bad(make_reply(501, "5.0.0", "Authentication cancelled"));
    }
    auto decoded = decode_base64(line);
    if (!decoded) {
        clear_credentials();
        return bad(cannot_decode());
    }
    switch (was) {
    case State::sasl_plain: {
        auto creds = parse_plain(*decoded);
        secure_clear(*decoded);
        if (!creds) return auth_failed(credentials_invalid());
        std::string user = std::move(creds->user);
        std::string password = creds->password;
        secure_clear(creds->password);
        return start_password_check(std::move(user), std::move(password));
    }
    case State::sasl_login_user: {
        pending_user_ = std::move(*decoded);
        state_ = State::sasl_login_pass;
        Step s = neutral(make_reply(334, "", kLoginPasswordPrompt));
        s.flush = true;
        return s;
    }
    case State::sasl_login_pass: {
        std::string user = std::move(pending_user_);
        pending_user_.clear();
        std::string password = *decoded;
        secure_clear(*decoded);
        if (user.empty() || password.empty() || user.size() > max_sasl_field ||
            password.size() > max_sasl_field) {
            secure_clear(password);
            return auth_failed(credentials_invalid());
        }
        return start_password_check(std::move(user), std::move(password));
    }
    default:
        throw std::logic_error("smtp::ServerProtocol: SASL response outside an exchange");
    }
}

Step ServerProtocol::start_password_check(std::string user, std::string password) {
    pending_user_ = std::move(user);
    pending_password_ = std::move(password);
    wait_ = Wait::password;
    Step s;
    s.next = Next::verify_password;
    return finish(std::move(s));
}

Step ServerProtocol::auth_failed(Reply reply) {
    clear_credentials();
    if (auth_failures_ < std::numeric_limits<std::uint32_t>::max()) ++auth_failures_;
    Step s;
    s.replies.push_back(std::move(reply));
    if (auth_failures_ >= options_.max_auth_failures) {
        s.replies.push_back(make_reply(421, "4.7.0",
                                       options_.hostname + " Too many authentication failures, closing connection"));
    }
    return finish(std::move(s));
}

Step ServerProtocol::on_auth_result(bool ok) {
    if (state_ == State::closed) {
        clear_credentials();
        return closed_step();
    }
    expect(Wait::password, "on_auth_result");
    wait_ = Wait::none;
    std::string user = std::move(pending_user_);
    clear_credentials();
    if (!ok) return auth_failed(credentials_invalid());
    user_ = std::move(user);
    return progress(make_reply(235, "2.7.0", "Authentication successful"));
}

// --- I/O callbacks ------------------------------------------------------------------------

Step ServerProtocol::on_tls_started() {
    if (state_ == State::closed) return closed_step();
    expect(Wait::tls, "on_tls_started");
    wait_ = Wait::none;
    // RFC 3207 §4.2: discard all knowledge obtained from the client; a fresh EHLO follows.
    options_.tls_active = true;
    reset_transaction();
    state_ = State::fresh;
    helo_.clear();
    esmtp_ = false;
    user_.clear();
    clear_credentials();
    return Step{};
}

Step ServerProtocol::on_tls_failed() {
    state_ = State::closed;
    wait_ = Wait::none;
    clear_credentials();
    return closed_step();
}

Step ServerProtocol::on_timeout() {
    if (state_ == State::closed) return closed_step();
    wait_ = Wait::none;
    return neutral(make_reply(421, "4.4.2", options_.hostname + " Timeout, closing connection"));
}

Step ServerProtocol::on_shutdown() {
    if (state_ == State::closed) return closed_step();
    wait_ = Wait::none;
    return neutral(make_reply(421, "4.3.2", options_.hostname + " Service shutting down, try again later"));
}

}  // namespace signpost::smtp
