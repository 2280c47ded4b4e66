// relay/delivery/connection_pool.hpp — idle outbound SMTP connections kept for the next
// message to the same place ("connection reuse", Postfix's smtp_connection_cache).
//
// What it does: after a transaction that ended cleanly (the reply to the end of data was
// received and was not 421, no timeout, no stop), run_smtp_session hands its connection to
// the pool instead of sending QUIT. A later session with the same PoolKey takes it, sends
// RSET (RFC 5321 §4.1.1.5) and, on 250, goes straight to MAIL; when RSET fails the session
// drops that connection and connects afresh, and the failed reuse is not an attempt failure.
//
// Keying: endpoint, the host name the certificate was checked against (and sent as SNI),
// the TLS policy, implicit TLS, the TLS context, the certificate pin, the AUTH user and
// our EHLO name. A connection is only ever reused under exactly the key it was opened
// with, so one opened under "opportunistic" never serves "required_verified", nor one
// authenticated as A a session for B, nor one whose certificate matched pin P (or none) a
// session pinned to another.
//
// Bounds and expiry (Limits): a connection carries at most `max_transactions`
// transactions; it waits idle at most `idle_timeout`, then gets QUIT (the server's own
// idle timeout, RFC 5321 §4.5.3.2.7, is 5 minutes: ours must be shorter); at most
// `max_idle_per_key` idle connections per key (a further one gets QUIT) and
// `max_idle_total` overall (the oldest gets QUIT). shutdown() QUITs every idle connection
// and refuses further ones. A connection the server closed while idle is noticed at take()
// (the socket is readable) or by the failing RSET.
//
// Deliberately not done: watching idle sockets for the server's 421 or close (no operation
// is ever outstanding on an idle connection; see Threading); reuse after a refused MAIL,
// RCPT or DATA (those sessions still QUIT).
//
// Untrusted input: none here; the remote side's reply to QUIT is read and ignored.
//
// Threading: take(), put(), shutdown() and idle() from any thread (one mutex). The pool's
// own work (expiry timer, QUIT of expired or surplus connections) runs on `executor`, which
// must be a strand or a single-threaded io_context. Ownership rule: a Connection has
// exactly one owner at a time — the session using it, the pool while idle, or the pool's
// closing coroutine — and it is handed over only with no operation outstanding on it. A
// socket stays bound to the executor it was created on (the strand of the session that
// connected); that executor only counts outstanding work for the io_context: an operation
// started with use_awaitable completes on the awaiting coroutine's own executor. So a
// connection opened on strand A and reused by a coroutine on strand B runs B's operations
// on B, and since A no longer owns it, nothing on A touches it (the session's watchdog and
// stop handler are per session and check that the session is over). This keeps sessions on
// their strands instead of moving every socket onto the bare io_context executor.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include "relay/delivery/smtp_session.hpp"
#include "relay/log/log.hpp"
#include "relay/smtp/client.hpp"

namespace signpost::delivery {

// One open SMTP connection, after EHLO (and STARTTLS, AUTH): the socket, the TLS stream
// over it, unparsed input and what the session learnt, reported again when it is reused.
struct Connection {
    explicit Connection(const boost::asio::any_io_executor& ex) : socket(ex) {}
    void close() {
        boost::system::error_code ignored;
        socket.close(ignored);
    }

    boost::asio::ip::tcp::socket socket;
    std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls;  // over `socket`
    std::string in;  // bytes read and not yet parsed
    smtp::ReplyParser parser;
    smtp::Capabilities caps;   // from the last EHLO
    std::string remote_host;   // SessionResult's fields, for a reusing session's result
    std::string tls_description;
    std::string verification;
    std::size_t transactions = 0;  // completed on this connection
    std::chrono::steady_clock::time_point idle_since;
};

struct PoolKey {
    boost::asio::ip::tcp::endpoint endpoint;
    std::string host;  // certificate name and SNI
    TlsPolicy tls = TlsPolicy::opportunistic;
    bool implicit_tls = false;
    const void* tls_context = nullptr;  // identity only: the CAs the certificate was checked with
    std::string user;                   // AUTH user, "" without credentials
    std::string helo_name;
    std::string dane;  // TlsPolicy::dane: the TLSA records the chain was matched against
    std::string pin;   // SessionOptions::pinned_sha256 (normalized) the certificate matched
    bool operator<(const PoolKey& o) const;
    bool operator==(const PoolKey& o) const;
};

struct PoolLimits {
    std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
    std::size_t max_transactions = 100;
    std::size_t max_idle_per_key = 2;  // 0 disables reuse
    std::size_t max_idle_total = 100;
    std::chrono::milliseconds quit_timeout = std::chrono::seconds(10);
};

class ConnectionPool : public std::enable_shared_from_this<ConnectionPool> {
public:
    using Limits = PoolLimits;

    // Use make().
    ConnectionPool(boost::asio::any_io_executor executor, Limits limits, log::Logger logger);
    ~ConnectionPool();
    static std::shared_ptr<ConnectionPool> make(boost::asio::any_io_executor executor, Limits limits = {},
                                                log::Logger logger = nullptr);

    // An idle connection for `key` (the most recently used), or null. Connections found
    // expired or closed by the server on the way are closed. The caller owns the result.
    std::unique_ptr<Connection> take(const PoolKey& key);
    // Offers a connection after a clean transaction (no operation outstanding on it). Over
    // a limit, after shutdown() or with `max_transactions` reached, it gets QUIT instead.
    void put(const PoolKey& key, std::unique_ptr<Connection> connection);
    // QUITs every idle connection; later put()s QUIT theirs and take() finds none.
    void shutdown();

    std::size_t idle() const;  // idle connections, all keys
    const Limits& limits() const { return limits_; }

private:
    struct Idle {
        PoolKey key;
        std::unique_ptr<Connection> connection;
    };
    void close_later(std::vector<std::unique_ptr<Connection>> connections);
    void schedule();  // on executor_: arms the expiry timer for the oldest idle connection
    void expire();    // on executor_

    boost::asio::any_io_executor executor_;
    Limits limits_;
    log::Logger log_;
    boost::asio::steady_timer timer_;  // only on executor_

    mutable std::mutex mutex_;
    std::vector<Idle> idle_;  // oldest first
    bool shut_down_ = false;
};

}  // namespace signpost::delivery
