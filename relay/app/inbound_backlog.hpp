// relay/app/inbound_backlog.hpp — how much mail waits for each [[inbound]] domain's home
// server: the gauges signpost_inbound_queue_messages{domain} and
// signpost_inbound_queue_oldest_age_seconds{domain}, from one pass over the queue.
//
// A message counts for a domain while it has a pending recipient at that domain (exact,
// case-insensitive; a trailing dot ignored, as InboundDeliverer routes); its age is the
// time since it arrived. Every configured domain gets an entry, 0 and 0 when nothing waits.
//
// Threading: pure.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "relay/queue/spool.hpp"

namespace signpost::app {

struct InboundBacklog {
    std::size_t messages = 0;
    double oldest_age_seconds = 0;  // 0 when no message waits
};

// Counts message by message (Manager::for_each_message), then result().
class InboundBacklogCounter {
public:
    InboundBacklogCounter(const std::vector<config::InboundConfig>& inbound, std::chrono::system_clock::time_point now);
    void add(const queue::Envelope& message);
    // One entry per configured domain.
    const std::map<std::string, InboundBacklog>& result() const { return out_; }

private:
    std::map<std::string, InboundBacklog> out_;
    std::chrono::system_clock::time_point now_;
};

}  // namespace signpost::app
