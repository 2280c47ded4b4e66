// tests/unit/delivery/test_connection_reuse.cpp — run_smtp_session with a ConnectionPool,
// and the smarthost deliverer's pool, against the scripted server on 127.0.0.1: two jobs
// over one connection with RSET between them; a connection the server closed while idle,
// or whose RSET is refused, replaced transparently; no reuse across TLS policies or host
// names; no pooling after a final 421; expiry, the transaction limit and shutdown QUIT.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fake_server.hpp"
#include "relay/delivery/connection_pool.hpp"
#include "relay/delivery/smarthost.hpp"
#include "relay/delivery/smtp_session.hpp"

namespace {

namespace asio = boost::asio;
using namespace signpost;
using namespace signpost::delivery;
using namespace signpost::delivery::test;
using namespace std::chrono_literals;

SessionOptions plain_options(std::shared_ptr<ConnectionPool> pool) {
    SessionOptions o;
    o.helo_name = "relay.example.net";
    o.tls = TlsPolicy::none_allowed_plaintext;
    o.timeouts = short_timeouts();
    o.pool = std::move(pool);
    return o;
}

const std::string kMessage = "From: alice@example.test\r\nSubject: s\r\n\r\nbody\r\n";

struct Step {
    explicit Step(SessionOptions o) : options(std::move(o)) {}
    SessionOptions options;
    std::string host = "fake.test";
    std::chrono::milliseconds wait_before{0};
    std::function<void()> after;  // runs right after this step's session
};

struct Sequence {
    std::vector<SessionResult> results;
    std::vector<Record> records;
    std::chrono::milliseconds elapsed{};
};

// Runs the steps one after the other (one job each, recipient b@example.org) against one
// fake server, then shuts the pool down unless `shutdown` is false; one thread, 20 s at most.
Sequence run_steps(Script script, std::vector<Step> steps, std::shared_ptr<ConnectionPool> pool, asio::io_context& io,
                   bool shutdown = true) {
    TempDir dir;
    FakeServer server(io, std::move(script));
    server.start();
    Sequence out;
    bool finished = false;
    auto sequence = [&]() -> asio::awaitable<void> {
        for (std::size_t i = 0; i < steps.size(); ++i) {
            Step& st = steps[i];
            if (st.wait_before > 0ms) {
                auto ex = co_await asio::this_coro::executor;
                asio::steady_timer t(ex, st.wait_before);
                co_await t.async_wait(asio::use_awaitable);
            }
            Job job = make_job(dir.path(), kMessage, {"b@example.org"}, "", "Q" + std::to_string(i));
            // Named arguments, no temporaries in the co_await (GCC 12 coroutine bug).
            SessionTarget target{server.endpoint(), st.host};
            SessionOptions options = st.options;
            SessionResult r = co_await run_smtp_session(std::move(job), std::move(target), std::move(options));
            out.results.push_back(std::move(r));
            if (st.after) st.after();
        }
        if (shutdown) pool->shutdown();
        server.close();
        finished = true;
    };
    const auto start = std::chrono::steady_clock::now();
    asio::co_spawn(asio::make_strand(io), sequence(), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
    io.run_for(20s);
    EXPECT_TRUE(finished) << "the steps did not finish";
    out.records = server.records;
    out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    return out;
}

// The first word of each command, upper case: "EHLO", "MAIL", ...
std::vector<std::string> verbs(const Record& rec) {
    std::vector<std::string> out;
    for (const auto& c : rec.commands) {
        std::string v = c.substr(0, c.find_first_of(" :"));
        for (char& ch : v) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        out.push_back(v);
    }
    return out;
}

using V = std::vector<std::string>;

void expect_delivered(const SessionResult& r) {
    ASSERT_EQ(r.recipients.size(), 1u);
    EXPECT_EQ(r.recipients[0].outcome, Outcome::delivered) << r.recipients[0].text;
}

TEST(delivery_ConnectionReuse, TwoJobsOneConnectionWithRsetBetween) {
    asio::io_context io;
    auto pool = ConnectionPool::make(asio::make_strand(io));
    std::size_t idle_after_first = 99;
    Step first{plain_options(pool)};
    first.after = [&] { idle_after_first = pool->idle(); };
    auto out = run_steps(Script{}, {first, Step{plain_options(pool)}}, pool, io);
    ASSERT_EQ(out.results.size(), 2u);
    expect_delivered(out.results[0]);
    expect_delivered(out.results[1]);
    EXPECT_EQ(idle_after_first, 1u);
    EXPECT_FALSE(out.results[0].reused);
    EXPECT_TRUE(out.results[1].reused);
    EXPECT_EQ(out.results[1].remote_host, out.results[0].remote_host);
    EXPECT_EQ(out.results[1].recipients[0].remote_host, out.results[0].remote_host);
    EXPECT_EQ(out.results[1].tls, "none");
    ASSERT_EQ(out.records.size(), 1u) << "one TCP connection for both jobs";
    EXPECT_EQ(verbs(out.records[0]), (V{"EHLO", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA", "QUIT"}));
    EXPECT_EQ(pool->idle(), 0u);
}

TEST(delivery_ConnectionReuse, IdleConnectionClosedByTheServerIsReplacedTransparently) {
    asio::io_context io;
    auto pool = ConnectionPool::make(asio::make_strand(io));
    Script s;
    s.close_after_data_end = true;  // like a server whose idle timeout is very short
    Step second{plain_options(pool)};
    second.wait_before = 100ms;
    auto out = run_steps(s, {Step{plain_options(pool)}, second}, pool, io);
    ASSERT_EQ(out.results.size(), 2u);
    expect_delivered(out.results[0]);
    expect_delivered(out.results[1]);
    EXPECT_FALSE(out.results[1].reused);
    EXPECT_FALSE(out.results[1].try_next);
    ASSERT_EQ(out.records.size(), 2u);
    EXPECT_EQ(verbs(out.records[1]), (V{"EHLO", "MAIL", "RCPT", "DATA"}));
}

TEST(delivery_ConnectionReuse, RsetRefusedOrFailingMeansAFreshConnection) {
    for (const std::string rset : {"421 4.4.2 fake.test idle too long\r\n", "500 5.5.1 what?\r\n"}) {
        SCOPED_TRACE(rset);
        asio::io_context io;
        auto pool = ConnectionPool::make(asio::make_strand(io));
        Script s;
        s.rset = rset;
        auto out = run_steps(s, {Step{plain_options(pool)}, Step{plain_options(pool)}}, pool, io);
        ASSERT_EQ(out.results.size(), 2u);
        expect_delivered(out.results[0]);
        expect_delivered(out.results[1]);
        EXPECT_FALSE(out.results[1].reused);
        EXPECT_EQ(out.results[1].recipients[0].code, 250);
        ASSERT_EQ(out.records.size(), 2u);
        EXPECT_EQ(verbs(out.records[0]), (V{"EHLO", "MAIL", "RCPT", "DATA", "RSET"}));
        EXPECT_EQ(verbs(out.records[1]), (V{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}));
    }
}

TEST(delivery_ConnectionReuse, NeverSharedAcrossTlsPolicyOrHostName) {
    asio::io_context io;
    auto pool = ConnectionPool::make(asio::make_strand(io));
    Script s;
    s.ehlo = "250-fake.test\r\n250 PIPELINING\r\n";  // no STARTTLS: opportunistic stays plaintext
    SessionOptions opportunistic = plain_options(pool);
    opportunistic.tls = TlsPolicy::opportunistic;
    Step other_host{plain_options(pool)};
    other_host.host = "other.test";
    auto out = run_steps(s, {Step{plain_options(pool)}, Step{opportunistic}, other_host}, pool, io);
    ASSERT_EQ(out.results.size(), 3u);
    for (const auto& r : out.results) {
        expect_delivered(r);
        EXPECT_FALSE(r.reused);
    }
    ASSERT_EQ(out.records.size(), 3u);
    for (const auto& rec : out.records) EXPECT_EQ(verbs(rec), (V{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}));
}

TEST(delivery_ConnectionReuse, Final421IsNotPooled) {
    asio::io_context io;
    auto pool = ConnectionPool::make(asio::make_strand(io));
    Script s;
    s.data_end = "421 4.3.2 fake.test shutting down\r\n";
    std::size_t idle_after_first = 99;
    Step first{plain_options(pool)};
    first.after = [&] { idle_after_first = pool->idle(); };
    auto out = run_steps(s, {first, Step{plain_options(pool)}}, pool, io);
    ASSERT_EQ(out.results.size(), 2u);
    EXPECT_EQ(out.results[0].recipients.at(0).outcome, Outcome::temporary);
    EXPECT_EQ(out.results[0].recipients.at(0).code, 421);
    EXPECT_EQ(idle_after_first, 0u);
    EXPECT_FALSE(out.results[1].reused);
    ASSERT_EQ(out.records.size(), 2u);
    EXPECT_EQ(verbs(out.records[1]), (V{"EHLO", "MAIL", "RCPT", "DATA"}));
}

TEST(delivery_ConnectionReuse, ShutdownQuitsIdleAndLaterConnections) {
    asio::io_context io;
    auto pool = ConnectionPool::make(asio::make_strand(io));
    std::size_t idle_after_first = 99;
    Step first{plain_options(pool)};
    first.after = [&] {
        idle_after_first = pool->idle();
        pool->shutdown();
    };
    Step second{plain_options(pool)};
    second.wait_before = 100ms;  // the QUIT of the first runs meanwhile
    auto out = run_steps(Script{}, {first, second}, pool, io, false);
    EXPECT_EQ(idle_after_first, 1u);
    ASSERT_EQ(out.results.size(), 2u);
    expect_delivered(out.results[1]);
    EXPECT_FALSE(out.results[1].reused);
    ASSERT_EQ(out.records.size(), 2u);
    EXPECT_EQ(verbs(out.records[0]), (V{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}));
    EXPECT_EQ(verbs(out.records[1]), (V{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}));
    EXPECT_EQ(pool->idle(), 0u);
    EXPECT_LT(out.elapsed, 5s);
}

TEST(delivery_ConnectionReuse, IdleConnectionExpiresWithQuit) {
    asio::io_context io;
    ConnectionPool::Limits limits;
    limits.idle_timeout = 200ms;
    auto pool = ConnectionPool::make(asio::make_strand(io), limits);
    auto out = run_steps(Script{}, {Step{plain_options(pool)}}, pool, io, false);
    expect_delivered(out.results.at(0));
    ASSERT_EQ(out.records.size(), 1u);
    EXPECT_EQ(verbs(out.records[0]), (V{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}));
    EXPECT_EQ(pool->idle(), 0u);
    EXPECT_GE(out.elapsed, 200ms);
    EXPECT_LT(out.elapsed, 5s);  // the io_context ran out of work: no timer left behind
}

TEST(delivery_ConnectionReuse, TransactionLimitPerConnection) {
    asio::io_context io;
    ConnectionPool::Limits limits;
    limits.max_transactions = 2;
    auto pool = ConnectionPool::make(asio::make_strand(io), limits);
    auto out = run_steps(Script{}, {Step{plain_options(pool)}, Step{plain_options(pool)}, Step{plain_options(pool)}},
                         pool, io);
    ASSERT_EQ(out.results.size(), 3u);
    for (const auto& r : out.results) expect_delivered(r);
    EXPECT_FALSE(out.results[0].reused);
    EXPECT_TRUE(out.results[1].reused);
    EXPECT_FALSE(out.results[2].reused);
    ASSERT_EQ(out.records.size(), 2u);
    EXPECT_EQ(verbs(out.records[0]), (V{"EHLO", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA", "QUIT"}));
}

TEST(delivery_ConnectionReuse, IdleLimitPerKey) {
    asio::io_context io;
    ConnectionPool::Limits limits;
    limits.max_idle_per_key = 0;  // reuse off: every session QUITs
    auto pool = ConnectionPool::make(asio::make_strand(io), limits);
    auto out = run_steps(Script{}, {Step{plain_options(pool)}, Step{plain_options(pool)}}, pool, io);
    ASSERT_EQ(out.records.size(), 2u);
    for (const auto& rec : out.records) EXPECT_EQ(verbs(rec), (V{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}));
}

// The smarthost deliverer's own pool: verified STARTTLS and AUTH once, then RSET; the
// reused connection reports the TLS of the first; stop() QUITs it.
TEST(delivery_ConnectionReuse, SmarthostReusesItsConnectionAndStopQuits) {
    TempDir dir;
    TestCert cert = make_test_cert();
    write_file(dir.path() / "ca.pem", cert.cert_pem);
    write_file(dir.path() / "creds", "bob:s3cret\n");
    asio::io_context io;
    Script s;
    s.tls = server_context(cert);
    s.ehlo = "250-fake.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n";
    s.ehlo_tls = "250-fake.test\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n";
    s.user = "bob";
    s.password = "s3cret";
    FakeServer server(io, s);
    server.start();
    config::DeliveryConfig delivery;
    delivery.mode = config::DeliveryMode::smarthost;
    delivery.smarthost = config::Endpoint{"127.0.0.1", server.endpoint().port()};
    delivery.smarthost_credentials_file = dir.path() / "creds";
    delivery.extra_ca_file = dir.path() / "ca.pem";
    SmarthostDeliverer d(delivery, "relay.example.net", io.get_executor(), nullptr, 1, short_timeouts());
    std::vector<std::vector<RecipientResult>> results;
    for (int i = 0; i < 2; ++i)
        d.deliver(make_job(dir.path(), kMessage, {"b@example.org"}, "", "Q" + std::to_string(i)),
                  [&](std::vector<RecipientResult> r) {
                      results.push_back(std::move(r));
                      if (results.size() == 2) {
                          d.stop();
                          server.close();
                      }
                  });
    const auto start = std::chrono::steady_clock::now();
    io.run_for(20s);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    ASSERT_EQ(results.size(), 2u);
    for (const auto& r : results) {
        EXPECT_EQ(r.at(0).outcome, Outcome::delivered) << r.at(0).text;
        EXPECT_EQ(r.at(0).tls.rfind("TLSv1.", 0), 0u) << r.at(0).tls;
        EXPECT_EQ(r.at(0).remote_host, results[0].at(0).remote_host);
    }
    ASSERT_EQ(server.records.size(), 1u);
    EXPECT_TRUE(server.records[0].tls);
    EXPECT_EQ(verbs(server.records[0]), (V{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "MAIL",
                                          "RCPT", "DATA", "QUIT"}));
}

}  // namespace
