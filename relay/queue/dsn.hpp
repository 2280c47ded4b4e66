// relay/queue/dsn.hpp — delivery status notifications (bounces and delay warnings).
//
// build_dsn() turns the outcome of one message's recipients into a complete RFC 5322
// message (CRLF line endings) ready to be queued:
//     multipart/report; report-type=delivery-status                       RFC 6522
//       1. text/plain         human explanation, one paragraph per recipient
//       2. message/delivery-status  per-message + per-recipient fields     RFC 3464 §2.2, §2.3
//       3. text/rfc822-headers      the original message's header section  RFC 6522 §4
// Headers: From "Mail Delivery System" <MAILER-DAEMON@host>, To the original envelope
// sender, Subject, Date, Message-ID, MIME-Version, Auto-Submitted: auto-replied (RFC 3834 §5).
//
// THE CALLER MUST SEND THE DSN WITH THE NULL REVERSE-PATH (MAIL FROM:<>), RFC 5321 §4.5.5 /
// RFC 3464 §2: a DSN must never cause another DSN. For the same reason build_dsn() refuses
// (nullopt) to report on a message whose own envelope sender is null — that message was
// itself a bounce, and bouncing it would start a loop.
//
// Who decided is said plainly: a recipient whose diagnostic is a remote server's reply
// (DsnRecipient::remote) gets "Remote-MTA" and "Diagnostic-Code: smtp; ..." and is quoted as
// the server's words; a decision of Signpost's own (no SMTPUTF8 at the next hop, an
// MTA-STS refusal, the queue lifetime) gets "Diagnostic-Code: X-Signpost; ..." and no
// Remote-MTA, and the text says Signpost did not deliver it and why.
//
// Two forms (RFC 6533 §6):
//   - DsnInput::international (the message needed SMTPUTF8, or an address is UTF-8):
//     message/global-delivery-status and message/global-headers; UTF-8 addresses are
//     written as they are with the "utf-8" address type, the text part is UTF-8, and the
//     original header section is returned intact. The DSN then needs SMTPUTF8 itself.
//   - otherwise RFC 3464 / RFC 6522 as before: our text and the status fields are 7-bit
//     (non-ASCII characters and '\' in untrusted text written as \x{HHHH}, the RFC 6533
//     §3 escape; invalid UTF-8 octets and control characters as '?'; CR/LF/TAB as spaces);
//     the original header section is returned with its 8-bit octets intact (legacy 8-bit
//     mail), marked Content-Transfer-Encoding: 8bit — dsn_needs_8bit() tells the caller.
// Every line we generate is at most 78 octets (long words are cut; unfolding may insert a
// space where a word was cut); copied original header lines at most 998 (RFC 5322
// §2.1.1), with CRLF line ends, NUL and other control characters replaced by '?'.
// Not produced: Original-Envelope-Id and ORCPT (we do not implement the DSN SMTP extension),
// Received-From-MTA.
//
// The boundary is derived from the queue id and a counter and is checked against all part
// contents; the counter advances until it does not occur.
//
// Untrusted input: diagnostic text, remote host names, the original header section.
// Threading: pure function, callable from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace signpost::queue {

enum class DsnKind {
    failure,  // Action: failed, Status 5.x.x: the recipient will not be retried
    delay,    // Action: delayed, Status 4.x.x: still being retried until retry_until
};

struct DsnRecipient {
    std::string address;                     // the envelope recipient (RCPT TO)
    std::string status;                      // enhanced status "5.1.1" (RFC 3463); a value that
                                             // is malformed or of the wrong class for the kind
                                             // is replaced by 5.0.0 / 4.0.0
    std::optional<std::string> remote_host;  // the MX that answered (or was tried), when known
    std::string diagnostic;                  // the reply text, verbatim ("" = none)
    std::chrono::system_clock::time_point last_attempt{};
    bool remote = true;                      // diagnostic is the remote server's reply;
                                             // false: Signpost's own decision
};

struct DsnInput {
    std::string reporting_host;              // our host name: Reporting-MTA, From, Message-ID
    std::string queue_id;                    // the original message's queue id
    std::string envelope_sender;             // original MAIL FROM; "" or "<>" = null: refused
    std::chrono::system_clock::time_point arrival{};
    std::chrono::system_clock::time_point now{};  // Date of the DSN
    DsnKind kind = DsnKind::failure;
    std::vector<DsnRecipient> recipients;    // at least one
    std::chrono::system_clock::time_point retry_until{};  // Will-Retry-Until (delay only)
    std::string original_headers;            // header section of the original message
    bool international = false;              // RFC 6533 form (see above)
};

// The DSN message bytes, or nullopt when none may be sent: the original envelope sender is
// null, or there are no recipients to report on.
std::optional<std::string> build_dsn(const DsnInput& in);

// Whether a DSN's bytes hold 8-bit octets (then it goes out with BODY=8BITMIME).
bool dsn_needs_8bit(std::string_view dsn);

// RFC 5322 §3.3 date-time in UTC, e.g. "Mon, 23 Nov 2026 13:24:33 +0000".
std::string rfc5322_date(std::chrono::system_clock::time_point t);

}  // namespace signpost::queue
