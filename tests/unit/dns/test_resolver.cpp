// tests/unit/dns/test_resolver.cpp — the Asio side of relay/dns's UnboundResolver, against a
// forwarder on 127.0.0.1 that never answers (a UDP socket nobody reads and a TCP listener
// nobody accepts on, in this process): the [dns] timeout, cancellation through the awaiting
// coroutine's cancellation slot, destruction with queries outstanding, the name bound,
// many queries from several threads, and construction errors that name the setting. Each
// case also checks that the io_context runs out of work afterwards: nothing is left armed.
// Answers from a real server are the integration test's (tests/integration/dns).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <variant>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "relay/dns/resolver.hpp"

namespace {

namespace asio = boost::asio;
using namespace signpost;
using namespace std::chrono_literals;
using namespace std::string_literals;
using Clock = std::chrono::steady_clock;

// A DNS server that never answers: both sockets bound to one port, never read.
struct SilentServer {
    // The UDP port is picked by the kernel; the same TCP port may be in use by another
    // test's connection, so pick again until both are free (bounded).
    explicit SilentServer(asio::io_context& io) : udp(io), tcp(io) {
        for (int attempt = 0; attempt < 100; ++attempt) {
            boost::system::error_code ec;
            udp = asio::ip::udp::socket(io, {asio::ip::make_address("127.0.0.1"), 0});
            const auto port = udp.local_endpoint().port();
            tcp = asio::ip::tcp::acceptor(io);
            tcp.open(asio::ip::tcp::v4());
            tcp.bind({asio::ip::make_address("127.0.0.1"), port}, ec);
            if (!ec) {
                tcp.listen(1);
                return;
            }
        }
        throw std::runtime_error("SilentServer: no port free for both UDP and TCP in 100 tries");
    }
    config::DnsConfig config(std::chrono::seconds timeout) const {
        config::DnsConfig c;
        c.forwarders.push_back({"127.0.0.1", udp.local_endpoint().port()});
        c.timeout = timeout;
        return c;
    }
    asio::ip::udp::socket udp;
    asio::ip::tcp::acceptor tcp;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs `io` until it runs out of work, failing the test if that takes over `limit`.
void run_bounded(asio::io_context& io, std::chrono::seconds limit) {
    const auto start = Clock::now();
    std::atomic<bool> done{false};
    std::thread watchdog([&] {
        while (!done && Clock::now() - start < limit) std::this_thread::sleep_for(10ms);
        if (!done) io.stop();
    });
    io.run();
    done = true;
    watchdog.join();
    ASSERT_LT(Clock::now() - start, limit) << "the io_context still had work: something stayed armed";
}

TEST(dns_Resolver, StatusNames) {
    EXPECT_STREQ(dns::to_string(dns::Status::ok), "ok");
    EXPECT_STREQ(dns::to_string(dns::Status::nxdomain), "nxdomain");
    EXPECT_STREQ(dns::to_string(dns::Status::servfail), "servfail");
    EXPECT_STREQ(dns::to_string(dns::Status::timeout), "timeout");
}

TEST(dns_Resolver, NoAnswerIsTimeoutAfterTheConfiguredSeconds) {
    asio::io_context io;
    SilentServer server(io);
    auto resolver = dns::make_unbound_resolver(io.get_executor(), server.config(1s));
    std::vector<dns::Answer> answers;
    std::vector<double> took;
    auto ask = [&]() -> asio::awaitable<void> {
        const auto start = Clock::now();
        answers.push_back(co_await resolver->mx("example.test"));
        took.push_back(seconds_since(start));
        answers.push_back(co_await resolver->tlsa("_25._tcp.mx.example.test"));
        took.push_back(seconds_since(start));
    };
    asio::co_spawn(io, ask(), asio::detached);
    run_bounded(io, 10s);
    ASSERT_EQ(answers.size(), 2u);
    for (const auto& a : answers) {
        EXPECT_EQ(a.status, dns::Status::timeout);
        EXPECT_EQ(a.why, "timeout after 1s");
        EXPECT_FALSE(a.secure());
    }
    EXPECT_GE(took[0], 0.95);
    EXPECT_LT(took[0], 3.0);
    EXPECT_GE(took[1], 1.9);
}

TEST(dns_Resolver, CancelledByTheAwaitingCoroutine) {
    using namespace asio::experimental::awaitable_operators;
    asio::io_context io;
    SilentServer server(io);
    auto resolver = dns::make_unbound_resolver(io.get_executor(), server.config(30s));
    std::size_t winner = 99;
    double took = 0;
    auto ask = [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io, 200ms);
        const auto start = Clock::now();
        // Named awaitables: GCC 12 mishandles temporaries inside a co_await expression.
        auto query = resolver->a("host.example.test");
        auto wait = timer.async_wait(asio::use_awaitable);
        auto r = co_await (std::move(query) || std::move(wait));
        took = seconds_since(start);
        winner = r.index();
    };
    asio::co_spawn(io, ask(), asio::detached);
    run_bounded(io, 10s);  // a query left running would hold the io_context for 30 s
    EXPECT_EQ(winner, 1u);
    EXPECT_LT(took, 2.0);
}

TEST(dns_Resolver, DestroyedWithQueriesOutstandingAnswersServfail) {
    asio::io_context io;
    SilentServer server(io);
    auto resolver = dns::make_unbound_resolver(io.get_executor(), server.config(30s));
    std::vector<dns::Answer> answers;
    auto ask = [&](dns::Resolver* r, int type) -> asio::awaitable<void> {
        // The coroutine never touches the resolver after starting the query.
        if (type == 0) answers.push_back(co_await r->mx("example.test"));
        else if (type == 1) answers.push_back(co_await r->txt("example.test"));
        else answers.push_back(co_await r->aaaa("example.test"));
    };
    for (int t = 0; t < 3; ++t) asio::co_spawn(io, ask(resolver.get(), t), asio::detached);
    asio::steady_timer later(io, 200ms);
    later.async_wait([&](const boost::system::error_code&) { resolver.reset(); });
    const auto start = Clock::now();
    run_bounded(io, 10s);
    EXPECT_LT(seconds_since(start), 2.0);
    ASSERT_EQ(answers.size(), 3u);
    for (const auto& a : answers) {
        EXPECT_EQ(a.status, dns::Status::servfail);
        EXPECT_EQ(a.why, "resolver shut down");
    }
}

TEST(dns_Resolver, QueriesAfterShutdownStartedAnswerServfail) {
    // A coroutine that got its awaitable before the resolver went away asks afterwards.
    asio::io_context io;
    SilentServer server(io);
    auto resolver = dns::make_unbound_resolver(io.get_executor(), server.config(30s));
    asio::awaitable<dns::MxAnswer> pending = resolver->mx("example.test");
    resolver.reset();
    dns::MxAnswer answer;
    auto ask = [&](asio::awaitable<dns::MxAnswer> a) -> asio::awaitable<void> { answer = co_await std::move(a); };
    asio::co_spawn(io, ask(std::move(pending)), asio::detached);
    run_bounded(io, 10s);
    EXPECT_EQ(answer.status, dns::Status::servfail);
    EXPECT_EQ(answer.why, "resolver shut down");
}

TEST(dns_Resolver, NamesOverTheBoundAreNotAsked) {
    asio::io_context io;
    SilentServer server(io);
    auto resolver = dns::make_unbound_resolver(io.get_executor(), server.config(30s));
    const std::string label63(63, 'a');
    const std::string name254 = label63 + "." + label63 + "." + label63 + "." + std::string(62, 'b');  // 254
    ASSERT_EQ(name254.size(), 254u);
    std::vector<dns::Answer> answers;
    auto ask = [&]() -> asio::awaitable<void> {
        answers.push_back(co_await resolver->a(name254));
        answers.push_back(co_await resolver->a(""));
        answers.push_back(co_await resolver->txt("."));
        answers.push_back(co_await resolver->mx("nul\0.test"s));
    };
    asio::co_spawn(io, ask(), asio::detached);
    run_bounded(io, 5s);  // refused without asking: no 30 s timeout
    ASSERT_EQ(answers.size(), 4u);
    EXPECT_EQ(answers[0].why, "name longer than 253 octets");
    EXPECT_EQ(answers[1].why, "empty name");
    EXPECT_EQ(answers[2].why, "empty name");
    EXPECT_EQ(answers[3].why, "name contains a NUL octet");
    for (const auto& a : answers) EXPECT_EQ(a.status, dns::Status::servfail);
}

TEST(dns_Resolver, ManyQueriesFromSeveralThreads) {
    asio::io_context io;
    SilentServer server(io);
    auto resolver = dns::make_unbound_resolver(io.get_executor(), server.config(1s));
    std::atomic<int> timeouts{0}, others{0};
    auto ask = [&](int i) -> asio::awaitable<void> {
        std::string name = "h";  // appended: GCC 12 -O3 false -Wrestrict on "h" + std::string
        name += std::to_string(i);
        name += ".example.test";
        dns::AddressAnswer a = co_await resolver->a(name);
        (a.status == dns::Status::timeout ? timeouts : others)++;
    };
    for (int i = 0; i < 300; ++i) asio::co_spawn(io, ask(i), asio::detached);
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) threads.emplace_back([&] { io.run(); });
    io.run();
    for (auto& t : threads) t.join();
    EXPECT_EQ(timeouts.load(), 300);
    EXPECT_EQ(others.load(), 0);
}

TEST(dns_Resolver, ConstructionErrorsNameTheSetting) {
    asio::io_context io;
    config::DnsConfig bad_forwarder;
    bad_forwarder.forwarders.push_back({"not-an-address", 53});
    try {
        dns::make_unbound_resolver(io.get_executor(), bad_forwarder);
        ADD_FAILURE() << "a forwarder that is not an address was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("forwarder not-an-address@53"), std::string::npos) << e.what();
    }
    config::DnsConfig no_anchor;
    no_anchor.forwarders.push_back({"127.0.0.1", 53});
    no_anchor.dnssec = true;
    no_anchor.trust_anchor_file = "/nonexistent/signpost-root.key";
    try {
        dns::make_unbound_resolver(io.get_executor(), no_anchor);
        ADD_FAILURE() << "a missing trust anchor file was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/signpost-root.key"), std::string::npos) << e.what();
    }
}

}  // namespace
