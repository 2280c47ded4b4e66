// relay/submission/ingest.hpp — a message's way from DATA/BDAT bytes to the spool.
//
// The body is read from the socket once and never held whole (DESIGN.md "Data flow"):
// write() receives the unstuffed message bytes chunk by chunk; the header section is kept
// (bounded by kMaxHeaderBytes) until its blank line, then every body chunk goes to the
// spool file and to the signer's streaming body hash at the same time.
//
// finish() runs the submission rules and commits (inbound mail: see IngestContext::inbound):
//   - the header From (RFC 5322 §3.6.2) must hold exactly one mailbox (else 550 5.6.0),
//     which the authenticated user may send as (else 550 5.7.1), whose domain has a
//     [[domain]] entry (else 550 5.7.1) and an active DKIM key (else 451 4.7.0 naming the
//     record to publish: nothing is lost, the client retries);
//   - fix-ups for submission (RFC 6409 §8): Date and Message-ID when missing, and a
//     Received field (RFC 5321 §4.4), without the client's name and address when
//     `[server] received_client = false`;
//   - DKIM signatures with every active key of the domain (d= is the header From's
//     domain, or its configured parent with sign_subdomains), over the fixed-up header;
//   - commit to the spool (fsync) and "250 2.0.0 Ok: queued as ID".
// Write errors answer 451 4.3.0 (452 4.3.1 when the disk is full) and leave nothing behind.
//
// Untrusted input: the message. Threading: one Ingest per transaction; finish() blocks on
// signing and fsync, so the session runs it off the I/O threads.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "keys/store.hpp"
#include "relay/queue/spool.hpp"
#include "relay/smtp/server.hpp"
#include "signer/canon.hpp"
#include "signer/key.hpp"
#include "signer/verify.hpp"

namespace signpost::submission {

inline constexpr std::size_t kMaxHeaderBytes = 256 * 1024;

// What the session knows about the client and the transaction.
struct IngestContext {
    std::string user;
    std::string client_address;  // "192.0.2.1" / "2001:db8::1"
    std::string client_name;     // EHLO argument
    std::string tls;             // "TLSv1.3 TLS_AES_256_GCM_SHA384", "" without TLS
    bool esmtp = true;
    smtp::Envelope envelope;
    // Received on an MX listener for an [[inbound]] domain: none of the submission rules,
    // no fix-ups, no signature; the message is stored as it came, with a Received field
    // (naming the client always) written before it at delivery.
    bool inbound = false;
    // A thread RSA signatures may split their work with (signer/key.hpp); null: none.
    signer::SpareThread* spare = nullptr;
};

// Why a message (or its MAIL FROM) was refused; the `reason` label.
enum class Refusal {
    size,                // over [limits] message_size, or the header section too large (552)
    bad_from,            // header From without exactly one mailbox (550 5.6.0)
    sender_not_allowed,  // MAIL FROM or header From the user may not use, or <> (550 5.7.1)
    no_domain,           // no [[domain]] for the From domain (550 5.7.1)
    no_key,              // the domain has no active DKIM key (451 4.7.0)
    storage,             // spool low on space or full (452 4.3.1)
    local_error,         // spool or signing failure (451)
    data_error,          // DATA/BDAT content refused: bare LF/CR, NUL, long line (550 5.5.2)
    unknown_recipient,   // MX listener: not an address of an [[inbound]] domain (550 5.1.1)
    relay_denied,        // MX listener: a domain we are not the MX for (550 5.7.1)
    dmarc,               // MX listener: DMARC p=reject applied, [[inbound]] dmarc = "enforce" (550 5.7.1)
    rate_limited,        // MX listener: over client_messages_per_hour, at MAIL FROM (451 4.7.1)
};
inline constexpr std::size_t kRefusalCount = 12;
const char* to_label(Refusal r) noexcept;  // the metric label, e.g. "no_key"

using SenderCheck = std::function<bool(const std::string& user, const std::string& address)>;

struct IngestResult {
    smtp::Reply reply;
    std::string queue_id;  // set when committed
    queue::Envelope envelope;  // what was committed (when queue_id is set)
    std::string reason;    // short log text for refusals
    Refusal refusal = Refusal::local_error;  // meaningful when queue_id is empty
    std::string signed_domain;
    std::vector<std::string> selectors;
    std::vector<signer::KeyType> key_types;  // one per signature, in selector order
};

class Ingest {
public:
    Ingest(std::shared_ptr<const config::Config> config, std::shared_ptr<keys::KeyStore> keys,
           SenderCheck may_send_as, std::unique_ptr<queue::IncomingMessage> spool_file,
           IngestContext context);

    // Message bytes in order, as the DATA reader or BDAT chunks deliver them.
    void write(std::string_view bytes);
    // The transaction failed before its end (reader error, size): drop everything.
    void abort();

    IngestResult finish(std::chrono::system_clock::time_point now);

    // Inbound mail (IngestContext::inbound), once the body has been written:
    // the DKIM verification fed as the message streamed (null before the header ended or
    // when the header section was too large), the header From's domain ("" unless exactly
    // one From with one address), how many forged Authentication-Results fields (naming
    // our host name) were dropped, and the field to write before the Received one.
    signer::StreamVerifier* verifier() { return verifier_ ? &*verifier_ : nullptr; }
    const std::string& header() const { return header_; }
    const std::string& from_domain() const { return from_domain_; }
    int forged_results_removed() const { return forged_results_removed_; }
    void set_authentication_results(std::string field) { authentication_results_ = std::move(field); }

private:
    void end_of_header();
    void end_of_inbound_header();
    void body(std::string_view bytes);
    IngestResult finish_inbound(std::chrono::system_clock::time_point now);
    IngestResult refuse_storage(std::error_code ec, const char* what);
    IngestResult refuse(Refusal why, int code, const char* enhanced, std::string text, std::string reason);

    std::shared_ptr<const config::Config> config_;
    std::shared_ptr<keys::KeyStore> keys_;
    SenderCheck may_send_as_;
    std::unique_ptr<queue::IncomingMessage> file_;
    IngestContext ctx_;

    std::string header_;                 // the header section, up to its blank line
    bool in_body_ = false;
    bool header_too_big_ = false;
    std::error_code write_error_;
    std::uint64_t size_ = 0;
    std::optional<signer::BodyHasher> hasher_;  // set once the From domain is known
    const config::DomainConfig* domain_ = nullptr;
    std::string from_address_;
    std::string from_problem_;           // why the header From is unusable
    // Inbound only.
    std::optional<signer::StreamVerifier> verifier_;
    std::string from_domain_;
    int forged_results_removed_ = 0;
    std::string authentication_results_;
};

// Whether the next hop must offer SMTPUTF8 for this message (RFC 6531 §3.2, RFC 6532): the
// client asked for SMTPUTF8 and the reverse-path, a forward-path or the header section
// holds a non-ASCII byte. A client's SMTPUTF8 flag alone (Go's net/smtp sets it on every
// message) only says what it may send; a message without SMTPUTF8 that carries 8-bit bytes
// in its header is legacy 8-bit mail and is passed on as such, as Postfix does.
bool needs_smtputf8(const smtp::Envelope& envelope, std::string_view header);

// Whether the header section asks, with "TLS-Required: No" (RFC 8689 §3), that recipient
// policies (MTA-STS, DANE) not stop delivery. Exactly one TLS-Required field whose value is
// "No" (any case, surrounding white space and folding ignored) counts; a second field or
// any other value does not (the conservative reading: policies apply). The caller ignores
// it for a REQUIRETLS message (RFC 8689 §4.1).
bool tls_required_no(std::string_view header);

// DKIM-Signature field(s) for a complete message Signpost writes itself (a DSN, From
// MAILER-DAEMON@<from_domain>): signed like submitted mail, with the active keys of the
// [[domain]] that covers `from_domain` (Config::find_domain). "" when no [[domain]] covers
// it or it has no active key; the message then goes unsigned.
std::string sign_own_message(const config::Config& config, keys::KeyStore& keys, std::string_view message,
                             std::string_view from_domain, std::chrono::system_clock::time_point now);

// The Received field's "with" keyword (RFC 3848, and RFC 6531 §3.7.4 for SMTPUTF8
// sessions): "ESMTPSA", "UTF8SMTPSA", ...
std::string received_protocol(bool esmtp, bool smtputf8, bool tls, bool authenticated);

// The addr-spec of a From field's value when it holds exactly one mailbox; otherwise
// nullopt and `problem` says what is wrong ("no address", "2 addresses", ...).
std::optional<std::string> single_mailbox(std::string_view from_value, std::string& problem);

}  // namespace signpost::submission
