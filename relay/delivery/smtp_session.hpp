// relay/delivery/smtp_session.hpp — one outbound SMTP transaction for one Job, to one
// remote endpoint that routing already chose.
//
// What it does: an Asio C++20 coroutine that reads top to bottom: TCP connect, optional
// implicit TLS (RFC 8314), greeting, EHLO (HELO when EHLO gets a 5xx, RFC 5321 §3.2),
// STARTTLS per the TLS policy (RFC 3207) and a fresh EHLO after it, AUTH PLAIN or LOGIN when
// credentials are given (RFC 4954; only inside TLS), MAIL/RCPT (in one write when the
// server offers PIPELINING, RFC 2920), DATA with the message dot-stuffed (RFC 5321 §4.5.2),
// QUIT — or, with a ConnectionPool in the options, RSET on a pooled connection instead of
// the connect-to-AUTH steps and the pool instead of QUIT (connection_pool.hpp). The
// protocol pieces (reply parser, EHLO keywords, command lines, stuffing) are
// relay/smtp/client.hpp; this file only performs I/O and classifies what comes back.
//
// Classification (where the outcome is created, STYLE.md habit 3):
//   - RCPT 2xx: accepted, its result comes from the reply after the data; RCPT 4xx:
//     temporary; RCPT 5xx: permanent — each with that reply.
//   - MAIL refused: every recipient gets the MAIL reply (4xx temporary, 5xx permanent).
//   - DATA (354 expected) or the final reply after the data: 2xx delivered, 4xx temporary,
//     5xx permanent, for every accepted recipient.
//   - Connection trouble, timeouts, a malformed reply, a greeting other than 220, EHLO and
//     HELO refused, STARTTLS refused or failing, certificate not verified, AUTH refused
//     (535 included — the reply is kept): temporary for every recipient not yet decided.
//     Our own failures have code 0, an enhanced code of ours and a description.
//   - SMTPUTF8 needed and not offered: permanent 5.6.7 for all, nothing sent (RFC 6531
//     §3.4). SIZE announced and smaller than the message: permanent 5.3.4 (RFC 1870 §6).
//   - A result after the data was sent but before its reply arrived is temporary: the
//     message may then arrive twice, never zero times.
//
// TLS policies (the STARTTLS decision; Postfix's security levels none/may/secure):
//   - none_allowed_plaintext: no STARTTLS; plaintext.
//   - opportunistic: STARTTLS when offered, certificate not checked; plaintext only when
//     STARTTLS is not offered. Once offered, a refusal or failed handshake is a temporary
//     failure: never plaintext after TLS was offered and failed (no downgrade by a
//     middlebox that breaks the handshake).
//   - required_verified: STARTTLS must be offered (else temporary 4.7.4); the certificate
//     must chain to a CA the context trusts and match `SessionTarget::host` (OpenSSL host
//     name checking, RFC 6125; an IP literal host is matched against IP SANs); any
//     failure: temporary 4.7.5.
//   - required_encrypted: STARTTLS must be offered (else 4.7.4); the certificate is not
//     checked (DANE with no usable TLSA record, RFC 7672 §2.2).
//   - dane: STARTTLS must be offered (else 4.7.4); after the handshake, before anything
//     is sent, the server's chain must match one of SessionOptions::tlsa (relay/dane,
//     with dane_names as DANE-TA reference identifiers); else temporary 4.7.5 naming
//     why, and the next address is tried. No CA store is consulted (RFC 7672 §3.1).
//   `implicit_tls` starts TLS right after connect instead (smarthost tls = "implicit");
//   verification follows the policy (required_verified verifies; the others do not).
//   A pin (SessionOptions::pinned_sha256, an [[inbound]] home server's deliver_fingerprint)
//   is checked after every handshake, before anything is sent: the SHA-256 of the leaf
//   certificate's DER must equal it. With required_verified (the smarthost's policy) it
//   replaces the CA chain and host name check (self-signed is fine); STARTTLS is still
//   required (4.7.4). A mismatch is temporary 4.7.5 naming the expected and the presented
//   fingerprint (logged as a warning), and the next address is tried. No pin: nothing
//   changes.
//   Bytes the server sent after its 220 to STARTTLS are discarded (RFC 3207 §4.2).
//
// Timeouts: RFC 5321 §4.5.3.2 by default, all in SessionTimeouts so tests can shorten
// them. Every read and write has one; a reply's deadline covers the whole reply.
//
// Connection reuse (SessionOptions::pool): a session first asks the pool for an idle
// connection with its key (endpoint, host, TLS policy, implicit TLS, TLS context, pin, AUTH
// user, EHLO name) and sends RSET; a failing RSET (error, timeout, not 250) drops that
// connection and the session connects afresh, deciding nothing about it. After the reply to the end
// of data (not 421), with no timeout or stop, the connection goes to the pool instead of
// QUIT. The capabilities, remote_host, tls and verification of the first session on a
// connection are kept with it and reported by the sessions that reuse it.
//
// Deliberately not done: reuse after a refused MAIL, RCPT or DATA; BDAT, DSN parameters,
// DANE; the message file is read on the session's thread (64 KiB reads of a file just written by the spool are
// page-cache hits; the writes to the network are the slow part).
//
// Untrusted input: everything the server sends (bounded by relay/smtp's ReplyParser).
// Credentials are never logged.
// Threading: co_spawn run_smtp_session on a strand (or a single-threaded io_context);
// StopSignal::stop() may be called from any thread. One pool may serve sessions on many
// strands (see connection_pool.hpp for how a connection changes hands).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "relay/delivery/deliverer.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/log/log.hpp"

namespace signpost::delivery {

class ConnectionPool;

enum class TlsPolicy { none_allowed_plaintext, opportunistic, required_verified, required_encrypted, dane };

// RFC 5321 §4.5.3.2 values by default. `command` covers EHLO/HELO, STARTTLS, AUTH steps
// (the RFC names none; 5 minutes like MAIL). `connect`, `tls_handshake` and `quit` are ours.
struct SessionTimeouts {
    std::chrono::milliseconds connect = std::chrono::seconds(30);
    std::chrono::milliseconds tls_handshake = std::chrono::minutes(2);
    std::chrono::milliseconds greeting = std::chrono::minutes(5);     // §4.5.3.2.1
    std::chrono::milliseconds command = std::chrono::minutes(5);
    std::chrono::milliseconds mail = std::chrono::minutes(5);         // §4.5.3.2.2
    std::chrono::milliseconds rcpt = std::chrono::minutes(5);         // §4.5.3.2.3
    std::chrono::milliseconds data_init = std::chrono::minutes(2);    // §4.5.3.2.4
    std::chrono::milliseconds data_block = std::chrono::minutes(3);   // §4.5.3.2.5
    std::chrono::milliseconds data_end = std::chrono::minutes(10);    // §4.5.3.2.6
    std::chrono::milliseconds quit = std::chrono::seconds(10);
    // RSET on a reused connection: short, since a fresh connection is the cheap way out.
    std::chrono::milliseconds rset = std::chrono::seconds(30);
};

struct Credentials {
    std::string user;
    std::string password;
};

struct SessionTarget {
    boost::asio::ip::tcp::endpoint endpoint;
    std::string host;  // the name to verify the certificate against and send as SNI
};

struct SessionOptions {
    std::string helo_name;  // our host name, for EHLO/HELO
    TlsPolicy tls = TlsPolicy::opportunistic;
    bool implicit_tls = false;
    // A client context (make_client_tls_context); when null, one with the system CAs is
    // made per session. Unused with none_allowed_plaintext and no implicit TLS.
    std::shared_ptr<boost::asio::ssl::context> tls_context;
    std::optional<Credentials> credentials;  // AUTH only inside TLS; else temporary 4.7.11
    // TlsPolicy::dane: usable TLSA records, and the DANE-TA reference identifiers (the
    // TLSA base domain first, then the MX host name).
    std::vector<dns::TlsaRecord> tlsa;
    std::vector<std::string> dane_names;
    // The certificate pin (cert_pin.hpp): "" = none; else the SHA-256 of the server's leaf
    // certificate (DER) as 64 hex digits (':' pairs and upper case are accepted) or the 32
    // raw octets. Used with TlsPolicy::required_verified instead of the CA and name check.
    // A pin that is not a SHA-256 fingerprint fails the session (4.3.5), never unpinned.
    std::string pinned_sha256;
    SessionTimeouts timeouts;
    log::Logger logger;  // optional; protocol steps at debug level, never AUTH payloads
    // Null: one transaction, then QUIT. Else idle connections are taken from and given to it.
    std::shared_ptr<ConnectionPool> pool;
};

struct SessionResult {
    std::vector<RecipientResult> recipients;  // one per job recipient, in the job's order
    std::string remote_host;                  // "host[ip]:port"
    std::string local_ip;                     // our address on the connection ("" if none)
    std::string tls;                          // "TLSv1.3 TLS_AES_256_GCM_SHA384" or "none"
    // The certificate check, whatever the policy: "verified" (chain to a trusted CA and the
    // host name), "not verified: <reason>", "not checked (no host name)", "pinned (sha256
    // <hex>)"; "" without TLS.
    std::string verification;
    // True when the session failed before any recipient got an answer of its own
    // (connection, greeting, EHLO, STARTTLS or certificate trouble, or the connection
    // lost before the end of the data): another address of the same destination may do
    // better. False after AUTH was refused, MAIL or RCPT answered, or the data was sent.
    bool try_next = false;
    // The transaction ran on a pooled connection (after RSET) rather than a new one.
    bool reused = false;
    // TlsPolicy::dane, required_encrypted: why the server was refused, as a bounded label
    // ("starttls-not-supported", "no-match", "name-mismatch", "expired", "chain-invalid",
    // "no-certificate"); "" when it was not.
    const char* dane_failure = "";
};

// Lets another thread end sessions early (Deliverer::stop()). A stopped session's
// undecided recipients report temporary "delivery stopped".
class StopSignal {
public:
    void stop();
    bool stopped() const;
    // Runs `handler` on stop() (at once when already stopped). One handler at a time; a
    // new one replaces the old. Sessions install theirs while they run.
    void set_handler(std::function<void()> handler);
    void clear_handler();

private:
    mutable std::mutex mutex_;
    bool stopped_ = false;
    std::function<void()> handler_;
};

// A TLS client context: TLS 1.2 or later, the system's trusted CAs
// (SSL_CTX_set_default_verify_paths) plus `extra_ca_file` when not empty. Returns null with
// `error` set when the CA file does not load.
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const std::filesystem::path& extra_ca_file,
                                                                   std::string& error);

// One SMTP transaction for `job` to `target`. Never throws for network, protocol or file
// trouble (those are results); the message file is opened first, and a job whose file
// cannot be read fails temporarily without connecting.
boost::asio::awaitable<SessionResult> run_smtp_session(Job job, SessionTarget target, SessionOptions options,
                                                       std::shared_ptr<StopSignal> stop = nullptr);

// "host[ip]:port" ("[ip]:port" when host is empty or is the IP itself).
std::string describe_endpoint(const std::string& host, const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace signpost::delivery
