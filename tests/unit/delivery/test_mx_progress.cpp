// Unit tests of MxDeliverer with a job for several domains, each routed ([[route]] host: no
// DNS) to a fake server on 127.0.0.1; one accepts at once, another never greets. The
// domains are delivered at once: what the quick one accepted is reported through
// Job::progress as soon as it is, long before the job's results (which wait for the slow
// domain's greeting timeout), whichever comes first by name; and stop() ends them all.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include "fake_server.hpp"
#include "relay/delivery/mx.hpp"
#include "relay/log/log.hpp"

namespace {

namespace asio = boost::asio;
using namespace signpost::delivery;
using namespace signpost::delivery::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// An MxDeliverer whose [[route]]s send a.test and b.test, in clear, to two local ports.
std::shared_ptr<MxDeliverer> two_route_mx(asio::io_context& io, std::uint16_t a_port, std::uint16_t b_port,
                                          std::chrono::milliseconds greeting_timeout) {
    MxOptions o;
    o.helo_name = "relay.example.test";
    o.timeouts.greeting = greeting_timeout;
    signpost::config::RouteConfig a, b;
    a.domain = "a.test";
    a.host = signpost::config::Endpoint{"127.0.0.1", a_port};
    a.tls = signpost::config::RouteTls::none;
    b.domain = "b.test";
    b.host = signpost::config::Endpoint{"127.0.0.1", b_port};
    b.tls = signpost::config::RouteTls::none;
    o.routes = {a, b};
    auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    auto logger = signpost::log::make_root(signpost::config::LogFormat::text, signpost::config::LogLevel::off);
    return std::make_shared<MxDeliverer>(io.get_executor(), nullptr, nullptr, tls, o, logger);
}

// One job through `mx`: its progress report and its results, with when each came.
struct Outcomes {
    std::optional<std::vector<RecipientResult>> progress, done;
    Clock::duration progress_at{}, done_at{};
};

Outcomes run_job(asio::io_context& io, MxDeliverer& mx, std::vector<std::string> recipients,
                 std::function<void()> on_done) {
    TempDir dir;
    Job job = make_job(dir.path(), "Subject: x\r\n\r\nbody\r\n", std::move(recipients));
    const auto start = Clock::now();
    Outcomes out;
    job.progress = [&](std::vector<RecipientResult> r) {
        out.progress = std::move(r);
        out.progress_at = Clock::now() - start;
    };
    mx.deliver(std::move(job), [&](std::vector<RecipientResult> r) {
        out.done = std::move(r);
        out.done_at = Clock::now() - start;
        on_done();
    });
    for (auto end = Clock::now() + 10s; !out.done && Clock::now() < end;) io.run_for(50ms);
    mx.stop();
    io.run_for(100ms);
    return out;
}

TEST(delivery_MxProgress, AcceptedDomainIsReportedBeforeTheSlowOne) {
    asio::io_context io;
    Script quick;
    FakeServer fast(io, quick);
    fast.start();
    Script silent;
    silent.silent = true;
    FakeServer slow(io, silent);
    slow.start();
    auto mx = two_route_mx(io, fast.endpoint().port(), slow.endpoint().port(), 1500ms);
    Outcomes out = run_job(io, *mx, {"x@a.test", "y@b.test"}, [&] {
        fast.close();
        slow.close();
    });

    ASSERT_TRUE(out.progress.has_value());
    ASSERT_EQ(out.progress->size(), 1u);
    EXPECT_EQ((*out.progress)[0].address, "x@a.test");
    EXPECT_EQ((*out.progress)[0].outcome, Outcome::delivered);
    ASSERT_TRUE(out.done.has_value());
    ASSERT_EQ(out.done->size(), 2u);
    for (const auto& r : *out.done) EXPECT_EQ(r.outcome, r.address == "x@a.test" ? Outcome::delivered : Outcome::temporary);
    EXPECT_LT(out.progress_at, 1000ms);  // at once, not after the slow domain's 1.5 s timeout
    EXPECT_GE(out.done_at, 1400ms);
}

// The slow domain first by name: with the domains one after another, the quick one would
// wait for the slow one's greeting timeout.
TEST(delivery_MxProgress, ASlowDomainDoesNotHoldBackTheOthers) {
    asio::io_context io;
    Script silent;
    silent.silent = true;
    FakeServer slow(io, silent);
    slow.start();
    Script quick;
    FakeServer fast(io, quick);
    fast.start();
    auto mx = two_route_mx(io, slow.endpoint().port(), fast.endpoint().port(), 1500ms);
    Outcomes out = run_job(io, *mx, {"y@b.test", "x@a.test", "z@b.test"}, [&] {
        fast.close();
        slow.close();
    });

    ASSERT_TRUE(out.progress.has_value());
    ASSERT_EQ(out.progress->size(), 2u);
    EXPECT_EQ((*out.progress)[0].address, "y@b.test");
    EXPECT_EQ((*out.progress)[1].address, "z@b.test");
    EXPECT_LT(out.progress_at, 1000ms);  // not after a.test's 1.5 s timeout
    ASSERT_EQ(fast.records.size(), 1u);  // one transaction for both b.test recipients
    ASSERT_TRUE(out.done.has_value());
    ASSERT_EQ(out.done->size(), 3u);
    // The results come in domain order, whatever order the domains ended in.
    EXPECT_EQ((*out.done)[0].address, "x@a.test");
    EXPECT_EQ((*out.done)[0].outcome, Outcome::temporary);
    EXPECT_EQ((*out.done)[1].address, "y@b.test");
    EXPECT_EQ((*out.done)[1].outcome, Outcome::delivered);
    EXPECT_EQ((*out.done)[2].address, "z@b.test");
    EXPECT_EQ((*out.done)[2].outcome, Outcome::delivered);
    EXPECT_GE(out.done_at, 1400ms);
}

// stop() while two domains of one job are waiting for a greeting: both sessions end at once
// (the job's stop signal is passed on to each domain's), long before their timeouts.
TEST(delivery_MxProgress, StopEndsEveryDomainOfTheJob) {
    asio::io_context io;
    Script silent;
    silent.silent = true;
    FakeServer one(io, silent), two(io, silent);
    one.start();
    two.start();
    auto mx = two_route_mx(io, one.endpoint().port(), two.endpoint().port(), 20s);

    TempDir dir;
    Job job = make_job(dir.path(), "Subject: x\r\n\r\nbody\r\n", {"x@a.test", "y@b.test"});
    std::optional<std::vector<RecipientResult>> done;
    mx->deliver(std::move(job), [&](std::vector<RecipientResult> r) { done = std::move(r); });
    for (auto end = Clock::now() + 2s; (one.records.size() < 1 || two.records.size() < 1) && Clock::now() < end;)
        io.run_for(20ms);
    EXPECT_EQ(one.records.size(), 1u);  // both sessions are open at once
    EXPECT_EQ(two.records.size(), 1u);
    const auto stopped = Clock::now();
    mx->stop();
    for (auto end = Clock::now() + 10s; !done && Clock::now() < end;) io.run_for(20ms);
    ASSERT_TRUE(done.has_value());
    EXPECT_LT(Clock::now() - stopped, 3s);
    ASSERT_EQ(done->size(), 2u);
    for (const auto& r : *done) EXPECT_EQ(r.outcome, Outcome::temporary) << r.address;
    one.close();
    two.close();
    io.run_for(100ms);
}

}  // namespace
