// relay/delivery/deliverer.hpp — the seam between the queue and whatever carries a message on.
//
// The queue's scheduler hands a Deliverer one Job per message that has recipients due: the
// envelope sender, the recipients to try now, and where the message bytes are. The Deliverer
// routes them (smarthost, capture directory, MX hosts), talks to the remote side, and reports
// one RecipientResult per recipient of the job, classified where the outcome is created:
// delivered, temporary (retry later) or permanent (bounce). The queue never interprets remote
// text; it stores it for the log, `queue list` and the DSN.
//
// Message bytes: the first `size` octets of `message_file`, as received (CRLF lines, not
// dot-stuffed); `prepend` (DKIM-Signature, Received, ...) goes before them on the wire. The
// file holds more after `size` (the spool's envelope trailer): never send past `size`.
//
// Untrusted input: none here (results carry remote text verbatim: log it, never branch on it
// except by reply code).
// Threading: deliver() is called from the queue's strand; `done` may be called on any thread,
// exactly once, after the Deliverer no longer touches the job's file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace signpost::delivery {

enum class Outcome {
    delivered,  // the remote side accepted responsibility (2xx after DATA / file written)
    temporary,  // 4xx, connection/DNS/TLS trouble: keep it and retry per the schedule
    permanent,  // 5xx, null MX, NXDOMAIN, SMTPUTF8 refused: bounce now
};

struct RecipientResult {
    std::string address;      // as in the job
    Outcome outcome = Outcome::temporary;
    int code = 0;             // the remote reply code; 0 when there was no reply
    std::string enhanced;     // "5.1.1" (RFC 3463) from the reply or our own, "" if none
    std::string text;         // one line: the remote reply text, or our description
    std::string remote_host;  // "mx.example.org[192.0.2.1]:25", "" when none was reached
    std::string tls;          // what protected the transaction, for logs ("TLSv1.3", "none")
};

struct Job {
    std::string queue_id;
    std::string mail_from;                 // "" = null reverse-path (bounces)
    std::vector<std::string> recipients;   // at least one
    std::filesystem::path message_file;
    std::uint64_t size = 0;                // message octets at the start of message_file
    std::string prepend;                   // header text sent before the message
    bool smtputf8 = false;                 // needs SMTPUTF8 (RFC 6531)
    bool body_8bit = false;                // needs 8BITMIME (RFC 6152)
    // REQUIRETLS (RFC 8689): only over TLS verified by DANE, MTA-STS enforce or a [[route]]
    // tls = verify/dane, to a next hop that offers REQUIRETLS; else 5.7.30.
    bool requiretls = false;
    // "TLS-Required: No" (RFC 8689 §5): MTA-STS and DANE failures do not stop delivery
    // (opportunistic TLS instead), when [delivery] honor_tls_required = true.
    bool tls_required_no = false;
    // Optional; may be called on any thread, before `done`: recipients that a destination
    // has just accepted while others of the job are still to be tried (a job spanning
    // several domains). The queue makes them durable at once, so a crash while the later
    // destinations are tried does not deliver to them again. `done` repeats them.
    std::function<void(std::vector<RecipientResult>)> progress;
};

using DoneHandler = std::function<void(std::vector<RecipientResult>)>;

// One finished outbound session (or a domain refused before any), for metrics: bounded
// labels only.
struct SessionAttempt {
    const char* policy = "opportunistic";  // to_string(PolicySource): which TLS policy applied
    const char* result = "deferred";       // "delivered", "deferred", "bounced" (first recipient's)
    bool testing_violation = false;        // MTA-STS testing: enforce would have refused it
    // DANE refused this host (before or in the session): "dnssec-invalid", "tlsa-lookup",
    // "dane-required", "starttls-not-supported", "no-match", "name-mismatch", "expired",
    // "chain-invalid", "no-certificate"; "" otherwise.
    const char* dane_failure = "";
};

// The metric label of an outcome: "delivered", "bounced" (permanent) or "deferred".
inline const char* result_label(Outcome o) {
    return o == Outcome::delivered ? "delivered" : o == Outcome::permanent ? "bounced" : "deferred";
}

class Deliverer {
public:
    virtual ~Deliverer() = default;
    // Starts delivering the job; `done` gets one result per job recipient, in any order.
    virtual void deliver(Job job, DoneHandler done) = 0;
    // Asks deliveries in flight to end soon (their results report temporary failures).
    virtual void stop() {}
};

}  // namespace signpost::delivery
