// relay/smtp/server.hpp — the SMTP submission server protocol, with no I/O.
//
// What it does: turns command lines into replies and into requests for the I/O layer
// ("start TLS now", "verify this password", "read a DATA body"), following RFC 5321 with
// the extensions PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8
// (RFC 6531), ENHANCEDSTATUSCODES (RFC 2034, codes from RFC 3463 on every reply),
// CHUNKING (RFC 3030), STARTTLS (RFC 3207) and AUTH (RFC 4954, mechanisms PLAIN RFC 4616
// and LOGIN). The session coroutine in relay/submission is a thin loop around it: read a
// bounded line, call on_line(), perform what the returned Step asks, repeat.
//
// What it deliberately does not do: VRFY/EXPN disclose nothing (252); no TURN/ETRN; no
// AUTH before TLS, no MAIL/RCPT before AUTH (530 5.7.0): Signpost is never an open relay.
// On an MX listener (ServerOptions::require_auth = false) there is no AUTH at all and the
// Policy alone decides which recipients are accepted (those of [[inbound]] domains).
//
// Untrusted input: every byte from the client. Lines are at most 512 octets (RFC 5321
// §4.5.3.1.4, command line) — the reader enforces it and calls on_line_too_long();
// NUL bytes in a command are refused (500 5.5.2). After three consecutive bad commands
// the server answers 421 and closes (STYLE.md: "3 errors then 421").
//
// Decisions where the RFCs leave room:
//   - Bad commands (counted towards max_bad_commands): every reply the protocol itself
//     gives for a client mistake — 500, 501, 502, 503, 504, 530, 538, 553 (address
//     syntax), 555, 454 (STARTTLS not available) and the "*" cancel of an AUTH exchange.
//     Not counted: policy refusals, 452 too many recipients, 552 size, 535 (counted in
//     auth_failures instead). The count goes back to zero on a command that makes
//     progress (EHLO/HELO, MAIL, RCPT, DATA, BDAT, AUTH success, STARTTLS); NOOP, RSET,
//     HELP, VRFY leave it as it is, so errors interleaved with NOOPs still end the session.
//     The bad command gets its own reply, then "421 4.7.0 <host> Too many errors" (Postfix
//     and chasquid do the same); likewise 535 then 421 for the last allowed AUTH failure.
//   - Any reply with code 421 (also one from Policy or a MessageOutcome) closes.
//   - Order of checks for MAIL/RCPT/DATA/BDAT: EHLO/HELO first (503 5.5.1), then AUTH
//     (530 5.7.0), then sequence (503 5.5.1), then syntax, then limits, then Policy.
//     AUTH checks TLS first (538 5.7.11), then EHLO (503). AUTH and BDAT need EHLO (not
//     HELO); MAIL parameters after HELO are refused (555). STARTTLS needs no EHLO before.
//   - The HELO reply is "250 <hostname>" (no enhanced code, like EHLO's first line).
//   - A BDAT whose size reads but which is refused (no MAIL, no RCPT, no AUTH, a bad
//     "LAST") still has its chunk read and discarded — never parsed as commands (SMTP
//     smuggling) — and is answered after the chunk (on_bdat_chunk). A BDAT whose size does
//     not read leaves the stream out of step: 501, then 421 and close.
//   - Flush (PIPELINING): true whenever `next` is not read_line (except read_bdat, whose
//     chunk follows in the same stream), and for the greeting and 334 challenges.
//   - Trailing spaces after a command are ignored; a bare CR inside a command line is
//     refused like a bare LF (500 5.5.2).
//   - Calling a method out of the order the Steps ask for (on_line while a DATA body, a
//     BDAT chunk, a password check or a TLS handshake is pending; on_auth_result with no
//     check pending; ...) is a bug in the caller and throws std::logic_error. After a
//     Step with Next::close every call returns an empty Step with Next::close.
//
// Threading: one ServerProtocol per connection, used by one strand; no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace signpost::smtp {

// Line bounds, CRLF included (RFC 5321 §4.5.3.1.4 and RFC 4954 §4 both count it).
inline constexpr std::size_t max_command_line = 512;
inline constexpr std::size_t max_sasl_line = 12288;

// One SMTP reply, possibly multi-line. `enhanced` is "X.Y.Z" (RFC 3463).
struct Reply {
    int code = 0;
    std::string enhanced;
    std::vector<std::string> lines;  // at least one; no CRLF inside

    // "250-2.0.0 first\r\n250 2.0.0 last\r\n". The enhanced code is written on every line when
    // set (RFC 2034 §4), except on 220 greetings and EHLO keyword lines, where it is left
    // off as RFC 2034 says.
    // Replies without an enhanced code (greeting, EHLO, 334, 354) are built with `enhanced`
    // empty. CR, LF and NUL inside a line are written as spaces.
    std::string wire() const;
    bool positive() const { return code >= 200 && code < 400; }
};

Reply make_reply(int code, std::string enhanced, std::string text);

// Fixed facts about the connection and the policy for it, set by the I/O layer.
struct ServerOptions {
    std::string hostname;                 // in the greeting and the EHLO reply
    bool tls_active = false;              // implicit TLS listener, or after STARTTLS
    bool starttls_offered = true;         // false on implicit TLS listeners
    std::uint64_t max_message_size = 25'000'000;  // SIZE; DATA/BDAT beyond it: 552 5.3.4
    std::uint32_t max_recipients = 100;   // beyond it: 452 4.5.3 (RFC 5321 §4.5.3.1.8)
    std::uint32_t max_auth_failures = 5;  // then 421 4.7.0 and close
    std::uint32_t max_bad_commands = 3;   // consecutive unknown/bad commands, then 421
    // Submission (true): AUTH is offered inside TLS and required before MAIL. An MX
    // listener (false): no AUTH (502 5.5.1), mail from anyone, recipients checked by the
    // Policy; REQUIRETLS is not offered (the next hop is the home server, not a policy
    // domain).
    bool require_auth = true;
    // EHLO/HELO must name a domain or an address literal (valid_helo_name), else 501 5.5.4.
    // The MX listener sets it; submission clients (a NAS named "My NAS") are let through.
    bool strict_helo = false;
};

// RFC 5321 §4.1.1.1: an EHLO/HELO argument is a domain (labels of letters, digits and '-',
// not at a label's ends, up to 63 octets each and 255 in all; '_' is tolerated, as some
// hosts have it, and so is one trailing dot) or an address literal: "[192.0.2.1]" or
// "[IPv6:2001:db8::1]".
bool valid_helo_name(std::string_view name);

// What the I/O layer must do after a call. Replies are always sent first (in order).
enum class Next {
    read_line,      // read the next command line (or SASL response line) and call on_line
    start_tls,      // send the replies, discard any bytes already read, do the TLS
                    // handshake, then call on_tls_started() (or on_tls_failed())
    verify_password,// run the password check off the I/O thread; call on_auth_result()
    read_data,      // read a DATA body (dot-terminated) through DataReader; feed the
                    // message bytes to ingest; then call on_message_end()
    read_bdat,      // read exactly bdat_size() octets as the next chunk (throw them away
                    // when bdat_discard()); then call on_bdat_chunk() (and
                    // on_message_end() when bdat_last() and not bdat_discard())
    close,          // send the replies, then close the connection
};

struct Step {
    std::vector<Reply> replies;
    Next next = Next::read_line;
    // When false, replies may be held back and sent together with later ones
    // (PIPELINING, RFC 2920 §3.2: the server flushes when it has no more input buffered
    // or when `flush` is true: before waiting for a password check, DATA, TLS or close).
    bool flush = false;
};

// The envelope collected so far.
struct Envelope {
    std::string mail_from;                // reverse-path without <>; "" for the null path
    std::vector<std::string> rcpt_to;     // forward-paths without <>
    std::optional<std::uint64_t> declared_size;  // MAIL FROM SIZE=
    bool body_8bit = false;               // BODY=8BITMIME
    bool smtputf8 = false;                // SMTPUTF8 parameter
    bool requiretls = false;              // REQUIRETLS parameter (RFC 8689)
};

// Outcome of the message ingest, decided by relay/submission when the body has been read:
// the reply (250 queued, 550 5.7.1 sender not allowed, 451 4.3.0 disk, ...).
struct MessageOutcome {
    Reply reply;
};

// Checks the protocol asks of the embedding policy; all are quick and pure.
class Policy {
public:
    virtual ~Policy() = default;
    // May the authenticated `user` use `address` as MAIL FROM? ("" = null reverse-path.)
    // Returns nullopt to accept, or the reply to refuse with (e.g. 550 5.7.1).
    virtual std::optional<Reply> check_sender(const std::string& user, const std::string& address) = 0;
    // Is `address` an acceptable recipient (syntax beyond the parser, domain limits)?
    virtual std::optional<Reply> check_recipient(const std::string& user, const std::string& address) = 0;
};

class ServerProtocol {
public:
    ServerProtocol(ServerOptions options, Policy& policy);

    // The 220 greeting (or 421 when the caller decided to refuse the connection).
    Step greeting();

    // One line as read, without its CRLF. A line that did not end in CRLF (bare LF) is
    // passed with `bare_lf` set and is answered 500 5.5.2 (RFC 5321 §2.3.8).
    Step on_line(std::string_view line, bool bare_lf = false);
    // The reader found a line over max_line_length() octets (and discarded it up to its
    // end). A line passed to on_line() that is too long is treated the same way.
    Step on_line_too_long();

    // The longest line, CRLF included, the reader must accept for the next on_line():
    // max_sasl_line (12288, RFC 4954 §4) while a SASL response is awaited, else
    // max_command_line (512).
    std::size_t max_line_length() const;

    Step on_tls_started();  // resets the session: a fresh EHLO is required (RFC 3207 §4.2)
    Step on_tls_failed();   // closes

    // The password check requested by Next::verify_password.
    const std::string& auth_user() const { return pending_user_; }
    const std::string& auth_password() const { return pending_password_; }
    Step on_auth_result(bool ok);

    // BDAT chunk bounds requested by Next::read_bdat.
    std::uint64_t bdat_size() const { return bdat_size_; }
    bool bdat_last() const { return bdat_last_; }
    // True when the chunk must be read and thrown away (BDAT refused, or the transaction
    // failed: message over max_message_size). The message must then not be ingested or
    // committed; call on_bdat_chunk() (on_message_end() is accepted too when bdat_last(),
    // and ignores its outcome): the reply is the refusal (e.g. 552 5.3.4).
    bool bdat_discard() const { return bdat_failed_ || bdat_refusal_.has_value(); }
    Step on_bdat_chunk();

    // The body has been read and ingested; `outcome` says how it went. Resets the
    // transaction (the envelope) but keeps the authentication.
    Step on_message_end(const MessageOutcome& outcome);

    // Timeouts are the I/O layer's; it calls this to get the 421 to send before closing.
    Step on_timeout();
    // The service is stopping: the 421 4.3.2 to send before closing (RFC 5321 §3.8).
    Step on_shutdown();
    // A transaction is open: MAIL was accepted and the message has not ended (or been
    // reset) yet. A stopping server lets such a session finish its message.
    bool in_transaction() const { return state_ == State::mail || state_ == State::rcpt || state_ == State::bdat; }

    const Envelope& envelope() const { return envelope_; }
    // Changes whenever the transaction is reset (RSET, EHLO, end of message, a refused
    // BDAT): the I/O layer drops a partly received BDAT message when it changes.
    std::uint64_t transaction() const { return transaction_; }
    const std::string& user() const { return user_; }  // "" until authenticated
    bool authenticated() const { return !user_.empty(); }
    // MAIL, RCPT, DATA and BDAT may be used: authenticated, or no AUTH on this listener.
    bool may_transact() const { return authenticated() || !options_.require_auth; }
    bool tls_active() const { return options_.tls_active; }
    const std::string& client_name() const { return helo_; }  // from EHLO/HELO
    bool esmtp() const { return esmtp_; }
    std::uint32_t auth_failures() const { return auth_failures_; }

private:
    // (implementation state; see server.cpp)
    enum class State { fresh, greeted, mail, rcpt, bdat, sasl_plain, sasl_login_user, sasl_login_pass, closed };
    // What the I/O layer is doing on our behalf; on_line is not expected meanwhile.
    enum class Wait { none, tls, password, data, chunk };

    Step on_command(std::string_view line);
    Step on_sasl_response(std::string_view line);
    Step on_ehlo(std::string_view arg, bool esmtp);
    Step on_mail(std::string_view arg);
    Step on_rcpt(std::string_view arg);
    Step on_data(std::string_view arg);
    Step on_bdat(std::string_view arg);
    Step on_rset(std::string_view arg);
    Step on_quit(std::string_view arg);
    Step on_vrfy(std::string_view arg);
    Step on_starttls(std::string_view arg);
    Step on_auth(std::string_view arg);
    Step start_password_check(std::string user, std::string password);
    Step auth_failed(Reply reply);
    Step bad(Reply reply);        // a client mistake: counted, 421 at the limit
    Step progress(Reply reply);   // a step forward: resets the bad-command count
    Step neutral(Reply reply);    // neither
    Step finish(Step step);       // 421 closes; sets flush
    Step closed_step() const;
    void expect(Wait wait, const char* call) const;
    void reset_transaction();
    void clear_credentials() noexcept;
    bool in_sasl() const;

    Wait wait_ = Wait::none;
    std::optional<Reply> bdat_refusal_;  // the reply for a discarded, refused BDAT chunk
    ServerOptions options_;
    Policy& policy_;
    State state_ = State::fresh;
    Envelope envelope_;
    std::string helo_;
    bool esmtp_ = false;
    std::string user_;
    std::string pending_user_, pending_password_;
    std::uint32_t auth_failures_ = 0;
    std::uint32_t bad_commands_ = 0;
    std::uint64_t bdat_size_ = 0;
    bool bdat_last_ = false;
    std::uint64_t bdat_total_ = 0;
    std::uint64_t transaction_ = 0;
    bool bdat_failed_ = false;  // the BDAT total went over max_message_size: discard every
                                // chunk, answer 552, until LAST (or RSET/EHLO)
};

}  // namespace signpost::smtp
