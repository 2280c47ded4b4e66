// relay/submission/server.hpp — the submission listeners and their sessions.
//
// One acceptor per `[[listener]]`: STARTTLS (RFC 3207, port 587) or implicit TLS
// (RFC 8314, port 465). Each connection is one coroutine on its own strand that reads top
// to bottom: greeting, command loop, STARTTLS upgrade (buffered plaintext dropped, fresh
// EHLO required), the same loop again over TLS. The protocol itself is relay/smtp's
// ServerProtocol; this file only performs what it asks.
//
// Bounds: command lines 512 octets (SASL lines 12288), per-command and DATA timeouts
// ([limits]), an absolute connection lifetime, connections in total and per client IP,
// AUTH failures per IP (growing delay, then a lockout window). Password checks, signing
// and fsync run on a separate worker pool, never on an I/O thread.
//
// TLS: TLS 1.2 and 1.3 only (or 1.3 only with [tls] min_version = "1.3"), ECDHE with
// AES-GCM or ChaCha20-Poly1305, session resumption (session cache and TLS 1.3 tickets).
// reload_tls() swaps the certificate for new connections; existing sessions keep theirs.
// set_config() does the same for the whole configuration (a SIGHUP reload): sessions that
// are open keep the one they started with; listeners are bound once, at start().
//
// Stopping: drain() closes the listeners, tells every session that waits for a command
// outside a transaction "421 4.3.2" and closes it, and lets a session in the middle of a
// message (MAIL given, message not yet answered) finish it before it gets the 421. stop()
// then cuts whatever is left; a message cut short was never answered 250, so it is the
// client's to send again.
//
// Untrusted input: everything a client sends. Threading: start/stop/reload_tls from the
// thread that runs the daemon's wiring; sessions run on the io_context's threads.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "config/config.hpp"
#include "keys/store.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/log/log.hpp"
#include "relay/queue/spool.hpp"
#include "relay/submission/ingest.hpp"
#include "relay/submission/metrics.hpp"

namespace signpost::submission {

// What sessions need from the rest of the daemon.
struct Services {
    std::shared_ptr<const config::Config> config;
    std::shared_ptr<keys::KeyStore> keys;
    std::shared_ptr<queue::Spool> spool;
    // Told about every committed message (hands it to the queue manager); may be empty.
    std::function<void(queue::Envelope)> queued;
    // True while delivery is not keeping pace (the queue manager has more new messages
    // waiting than it delivers at once): a finished message then waits, up to
    // [queue] in_flow_delay, before it is committed. May be empty.
    std::function<bool()> delivery_behind;
    // Blocking password check (argon2id, cached); run on `workers`.
    std::function<bool(const std::string& user, const std::string& password)> verify_password;
    // The same check when the cache answers it (true), without blocking: asked first, on
    // the session's own thread, so a returning client costs no trip to `workers`. False:
    // verify_password decides. May be empty.
    std::function<bool(const std::string& user, const std::string& password)> verify_cached;
    SenderCheck may_send_as;
    // AUTH failure tracking per client IP and per user name.
    std::function<bool(const std::string& ip)> locked_out;
    // A user name locked out after failures from any addresses; `remembered` (a password
    // verified within [auth] cache_ttl) still gets in.
    std::function<bool(const std::string& user)> user_locked_out;
    std::function<bool(const std::string& user, const std::string& password)> remembered;
    std::function<std::chrono::milliseconds(const std::string& ip, const std::string& user)> failure_delay;
    std::function<void(const std::string& ip, const std::string& user, bool ok)> record_auth;
    std::function<void(const std::string& ip, const std::string& user)> failure_answered;  // after the delay
    // The MX listeners' DNS (SPF, DKIM keys, DMARC); null: no sender checks, no
    // Authentication-Results (tests of the listener alone).
    std::shared_ptr<dns::Resolver> resolver;
    boost::asio::any_io_executor workers;
    // Where a finished message is signed and committed (fsync of its file, then the group
    // commit of the queue directory). Mostly waiting on the disk, so a larger pool than
    // `workers`: a commit batch can only hold as many messages as there are threads here.
    // Empty: `workers`.
    boost::asio::any_io_executor committers;
    // With more than one I/O thread: a message finished while no other commit is in flight
    // is signed and committed on its session's thread rather than the pool's (two thread
    // hand-offs fewer). False: always the pool.
    bool inline_commits = false;
    // Takes half of an RSA signature when idle (signer/key.hpp "Split RSA signatures");
    // null: each signature is made whole on the thread that commits the message.
    signer::SpareThread* spare = nullptr;
    log::Logger logger;
    // Counters for Prometheus; null counts nothing.
    std::shared_ptr<SubmissionMetrics> metrics;
};

// A TLS server context from [tls]; throws std::runtime_error naming the file on failure.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const config::TlsConfig& tls);

class SubmissionServer {
public:
    SubmissionServer(boost::asio::io_context& io, Services services);
    ~SubmissionServer();

    // Binds every listener; throws std::runtime_error naming the address on failure.
    void start();
    // Stops accepting; sessions end at their next point between transactions (see above).
    void drain();
    // Stops accepting and cancels every session.
    void stop();
    // Loads [tls] again; on failure keeps the old context and returns false with `error`.
    bool reload_tls(std::string& error);
    // New sessions use `config` and `tls` (from make_tls_context(config->tls)).
    void set_config(std::shared_ptr<const config::Config> config, std::shared_ptr<boost::asio::ssl::context> tls);

    std::size_t sessions() const;
    // Every listener is open and accepting (false before start() and after drain()).
    bool listening() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace signpost::submission
