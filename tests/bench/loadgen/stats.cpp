// tests/bench/loadgen/stats.cpp — counters and exact percentiles (see stats.hpp).
#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace loadgen {

Percentiles percentiles(std::vector<double>& ms) {
    Percentiles p;
    if (ms.empty())
        return p;
    std::sort(ms.begin(), ms.end());
    auto rank = [&](double q) {
        // Nearest rank: the smallest value with at least q of the samples at or below it.
        auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(ms.size())));
        return ms[std::clamp<std::size_t>(k, 1, ms.size()) - 1];
    };
    p.p50 = rank(0.50);
    p.p95 = rank(0.95);
    p.p99 = rank(0.99);
    p.max = ms.back();
    p.mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
    return p;
}

void Stats::message_ok(double latency_ms) {
    std::lock_guard lock(mu_);
    ++s_.ok;
    s_.latencies_ms.push_back(latency_ms);
}

void Stats::message_refused(const Reply& reply, const std::string& stage) {
    std::lock_guard lock(mu_);
    ++s_.refused;
    auto& r = s_.refusals[reply.key()];
    if (r.count++ == 0) {
        r.first = reply.summary();
        r.first.insert(0, 1, '"');
        r.first.append("\" at ").append(stage);
    }
}

void Stats::message_lost() {
    std::lock_guard lock(mu_);
    ++s_.lost;
}

void Stats::connection_opened() {
    std::lock_guard lock(mu_);
    ++s_.connections;
}

void Stats::connection_failed(const std::string& what) {
    std::lock_guard lock(mu_);
    ++s_.connection_failures;
    ++s_.connection_errors[what];
}

Stats::Snapshot Stats::snapshot() const {
    std::lock_guard lock(mu_);
    return s_;
}

}  // namespace loadgen
