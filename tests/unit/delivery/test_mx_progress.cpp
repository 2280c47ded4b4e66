// Unit tests of MxDeliverer with a job for several domains, each routed ([[route]] host: no
// DNS) to a fake server on 127.0.0.1; one accepts at once, another never greets. The
// domains are delivered at once: what the quick one accepted is reported through
// Job::progress as soon as it is, long before the job's results (which wait for the slow
// domain's greeting timeout), whichever comes first by name; and stop() ends them all.
#include <gtest/gtest.h>

#include <chrono>
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

TEST(delivery_MxProgress, AcceptedDomainIsReportedBeforeTheSlowOne) {
    asio::io_context io;
    Script quick;
    FakeServer fast(io, quick);
    fast.start();
    Script silent;
    silent.silent = true;
    FakeServer slow(io, silent);
    slow.start();

    MxOptions o;
    o.helo_name = "relay.example.test";
    o.timeouts.greeting = 1500ms;
    signpost::config::RouteConfig a, b;
    a.domain = "a.test";
    a.host = signpost::config::Endpoint{"127.0.0.1", fast.endpoint().port()};
    a.tls = signpost::config::RouteTls::none;
    b.domain = "b.test";
    b.host = signpost::config::Endpoint{"127.0.0.1", slow.endpoint().port()};
    b.tls = signpost::config::RouteTls::none;
    o.routes = {a, b};
    auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    auto logger = signpost::log::make_root(signpost::config::LogFormat::text, signpost::config::LogLevel::off);
    auto mx = std::make_shared<MxDeliverer>(io.get_executor(), nullptr, nullptr, tls, o, logger);

    TempDir dir;
    Job job = make_job(dir.path(), "Subject: x\r\n\r\nbody\r\n", {"x@a.test", "y@b.test"});
    const auto start = Clock::now();
    std::optional<std::vector<RecipientResult>> progress, done;
    Clock::duration progress_at{}, done_at{};
    job.progress = [&](std::vector<RecipientResult> r) {
        progress = std::move(r);
        progress_at = Clock::now() - start;
    };
    mx->deliver(std::move(job), [&](std::vector<RecipientResult> r) {
        done = std::move(r);
        done_at = Clock::now() - start;
        fast.close();
        slow.close();
    });
    for (auto end = Clock::now() + 10s; !done && Clock::now() < end;) io.run_for(50ms);
    mx->stop();
    io.run_for(100ms);

    ASSERT_TRUE(progress.has_value());
    ASSERT_EQ(progress->size(), 1u);
    EXPECT_EQ((*progress)[0].address, "x@a.test");
    EXPECT_EQ((*progress)[0].outcome, Outcome::delivered);
    ASSERT_TRUE(done.has_value());
    ASSERT_EQ(done->size(), 2u);
    for (const auto& r : *done) EXPECT_EQ(r.outcome, r.address == "x@a.test" ? Outcome::delivered : Outcome::temporary);
    EXPECT_LT(progress_at, 1000ms);  // at once, not after the slow domain's 1.5 s timeout
    EXPECT_GE(done_at, 1400ms);
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

    MxOptions o;
    o.helo_name = "relay.example.test";
    o.timeouts.greeting = 1500ms;
    signpost::config::RouteConfig a, b;
    a.domain = "a.test";
    a.host = signpost::config::Endpoint{"127.0.0.1", slow.endpoint().port()};
    a.tls = signpost::config::RouteTls::none;
    b.domain = "b.test";
    b.host = signpost::config::Endpoint{"127.0.0.1", fast.endpoint().port()};
    b.tls = signpost::config::RouteTls::none;
    o.routes = {a, b};
    auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    auto logger = signpost::log::make_root(signpost::config::LogFormat::text, signpost::config::LogLevel::off);
    auto mx = std::make_shared<MxDeliverer>(io.get_executor(), nullptr, nullptr, tls, o, logger);

    TempDir dir;
    Job job = make_job(dir.path(), "Subject: x\r\n\r\nbody\r\n", {"y@b.test", "x@a.test", "z@b.test"});
    const auto start = Clock::now();
    std::optional<std::vector<RecipientResult>> progress, done;
    Clock::duration progress_at{}, done_at{};
    job.progress = [&](std::vector<RecipientResult> r) {
        progress = std::move(r);
        progress_at = Clock::now() - start;
    };
    mx->deliver(std::move(job), [&](std::vector<RecipientResult> r) {
        done = std::move(r);
        done_at = Clock::now() - start;
        fast.close();
        slow.close();
    });
    for (auto end = Clock::now() + 10s; !done && Clock::now() < end;) io.run_for(50ms);
    mx->stop();
    io.run_for(100ms);

    ASSERT_TRUE(progress.has_value());
    ASSERT_EQ(progress->size(), 2u);
    EXPECT_EQ((*progress)[0].address, "y@b.test");
    EXPECT_EQ((*progress)[1].address, "z@b.test");
    EXPECT_LT(progress_at, 1000ms);  // not after a.test's 1.5 s timeout
    ASSERT_EQ(fast.records.size(), 1u);  // one transaction for both b.test recipients
    ASSERT_TRUE(done.has_value());
    ASSERT_EQ(done->size(), 3u);
    // The results come in domain order, whatever order the domains ended in.
    EXPECT_EQ((*done)[0].address, "x@a.test");
    EXPECT_EQ((*done)[0].outcome, Outcome::temporary);
    EXPECT_EQ((*done)[1].address, "y@b.test");
    EXPECT_EQ((*done)[1].outcome, Outcome::delivered);
    EXPECT_EQ((*done)[2].address, "z@b.test");
    EXPECT_EQ((*done)[2].outcome, Outcome::delivered);
    EXPECT_GE(done_at, 1400ms);
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

    MxOptions o;
    o.helo_name = "relay.example.test";
    o.timeouts.greeting = 20s;
    signpost::config::RouteConfig a, b;
    a.domain = "a.test";
    a.host = signpost::config::Endpoint{"127.0.0.1", one.endpoint().port()};
    a.tls = signpost::config::RouteTls::none;
    b.domain = "b.test";
    b.host = signpost::config::Endpoint{"127.0.0.1", two.endpoint().port()};
    b.tls = signpost::config::RouteTls::none;
    o.routes = {a, b};
    auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    auto logger = signpost::log::make_root(signpost::config::LogFormat::text, signpost::config::LogLevel::off);
    auto mx = std::make_shared<MxDeliverer>(io.get_executor(), nullptr, nullptr, tls, o, logger);

    TempDir dir;
    Job job = make_job(dir.path(), "Subject: x\r\n\r\nbody\r\n", {"x@a.test", "y@b.test"});
    std::optional<std::vector<RecipientResult>> done;
    mx->deliver(std::move(job), [&](std::vector<RecipientResult> r) { done = std::move(r); });
    for (auto end = Clock::now() + 2s; (one.records.size() < 1 || two.records.size() < 1) && Clock::now() < end;) io.run_for(20ms);
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
