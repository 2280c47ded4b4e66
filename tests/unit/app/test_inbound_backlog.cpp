// tests/unit/app/test_inbound_backlog.cpp — mail waiting per [[inbound]] domain, from a
// pass over the queue (the signpost_inbound_queue_* gauges).
#include <gtest/gtest.h>

#include "relay/app/inbound_backlog.hpp"

namespace {

using namespace signpost;
using namespace std::chrono_literals;

queue::Envelope message(std::chrono::system_clock::time_point arrival,
                        std::vector<std::pair<std::string, queue::RcptState>> recipients) {
    queue::Envelope e;
    e.arrival = arrival;
    for (auto& [address, state] : recipients) {
        queue::Recipient r;
        r.address = address;
        r.state = state;
        e.recipients.push_back(r);
    }
    return e;
}

TEST(AppInboundBacklog, PendingRecipientsPerDomain) {
    std::vector<config::InboundConfig> inbound(3);
    inbound[0].domain = "home.example";
    inbound[1].domain = "family.example";
    inbound[2].domain = "quiet.example";
    const auto now = std::chrono::system_clock::time_point{} + 1000h;
    using S = queue::RcptState;
    std::vector<queue::Envelope> queue = {
        // Two recipients at one domain: one message.
        message(now - 600s, {{"alice@home.example", S::pending}, {"bob@Home.Example.", S::pending}}),
        // Delivered or failed recipients do not wait.
        message(now - 7200s, {{"alice@home.example", S::delivered}, {"carol@family.example", S::failed}}),
        message(now - 60s, {{"carol@family.example", S::pending}, {"x@elsewhere.example", S::pending}}),
        message(now - 30s, {{"dave@home.example", S::pending}}),
        // Outbound mail and nonsense addresses are not inbound backlog.
        message(now - 9000s, {{"someone@elsewhere.example", S::pending}, {"no-at-sign", S::pending}}),
    };
    app::InboundBacklogCounter counter(inbound, now);
    for (const auto& m : queue) counter.add(m);
    auto b = counter.result();
    ASSERT_EQ(b.size(), 3u);
    EXPECT_EQ(b["home.example"].messages, 2u);
    EXPECT_DOUBLE_EQ(b["home.example"].oldest_age_seconds, 600.0);
    EXPECT_EQ(b["family.example"].messages, 1u);
    EXPECT_DOUBLE_EQ(b["family.example"].oldest_age_seconds, 60.0);
    EXPECT_EQ(b["quiet.example"].messages, 0u);
    EXPECT_DOUBLE_EQ(b["quiet.example"].oldest_age_seconds, 0.0);
    EXPECT_EQ(b.count("elsewhere.example"), 0u);
}

TEST(AppInboundBacklog, ArrivalInTheFutureIsAgeZero) {
    std::vector<config::InboundConfig> inbound(1);
    inbound[0].domain = "home.example";
    const auto now = std::chrono::system_clock::time_point{} + 1000h;
    app::InboundBacklogCounter counter(inbound, now);
    counter.add(message(now + 5s, {{"a@home.example", queue::RcptState::pending}}));
    auto b = counter.result();
    EXPECT_EQ(b["home.example"].messages, 1u);
    EXPECT_DOUBLE_EQ(b["home.example"].oldest_age_seconds, 0.0);
}

}  // namespace
