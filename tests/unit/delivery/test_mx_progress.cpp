// Unit test of MxDeliverer's progress reports (deliverer.hpp, Job::progress): a job for two
// domains, each routed ([[route]] host: no DNS) to a fake server on 127.0.0.1; the first
// accepts at once, the second never greets. What the first accepted is reported through
// Job::progress as soon as it is, long before the job's results (which wait for the
// second domain's greeting timeout).
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

}  // namespace
