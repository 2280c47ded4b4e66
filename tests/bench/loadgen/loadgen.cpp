// tests/bench/loadgen/loadgen.cpp — SMTP submission load generator for Signpost's benchmark.
//
// Modes (see --help and tests/bench/README.md):
//   submit      --concurrency N workers, each holding one connection at a time and sending
//               messages on it (--per-connection K per connection; 1 = a full connect, TLS,
//               EHLO and AUTH for every message) until --messages or --duration runs out.
//   handshake   --handshake-only: the same workers, but each connection only connects and
//               completes TLS (plus EHLO/STARTTLS/EHLO for STARTTLS), then closes.
//   idle        --idle N: --concurrency openers open N connections (EHLO, STARTTLS, EHLO),
//               then all are held --hold seconds (NOOP every --noop-interval) and closed with
//               QUIT; "IDLE established=.." is printed (and flushed) when the hold begins, so
//               a script can measure the server's memory while it lasts.
//
// Bounds: nothing starts after --duration; every network operation has --timeout; and a
// hard stop ends the run at duration + hold + 2 x timeout + 5 s whatever happens.
//
// Threading: one io_context run by --threads threads; every connection and every worker on
// its own strand; shared counters are atomics, Stats has a mutex.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <unistd.h>

#include "message.hpp"
#include "options.hpp"
#include "reply.hpp"
#include "session.hpp"
#include "stats.hpp"

namespace loadgen {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

Clock::duration seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// One message ready to send: prepared before its latency clock starts.
struct Prepared {
    std::string data;
    std::string stuffed;
};

// State shared by every worker and connection of one run.
struct Run {
    const Options& opt;
    asio::io_context& io;
    asio::ssl::context& tls;
    std::vector<tcp::endpoint> endpoints;
    Stats stats;
    MessageSpec spec;
    std::string mail_line;
    std::vector<std::string> rcpt_lines;
    std::uint64_t nonce = 0;

    Clock::time_point t0;
    Clock::time_point start_deadline;  // nothing new starts after this
    std::atomic<bool> stopping{false};
    std::atomic<std::uint64_t> next_seq{0};
    std::atomic<Clock::rep> last_done{0};  // of the latest completed message/handshake
    std::atomic<int> pipelining_offered{-1};
    std::atomic<int> chunking_offered{-1};

    // Idle mode.
    std::atomic<unsigned> openers_active{0};
    std::atomic<std::uint64_t> idle_established{0}, idle_open_failed{0}, idle_died{0}, idle_alive_at_end{0}, idle_noops{0};
    std::atomic<Clock::rep> hold_end{Clock::time_point::max().time_since_epoch().count()};
    std::atomic<Clock::rep> hold_start{0};

    // Top-level coroutines still running; the last one cancels the hard stop and signals.
    std::atomic<std::size_t> active{0};
    std::atomic<bool> internal_error{false};  // a coroutine ended by an exception (a loadgen bug)
    std::function<void()> on_all_done;

    Run(const Options& o, asio::io_context& i, asio::ssl::context& t) : opt(o), io(i), tls(t) {}

    // Takes the next sequence number if another message/connection may start.
    bool claim(std::uint64_t limit, std::uint64_t& seq) {
        if (stopping.load() || Clock::now() >= start_deadline)
            return false;
        seq = next_seq.fetch_add(1);
        return seq < limit;
    }

    void completed_now() {
        auto now = Clock::now().time_since_epoch().count();
        auto prev = last_done.load();
        while (prev < now && !last_done.compare_exchange_weak(prev, now)) {
        }
    }

    Prepared prepare(std::uint64_t seq) const {
        Prepared p;
        p.data = build_message(spec, seq, nonce, std::chrono::system_clock::now());
        if (!opt.bdat)
            p.stuffed = dot_stuff(p.data);
        return p;
    }

    void note_capabilities(const Connection& c) {
        int expected = -1;
        pipelining_offered.compare_exchange_strong(expected, c.capabilities().pipelining ? 1 : 0);
        expected = -1;
        chunking_offered.compare_exchange_strong(expected, c.capabilities().chunking ? 1 : 0);
    }

    // Spawns a top-level coroutine on `ex`, counted in `active`.
    template <class Executor>
    void spawn(Executor ex, asio::awaitable<void> body) {
        ++active;
        asio::co_spawn(ex, std::move(body), [this](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& error) {
                    stats.connection_failed(std::string("internal error: ") + error.what());
                }
                internal_error = true;
            }
            if (--active == 0 && on_all_done)
                on_all_done();
        });
    }
};

// --- submit mode -------------------------------------------------------------------------

asio::awaitable<void> submit_connection(Run& run, Connection& conn, std::uint64_t seq) {
    const Options& opt = run.opt;
    Prepared msg = run.prepare(seq);
    auto t_connect = Clock::now();
    bool opened = co_await conn.open(run.endpoints, false);
    if (!opened) {
        run.stats.connection_failed(conn.failure());
        run.stats.message_lost();
        co_return;
    }
    run.stats.connection_opened();
    run.note_capabilities(conn);
    for (std::uint64_t on_connection = 1;; ++on_connection) {
        // One message per connection: the latency includes connect, TLS, EHLO and AUTH.
        auto t_start = opt.per_connection == 1 ? t_connect : Clock::now();
        TxResult r = co_await conn.submit(run.mail_line, run.rcpt_lines, msg.data, msg.stuffed);
        auto t_end = Clock::now();
        run.completed_now();
        if (r.outcome == TxOutcome::accepted) {
            run.stats.message_ok(ms_between(t_start, t_end));
        } else if (r.outcome == TxOutcome::refused) {
            run.stats.message_refused(r.refusal, r.refusal_stage);
            if (r.refusal.code == 421)  // the server is closing the connection
                co_return;
            bool reset = co_await conn.rset();
            if (!reset) {
                run.stats.connection_failed(conn.failure());
                co_return;
            }
        } else {
            run.stats.message_lost();
            run.stats.connection_failed(conn.failure());
            co_return;
        }
        if (opt.per_connection != 0 && on_connection >= opt.per_connection)
            break;
        if (!run.claim(opt.messages, seq))
            break;
        msg = run.prepare(seq);
    }
    co_await conn.quit();
}

asio::awaitable<void> handshake_connection(Run& run, Connection& conn) {
    auto t_connect = Clock::now();
    bool opened = co_await conn.open(run.endpoints, true);
    if (!opened) {
        run.stats.connection_failed(conn.failure());
        run.stats.message_lost();
        co_return;
    }
    auto t_end = Clock::now();
    run.completed_now();
    run.stats.connection_opened();
    run.stats.message_ok(ms_between(t_connect, t_end));
    if (run.opt.tls == TlsMode::implicit)
        conn.close();  // no SMTP at all (the peer may be `openssl s_server`)
    else
        co_await conn.quit();
}

// A worker: one connection at a time, on the worker's own strand.
asio::awaitable<void> worker(Run& run) {
    auto ex = co_await asio::this_coro::executor;
    std::uint64_t seq = 0;
    while (run.claim(run.opt.messages, seq)) {
        Connection conn(ex, run.tls, run.opt);
        if (run.opt.handshake_only)
            co_await with_watchdog(conn, handshake_connection(run, conn));
        else
            co_await with_watchdog(conn, submit_connection(run, conn, seq));
    }
}

// --- idle mode ---------------------------------------------------------------------------

Clock::time_point load_time(const std::atomic<Clock::rep>& a) { return Clock::time_point(Clock::duration(a.load())); }

asio::awaitable<bool> idle_open(Run& run, Connection& conn) {
    bool opened = co_await conn.open(run.endpoints, false);
    if (!opened) {
        run.stats.connection_failed(conn.failure());
        co_return false;
    }
    run.stats.connection_opened();
    co_return true;
}

// Held on the connection's own strand until the hold ends, then QUIT.
asio::awaitable<void> idle_hold(Run& run, std::unique_ptr<Connection> conn) {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex);
    auto next_noop = Clock::now() + seconds(run.opt.noop_interval);
    auto body = [](Run& r, Connection& c, asio::steady_timer& t, Clock::time_point noop_at) -> asio::awaitable<void> {
        for (;;) {
            c.disarm();
            auto now = Clock::now();
            auto end = load_time(r.hold_end);
            if (r.stopping.load() || now >= end)
                break;
            // Poll for the hold's end (unknown until every connection is open) twice a second.
            t.expires_at(std::min({noop_at, end, now + std::chrono::milliseconds(500)}));
            co_await t.async_wait(nothrow);
            if (Clock::now() >= noop_at && Clock::now() < load_time(r.hold_end)) {
                bool alive = co_await c.noop();
                if (!alive) {
                    ++r.idle_died;
                    r.stats.connection_failed("idle: " + c.failure());
                    co_return;
                }
                ++r.idle_noops;
                noop_at += seconds(r.opt.noop_interval);
            }
        }
        bool alive = co_await c.quit();
        if (alive)
            ++r.idle_alive_at_end;
        else
            ++r.idle_died;
    };
    co_await with_watchdog(*conn, body(run, *conn, timer, next_noop));
}

asio::awaitable<void> idle_opener(Run& run) {
    std::uint64_t seq = 0;
    while (run.claim(run.opt.idle, seq)) {
        auto strand = asio::make_strand(run.io);
        auto conn = std::make_unique<Connection>(strand, run.tls, run.opt);
        // Open on the connection's strand; this opener resumes on its own afterwards.
        auto open_task = with_watchdog(*conn, idle_open(run, *conn));
        bool ok = co_await asio::co_spawn(strand, std::move(open_task), asio::use_awaitable);
        if (!ok) {
            ++run.idle_open_failed;
            continue;
        }
        ++run.idle_established;
        run.spawn(strand, idle_hold(run, std::move(conn)));
    }
    if (--run.openers_active == 0) {
        auto now = Clock::now();
        run.hold_start = now.time_since_epoch().count();
        run.hold_end = (now + seconds(run.opt.hold)).time_since_epoch().count();
        std::printf("IDLE established=%" PRIu64 " failed=%" PRIu64 " hold=%.1fs\n", run.idle_established.load(),
                    run.idle_open_failed.load(), run.opt.hold);
        std::fflush(stdout);
    }
}

// --- report ------------------------------------------------------------------------------

bool report(Run& run, bool hard_stopped) {
    const Options& opt = run.opt;
    auto s = run.stats.snapshot();
    Percentiles p = percentiles(s.latencies_ms);
    // Idle mode: the time to open every connection, and connections opened per second.
    auto last = load_time(opt.idle ? run.hold_start : run.last_done);
    double secs = last > run.t0 ? std::chrono::duration<double>(last - run.t0).count() : 0.0;
    double rate = secs > 0 ? static_cast<double>(opt.idle ? run.idle_established.load() : s.ok) / secs : 0.0;
    std::uint64_t errors = s.refused + s.lost;
    const char* mode = opt.idle ? "idle" : opt.handshake_only ? "handshake" : opt.per_connection == 1 ? "percon" : "submit";
    auto offered = [](int v) { return v < 0 ? "unknown" : v ? "offered" : "not offered"; };

    std::printf("loadgen: %s:%u tls=%s auth=%s size=%zu concurrency=%u per-connection=%s threads=%u\n",
                opt.host.c_str(), unsigned(opt.port), to_string(opt.tls),
                opt.user.empty() ? "none" : ("PLAIN(" + opt.user + ")").c_str(), opt.size, opt.concurrency,
                opt.per_connection ? std::to_string(opt.per_connection).c_str() : "unlimited", opt.threads);
    if (!opt.idle && !opt.handshake_only)
        std::printf("  pipelining=%s (server: %s)  bdat=%s (server: %s)\n", opt.pipelining ? "on" : "off",
                    offered(run.pipelining_offered.load()), opt.bdat ? "on" : "off", offered(run.chunking_offered.load()));
    if (opt.idle) {
        double held = 0;
        if (run.hold_start.load() != 0)
            held = std::chrono::duration<double>(Clock::now() - load_time(run.hold_start)).count();
        std::printf("  idle connections: %" PRIu64 " asked, %" PRIu64 " established, %" PRIu64
                    " failed to open, %" PRIu64 " died while held, %" PRIu64 " alive at the end (QUIT -> 221)\n",
                    opt.idle, run.idle_established.load(), run.idle_open_failed.load(), run.idle_died.load(),
                    run.idle_alive_at_end.load());
        std::printf("  opened in %.3f s (%.1f connections/s), held %.1f s, %" PRIu64 " NOOPs\n", secs, rate, held,
                    run.idle_noops.load());
        errors = run.idle_open_failed.load() + run.idle_died.load();
    } else {
        const char* what = opt.handshake_only ? "handshakes" : "messages";
        std::printf("  %s: %" PRIu64 " ok, %" PRIu64 " refused, %" PRIu64 " lost with their connection\n", what, s.ok,
                    s.refused, s.lost);
        std::printf("  time: %.3f s -> %.1f %s/s\n", secs, rate, opt.handshake_only ? "handshakes" : "msg");
        std::printf("  latency (%s): p50 %.3f ms  p95 %.3f ms  p99 %.3f ms  max %.3f ms  mean %.3f ms\n",
                    opt.handshake_only ? "connect .. handshake done"
                    : opt.per_connection == 1 ? "connect .. 250 after end of data"
                                               : "MAIL .. 250 after end of data",
                    p.p50, p.p95, p.p99, p.max, p.mean);
    }
    std::printf("  connections: %" PRIu64 " opened, %" PRIu64 " failures\n", s.connections, s.connection_failures);
    std::printf("  errors by reply code:%s\n", s.refusals.empty() ? " none" : "");
    for (const auto& [key, r] : s.refusals)
        std::printf("    %s: %" PRIu64 "  (first: %s)\n", key.c_str(), r.count, r.first.c_str());
    std::printf("  connection failures:%s\n", s.connection_errors.empty() ? " none" : "");
    for (const auto& [what, n] : s.connection_errors)
        std::printf("    %s: %" PRIu64 "\n", what.c_str(), n);
    if (hard_stopped)
        std::printf("  HARD STOP: the run did not end by itself within its time bound\n");
    std::printf("RESULT loadgen msgs=%" PRIu64 " secs=%.3f rate=%.1f p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f errors=%" PRIu64
                " max_ms=%.3f conns=%" PRIu64 " conn_failures=%" PRIu64 " mode=%s concurrency=%u\n",
                opt.idle ? run.idle_established.load() : s.ok, secs, rate, p.p50, p.p95, p.p99, errors, p.max,
                s.connections, s.connection_failures, mode, opt.concurrency);
    std::fflush(stdout);
    return errors == 0 && !hard_stopped && !run.internal_error.load() && (opt.idle || s.ok > 0 || opt.messages == 0);
}

// --- self-check --------------------------------------------------------------------------

int self_check() {
    int failures = 0;
    auto check = [&](bool ok, const std::string& what) {
        if (!ok) {
            std::fprintf(stderr, "loadgen: self-check failed: %s\n", what.c_str());
            ++failures;
        }
    };
    MessageSpec spec{"dev@example.test", {"a@example.net", "b@example.org"}, 0};
    std::size_t min = minimum_size(spec);
    for (std::size_t size : {std::size_t(0), min, min + 1, min + 2, min + 3, std::size_t(4096), std::size_t(4097),
                             std::size_t(65536), std::size_t(1 << 20)}) {
        for (std::uint64_t seq : {0ULL, 7ULL, 123456789ULL}) {
            spec.size = size;
            std::string m = build_message(spec, seq, 42, std::chrono::system_clock::now());
            check(m.size() == std::max(size, min), "size " + std::to_string(size) + " gave " + std::to_string(m.size()));
            check(m.size() >= 2 && m.compare(m.size() - 2, 2, "\r\n") == 0, "message ends in CRLF");
            bool bare = false;
            for (std::size_t i = 0; i < m.size(); ++i)
                if ((m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) || (m[i] == '\r' && (i + 1 == m.size() || m[i + 1] != '\n')))
                    bare = true;
            check(!bare, "no bare CR or LF");
            check(m.find("\r\n\r\n") != std::string::npos, "header/body separator");
        }
    }
    check(build_message(spec, 1, 42, {}) != build_message(spec, 2, 42, {}), "messages differ by sequence");
    check(dot_stuff("a\r\n.b\r\n..\r\n") == "a\r\n..b\r\n...\r\n.\r\n", "dot-stuffing");
    check(dot_stuff(".\r\n") == "..\r\n.\r\n", "dot-stuffing of a lone dot");

    auto scan = scan_reply("250-first\r\n250-PIPELINING\r\n250 CHUNKING\r\nextra");
    check(scan.result == ScanResult::complete && scan.length == 41, "scan multi-line");
    check(scan_reply("250-first\r\n250 ").result == ScanResult::incomplete, "scan incomplete");
    check(scan_reply("25x ok\r\n").result == ScanResult::malformed, "scan malformed");
    check(scan_reply(std::string(kMaxReply + 1, 'x')).result == ScanResult::malformed, "scan bound");
    auto r = parse_reply("451 4.3.0 Try again\r\n");
    check(r && r->code == 451 && r->enhanced == "4.3.0" && r->key() == "451 4.3.0", "enhanced code");
    r = parse_reply("250 localhost\r\n");
    check(r && r->enhanced.empty() && r->key() == "250", "no enhanced code");
    r = parse_reply("250 2.1.5\r\n");
    check(r && r->enhanced == "2.1.5", "enhanced code alone");
    r = parse_reply("550 4.1.1 wrong class\r\n");
    check(r && r->enhanced.empty(), "enhanced class must match");
    check(!parse_reply("250-a\r\n251 b\r\n"), "codes must agree");
    r = parse_reply("250-localhost\r\n250-PIPELINING\r\n250-SIZE 25000000\r\n250-AUTH LOGIN PLAIN\r\n250-STARTTLS\r\n250 CHUNKING\r\n");
    check(r.has_value(), "EHLO parses");
    if (r) {
        Capabilities c = parse_ehlo(*r);
        check(c.pipelining && c.chunking && c.starttls && c.auth_plain && c.size && c.size_limit == 25000000,
              "EHLO keywords");
    }
    r = parse_reply("250-localhost PIPELINING\r\n250 AUTH PLAINX\r\n");
    check(r && !parse_ehlo(*r).pipelining && !parse_ehlo(*r).auth_plain, "EHLO first line and whole words");
    std::vector<double> v{5, 1, 4, 2, 3, 6, 7, 8, 9, 10};
    Percentiles p = percentiles(v);
    check(p.p50 == 5 && p.p95 == 10 && p.p99 == 10 && p.max == 10 && p.mean == 5.5, "percentiles");
    std::printf("loadgen: self-check %s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}

// --- main --------------------------------------------------------------------------------

int run_load(const Options& opt) {
    asio::io_context io(static_cast<int>(opt.threads));

    std::vector<tcp::endpoint> endpoints;
    {
        tcp::resolver resolver(io);
        boost::system::error_code ec;
        auto results = resolver.resolve(opt.host, std::to_string(opt.port), ec);
        if (ec || results.empty()) {
            std::fprintf(stderr, "loadgen: cannot resolve %s: %s\n", opt.host.c_str(), ec.message().c_str());
            return 2;
        }
        for (const auto& entry : results) {
            if (!opt.allow_remote && !entry.endpoint().address().is_loopback()) {
                std::fprintf(stderr, "loadgen: %s is not a loopback address (use --allow-remote on purpose)\n",
                             entry.endpoint().address().to_string().c_str());
                return 2;
            }
            endpoints.push_back(entry.endpoint());
        }
    }

    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    if (!opt.cafile.empty()) {
        boost::system::error_code ec;
        tls.load_verify_file(opt.cafile, ec);
        if (ec) {
            std::fprintf(stderr, "loadgen: cannot load --cafile %s: %s\n", opt.cafile.c_str(), ec.message().c_str());
            return 2;
        }
        tls.set_verify_mode(asio::ssl::verify_peer);
    } else {
        tls.set_verify_mode(asio::ssl::verify_none);
    }

    Run run(opt, io, tls);
    run.endpoints = std::move(endpoints);
    run.spec = MessageSpec{opt.from, opt.to, opt.size};
    run.nonce = (static_cast<std::uint64_t>(::getpid()) << 32) ^
                static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    std::size_t size = std::max(opt.size, minimum_size(run.spec));
    if (size != opt.size)
        std::fprintf(stderr, "loadgen: --size %zu is below this envelope's minimum; using %zu\n", opt.size, size);
    run.mail_line = "MAIL FROM:<" + opt.from + "> SIZE=" + std::to_string(size);
    for (const auto& to : opt.to)
        run.rcpt_lines.push_back("RCPT TO:<" + to + ">");

    // Hard stop: the run ends within this bound whatever the server does.
    auto control = asio::make_strand(io);
    asio::steady_timer hard_stop(control);
    asio::signal_set signals(control, SIGINT, SIGTERM);
    std::atomic<bool> hard_stopped{false};
    double bound = opt.duration + (opt.idle ? opt.hold : 0) + 2 * opt.timeout + 5;
    hard_stop.expires_after(seconds(bound));
    hard_stop.async_wait([&](boost::system::error_code ec) {
        if (!ec) {
            hard_stopped = true;
            io.stop();
        }
    });
    signals.async_wait([&](boost::system::error_code ec, int) {
        if (!ec) {
            run.stopping = true;  // no new work; idle connections end their hold
            run.hold_end = Clock::now().time_since_epoch().count();
        }
    });
    run.on_all_done = [&] {
        asio::post(control, [&] {
            hard_stop.cancel();
            signals.cancel();
        });
    };

    run.t0 = Clock::now();
    run.start_deadline = run.t0 + seconds(opt.duration);
    if (opt.idle) {
        unsigned openers = static_cast<unsigned>(std::min<std::uint64_t>(opt.concurrency, opt.idle));
        run.openers_active = openers;
        for (unsigned i = 0; i < openers; ++i)
            run.spawn(asio::make_strand(io), idle_opener(run));
    } else {
        for (unsigned i = 0; i < opt.concurrency; ++i)
            run.spawn(asio::make_strand(io), worker(run));
    }

    std::vector<std::thread> threads;
    for (unsigned i = 1; i < opt.threads; ++i)
        threads.emplace_back([&] { io.run(); });
    io.run();
    for (auto& t : threads)
        t.join();

    if (hard_stopped.load()) {
        // Coroutines are still suspended with references into `run`; report and leave
        // without unwinding them.
        report(run, true);
        std::fflush(nullptr);
        std::_Exit(1);
    }
    return report(run, false) ? 0 : 1;
}

}  // namespace
}  // namespace loadgen

int main(int argc, char** argv) {
    int status = 0;
    auto opt = loadgen::parse_options(argc, argv, status);
    if (!opt)
        return status;
    if (opt->self_check)
        return loadgen::self_check();
    try {
        return loadgen::run_load(*opt);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "loadgen: %s\n", e.what());
        return 2;
    }
}
