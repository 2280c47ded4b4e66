// relay/app/inbound_backlog.hpp — how much mail waits for each [[inbound]] domain's home
// server: the gauges signpost_inbound_queue_messages{domain} and
// signpost_inbound_queue_oldest_age_seconds{domain}, from a queue snapshot.
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

std::map<std::string, InboundBacklog> inbound_backlog(const std::vector<config::InboundConfig>& inbound,
                                                      const std::vector<queue::Envelope>& messages,
                                                      std::chrono::system_clock::time_point now);

}  // namespace signpost::app
