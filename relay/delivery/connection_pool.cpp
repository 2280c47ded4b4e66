// relay/delivery/connection_pool.cpp — idle outbound connections (see connection_pool.hpp).
#include "relay/delivery/connection_pool.hpp"

#include <poll.h>

#include <array>
#include <tuple>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/sinks/null_sink.h>

namespace signpost::delivery {
namespace asio = boost::asio;
using asio::awaitable;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

auto tie(const PoolKey& k) {
    return std::tie(k.endpoint, k.host, k.tls, k.implicit_tls, k.tls_context, k.user, k.helo_name, k.dane, k.pin);
}

// True when the server sent something or closed while the connection was idle: a healthy
// idle SMTP connection has nothing to read (the server speaks only when spoken to), so
// this is a 421 or an end of file, and the connection is not worth an RSET.
bool readable_while_idle(Connection& c) {
    if (!c.socket.is_open()) return true;
    pollfd p{};
    p.fd = c.socket.native_handle();
    p.events = POLLIN | POLLRDHUP;
    const int n = ::poll(&p, 1, 0);
    return n != 0;  // readable, hung up, or poll failed: not reusable
}

// Best effort QUIT (RFC 5321 §4.1.1.10) and its reply within `timeout`, then close. Runs on
// the pool's executor; owns the connection.
awaitable<void> quit_and_close(std::shared_ptr<Connection> c, std::chrono::milliseconds timeout) {
    auto ex = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(ex, timeout);
    timer->async_wait([c](error_code ec) {
        if (!ec) c->close();  // on `ex`, like this coroutine: no concurrent use
    });
    error_code ec;
    static constexpr std::string_view quit = "QUIT\r\n";
    if (c->tls) {
        co_await asio::async_write(*c->tls, asio::buffer(quit.data(), quit.size()),
                                   asio::redirect_error(asio::use_awaitable, ec));
    } else {
        co_await asio::async_write(c->socket, asio::buffer(quit.data(), quit.size()),
                                   asio::redirect_error(asio::use_awaitable, ec));
    }
    std::array<char, 512> buf;
    while (!ec) {
        const std::size_t used = c->parser.feed(c->in);
        c->in.erase(0, used);
        if (c->parser.complete()) break;  // 221 or whatever: we are leaving anyway
        std::size_t n = 0;
        if (c->tls) {
            n = co_await c->tls->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
        } else {
            n = co_await c->socket.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
        }
        c->in.append(buf.data(), n);
    }
    timer->cancel();
    c->close();
}

log::Logger null_logger() {
    static const log::Logger logger =
        std::make_shared<spdlog::logger>("signpost-pool-null", std::make_shared<spdlog::sinks::null_sink_mt>());
    return logger;
}

}  // namespace

bool PoolKey::operator<(const PoolKey& o) const { return tie(*this) < tie(o); }
bool PoolKey::operator==(const PoolKey& o) const { return tie(*this) == tie(o); }

ConnectionPool::ConnectionPool(asio::any_io_executor executor, Limits limits, log::Logger logger)
    : executor_(std::move(executor)), limits_(limits), log_(logger ? std::move(logger) : null_logger()),
      timer_(executor_) {}

ConnectionPool::~ConnectionPool() {
    // Nobody can reach the pool any more (handlers hold weak pointers): just close.
    for (auto& i : idle_) i.connection->close();
}

std::shared_ptr<ConnectionPool> ConnectionPool::make(asio::any_io_executor executor, Limits limits,
                                                     log::Logger logger) {
    return std::make_shared<ConnectionPool>(std::move(executor), limits, std::move(logger));
}

std::unique_ptr<Connection> ConnectionPool::take(const PoolKey& key) {
    for (;;) {
        std::unique_ptr<Connection> found;
        {
            std::lock_guard lock(mutex_);
            const auto now = Clock::now();
            for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
                // An expired one is left for expire() (it gets QUIT there).
                if (!(it->key == key) || now - it->connection->idle_since >= limits_.idle_timeout) continue;
                found = std::move(it->connection);
                idle_.erase(std::next(it).base());
                break;
            }
        }
        if (!found) return nullptr;
        if (!readable_while_idle(*found)) return found;
        log_->debug("{}: idle connection closed by the server", found->remote_host);
        found->close();
    }
}

void ConnectionPool::put(const PoolKey& key, std::unique_ptr<Connection> connection) {
    if (!connection) return;
    connection->idle_since = Clock::now();
    std::vector<std::unique_ptr<Connection>> surplus;
    {
        std::lock_guard lock(mutex_);
        std::size_t same = 0;
        for (const auto& i : idle_)
            if (i.key == key) ++same;
        // Unparsed input after the final reply means we are out of step with the server.
        if (shut_down_ || !connection->in.empty() || connection->transactions >= limits_.max_transactions ||
            same >= limits_.max_idle_per_key) {
            surplus.push_back(std::move(connection));
        } else {
            idle_.push_back(Idle{key, std::move(connection)});
            while (idle_.size() > limits_.max_idle_total) {
                surplus.push_back(std::move(idle_.front().connection));
                idle_.erase(idle_.begin());
            }
        }
    }
    close_later(std::move(surplus));
    asio::post(executor_, [weak = weak_from_this()] {
        if (auto self = weak.lock()) self->schedule();
    });
}

void ConnectionPool::shutdown() {
    std::vector<std::unique_ptr<Connection>> all;
    {
        std::lock_guard lock(mutex_);
        shut_down_ = true;
        for (auto& i : idle_) all.push_back(std::move(i.connection));
        idle_.clear();
    }
    close_later(std::move(all));
    asio::post(executor_, [weak = weak_from_this()] {
        if (auto self = weak.lock()) self->timer_.cancel();
    });
}

std::size_t ConnectionPool::idle() const {
    std::lock_guard lock(mutex_);
    return idle_.size();
}

void ConnectionPool::close_later(std::vector<std::unique_ptr<Connection>> connections) {
    for (auto& c : connections) {
        if (!c) continue;
        log_->debug("{}: closing an idle connection after {} transactions", c->remote_host, c->transactions);
        asio::co_spawn(executor_, quit_and_close(std::shared_ptr<Connection>(std::move(c)), limits_.quit_timeout),
                       asio::detached);
    }
}

void ConnectionPool::schedule() {
    Clock::time_point next;
    {
        std::lock_guard lock(mutex_);
        if (idle_.empty()) {
            timer_.cancel();  // nothing to wait for: no work left on the io_context
            return;
        }
        next = idle_.front().connection->idle_since + limits_.idle_timeout;  // oldest first
    }
    timer_.expires_at(next);
    timer_.async_wait([weak = weak_from_this()](error_code ec) {
        if (ec) return;
        if (auto self = weak.lock()) self->expire();
    });
}

void ConnectionPool::expire() {
    std::vector<std::unique_ptr<Connection>> expired;
    {
        std::lock_guard lock(mutex_);
        const auto now = Clock::now();
        for (auto it = idle_.begin(); it != idle_.end();) {
            if (now - it->connection->idle_since >= limits_.idle_timeout) {
                expired.push_back(std::move(it->connection));
                it = idle_.erase(it);
            } else {
                ++it;
            }
        }
    }
    close_later(std::move(expired));
    schedule();
}

}  // namespace signpost::delivery
