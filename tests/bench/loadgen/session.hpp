// tests/bench/loadgen/session.hpp — one client connection to the SMTP submission server.
//
// What it does: the client side of RFC 5321 submission as a load generator needs it —
// TCP connect, implicit TLS (RFC 8314) or STARTTLS (RFC 3207, with the fresh EHLO after
// it), AUTH PLAIN (RFC 4954, RFC 4616) with an initial response, then transactions:
// MAIL/RCPT/DATA (RFC 5321 §3.3), optionally as one PIPELINING group (RFC 2920: DATA last
// in the group), or MAIL/RCPT/BDAT ... LAST (RFC 3030), NOOP, RSET and QUIT.
//
// What it deliberately does not do: no fallback to another mechanism or to plaintext, no
// retries (a failure is what a load run counts), no TLS session resumption (every
// connection pays a full handshake: the worst case, and what clients without a session
// cache do), no TLS close_notify after QUIT (the server closes; waiting would only add
// latency that is not the server's).
//
// Every network operation has a deadline (Options::timeout), enforced by watchdog(): when
// it passes, the socket is closed and the pending operation fails as "timeout in <stage>".
//
// GCC 12 miscompiles `co_await` inside an if/while condition or a || when the awaited call
// has temporary arguments (the coroutine frame is resumed at a bad state: SIGILL). Every
// co_await in this directory is therefore a statement of its own or an initializer.
//
// Threading: one Connection is used by one strand: construct it with a strand executor,
// run the caller's coroutine and watchdog() on that strand (see with_watchdog()). The
// Connection must outlive every coroutine using it.
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "options.hpp"
#include "reply.hpp"

namespace loadgen {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// How a transaction ended.
enum class TxOutcome {
    accepted,  // 250 after the end of the data
    refused,   // a reply refused it; `refusal` and `refusal_stage` say which; the session is usable after RSET
    broken,    // the connection failed (failure() says how); the message's fate is unknown
};

struct TxResult {
    TxOutcome outcome = TxOutcome::broken;
    Reply refusal;
    std::string refusal_stage;
};

class Connection {
public:
    Connection(asio::any_io_executor ex, asio::ssl::context& tls, const Options& opt);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Closes the socket when an operation's deadline passes; returns after
    // stop_watchdog(). Use with_watchdog() rather than calling it directly.
    asio::awaitable<void> watchdog();
    void stop_watchdog();
    void reset_watchdog() { watchdog_stop_ = false; }
    // No deadline until the next operation (an idle connection between NOOPs).
    void disarm();
    // Closes the socket (no QUIT).
    void close();

    // TCP connect, then per Options::tls: implicit handshake, greeting, EHLO, STARTTLS +
    // handshake + EHLO, AUTH PLAIN (when Options::user is set). `handshake_only` stops after
    // the TLS handshake for implicit TLS (no SMTP at all, e.g. against `openssl s_server`),
    // after the second EHLO for STARTTLS. False on failure (see failure()).
    asio::awaitable<bool> open(const std::vector<tcp::endpoint>& endpoints, bool handshake_only);

    // One transaction. `data` is the message as build_message() returns it, `stuffed` its
    // dot_stuff() form (used for DATA; BDAT sends `data`).
    asio::awaitable<TxResult> submit(const std::string& mail_from_line,
                                     const std::vector<std::string>& rcpt_lines,
                                     const std::string& data, const std::string& stuffed);

    asio::awaitable<bool> rset();
    asio::awaitable<bool> noop();
    // QUIT, wait for the reply, close. True if it was 221 (the session was still alive);
    // a failure here is not recorded in failure().
    asio::awaitable<bool> quit();

    const Capabilities& capabilities() const { return caps_; }
    bool pipelining() const { return pipelining_; }
    // What went wrong, e.g. "connect: Connection refused", "timeout in EHLO",
    // "closed by server in MAIL", "AUTH 535 5.7.8". Empty when nothing did.
    const std::string& failure() const { return failure_; }
    // The reply that made open() fail, when one did (e.g. a 421 greeting).
    const std::optional<Reply>& failure_reply() const { return failure_reply_; }

private:
    void arm();  // deadline = now + Options::timeout
    void fail(const std::string& what);
    void fail_io(const boost::system::error_code& ec);
    asio::awaitable<bool> write(const std::string& data);
    asio::awaitable<std::optional<Reply>> read_reply();
    // Sends `line` + CRLF, reads the reply; true if its code is `expected`. A different
    // code is a failure of open() (named after the stage), with failure_reply() set.
    asio::awaitable<bool> command(const std::string& stage, const std::string& line, int expected,
                                  Reply* reply = nullptr);
    // Reads one reply for `stage`; a code other than ok1/ok2 refuses the message in
    // `result` (the first refusal is kept). False if the connection failed.
    asio::awaitable<bool> expect(const char* stage, int ok1, int ok2, TxResult& result);
    // write(data), then expect().
    asio::awaitable<bool> step(const std::string& data, const char* stage, int ok1, int ok2, TxResult& result);
    asio::awaitable<bool> handshake();
    asio::awaitable<bool> ehlo();

    const Options& opt_;
    asio::ssl::stream<tcp::socket> stream_;
    asio::steady_timer deadline_;
    std::chrono::steady_clock::time_point deadline_at_ = std::chrono::steady_clock::time_point::max();
    std::array<char, 16384> read_buf_;
    bool tls_active_ = false;
    bool watchdog_stop_ = false;
    bool timed_out_ = false;
    bool pipelining_ = false;
    std::string stage_ = "connect";
    std::string in_;  // received bytes not yet parsed
    Capabilities caps_;
    std::string failure_;
    std::optional<Reply> failure_reply_;
};

namespace detail {
template <class T>
asio::awaitable<T> stop_watchdog_after(Connection& conn, asio::awaitable<T> body) {
    struct Stop {
        Connection& c;
        ~Stop() { c.stop_watchdog(); }
    } stop{conn};
    co_return co_await std::move(body);
}
}  // namespace detail

// Runs `body` with conn.watchdog() beside it on the current strand (which must be the
// connection's); the watchdog stops when `body` ends, also by an exception (rethrown).
template <class T>
asio::awaitable<T> with_watchdog(Connection& conn, asio::awaitable<T> body) {
    using namespace asio::experimental::awaitable_operators;
    conn.reset_watchdog();
    auto guarded = detail::stop_watchdog_after(conn, std::move(body));
    auto both = std::move(guarded) && conn.watchdog();  // lazy: nothing runs before co_await
    co_return co_await std::move(both);
}

}  // namespace loadgen
