// relay/delivery/smarthost.hpp — delivery of every message through one configured relay
// ([delivery] mode = "smarthost").
//
// What it does: for each Job, resolves the smarthost's host name (asynchronously, Asio's
// resolver; the addresses are reused for 60 s, and looked up again at once when none of
// them could be reached), tries its addresses in order until one gives an answer of its own (see
// SessionResult::try_next), and reports the last session's per-recipient results. TLS is
// always required and verified: the certificate must chain to the system's CAs or to
// `delivery.extra_ca_file` and match the configured host name. `delivery.smarthost_tls`
// picks STARTTLS (RFC 3207, usually port 587) or implicit TLS (RFC 8314, port 465). When
// `delivery.smarthost_credentials_file` is set, AUTH PLAIN (or LOGIN) with its
// "user:password" (one line, read once at construction).
//
// Bounds: at most `max_sessions` sessions at once; further jobs wait in FIFO order. The
// resolver has its own timeout (30 s) besides the session's (smtp_session.hpp).
//
// Connection reuse: one ConnectionPool (connection_pool.hpp) for all jobs, keyed by the
// smarthost address, so a job after a delivered one usually goes over the same connection
// (RSET, then MAIL; no new TLS handshake or AUTH). stop() QUITs the idle connections.
//
// With use_dane(), the host is looked up through the validating resolver instead, and its
// certificate must match its DNSSEC-signed TLSA records (RFC 7672) instead of a CA.
// With pin_certificate() (an [[inbound]] home server, inbound.hpp), the certificate must
// be exactly the pinned one (SHA-256 of its DER) instead of chaining to a CA and matching
// the host name; a mismatch defers the job (4.7.5, both fingerprints named).
//
// Deliberately not done: MX lookup (relay/delivery's MX deliverer).
//
// Untrusted input: the remote side's replies (handled by the session). The credentials are
// a secret: never logged.
// Threading: deliver() and stop() from any thread; each job runs on its own strand of
// the io executor; `done` is called on that strand (or, for jobs refused after stop(), on
// the caller's thread).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "config/config.hpp"
#include "relay/delivery/connection_pool.hpp"
#include "relay/delivery/deliverer.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/delivery/smtp_session.hpp"
#include "relay/log/log.hpp"

namespace signpost::delivery {

// Reads a credentials file: one line "user:password" (split at the first ':'; the
// password may contain ':'), an optional final line end. Returns nullopt with `error`
// naming the file when it cannot be read or is malformed.
std::optional<Credentials> read_credentials_file(const std::filesystem::path& path, std::string& error);

class SmarthostDeliverer final : public Deliverer {
public:
    // `helo_name` is our host name ([server] hostname). Throws std::runtime_error (naming
    // the key or file) when delivery.smarthost is missing, the credentials file is
    // unreadable or malformed, or the CA file does not load.
    SmarthostDeliverer(const config::DeliveryConfig& delivery, std::string helo_name,
                       boost::asio::any_io_executor io, log::Logger logger = nullptr, std::size_t max_sessions = 20,
                       SessionTimeouts timeouts = {}, ConnectionPool::Limits pool_limits = {});
    ~SmarthostDeliverer() override;

    // DANE for the smarthost ([delivery] smarthost_dane): its addresses and TLSA records come
    // from `resolver` (validating), and a session goes ahead only when they are DNSSEC-signed
    // and usable, with the chain checked against them (dane_lookup.hpp); otherwise the job is
    // deferred (4.7.5). Set before the first deliver().
    void use_dane(std::shared_ptr<dns::Resolver> resolver);

    // Pins the smarthost's certificate: `sha256` is the SHA-256 of its DER encoding, as
    // cert_pin.hpp's normalize_sha256_pin() accepts it (64 hex digits, ':' pairs allowed,
    // or 32 raw octets). Every session then checks the pin instead of CAs and the host
    // name (smtp_session.hpp); STARTTLS or implicit TLS is still required. Throws
    // std::runtime_error when `sha256` is not such a fingerprint. Set before the first
    // deliver(); not combined with use_dane() (DANE, when set, decides alone).
    void pin_certificate(const std::string& sha256);

    // Told about every finished job (policy "smarthost", the first recipient's result); set
    // before the first deliver().
    void on_attempt(std::function<void(const SessionAttempt&)> observer);

    void deliver(Job job, DoneHandler done) override;
    // Ends sessions in flight (their undecided recipients: temporary), answers waiting
    // and later jobs at once with temporary failures, and QUITs idle connections.
    void stop() override;

    std::size_t active() const;   // sessions running
    std::size_t waiting() const;  // jobs in the FIFO

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace signpost::delivery
