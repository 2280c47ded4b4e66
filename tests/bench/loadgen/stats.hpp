// tests/bench/loadgen/stats.hpp — what a load run counts, and the report it prints.
//
// What it counts: each submit transaction's latency (one sample per accepted message, kept
// whole, so percentiles are exact: nearest-rank), messages refused by a reply (counted by
// "code enhanced-code", e.g. "451 4.3.0"), messages lost with their connection, and
// connection failures (refused connect, TLS handshake, timeout, server closed, a refused
// greeting/EHLO/STARTTLS/AUTH) counted by a short description.
//
// Threading: every method may be called from any thread (one mutex; a load run records a
// few thousand events per second at most, far from contention).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "reply.hpp"

namespace loadgen {

struct Percentiles {
    double p50 = 0, p95 = 0, p99 = 0, max = 0, mean = 0;  // milliseconds
};

// Nearest-rank percentiles of `ms` (sorted in place). All zero when empty.
Percentiles percentiles(std::vector<double>& ms);

class Stats {
public:
    void message_ok(double latency_ms);
    // A message refused by `reply` at `stage` ("MAIL", "RCPT", "DATA", "end of data", "BDAT").
    void message_refused(const Reply& reply, const std::string& stage);
    // A message that was under way (or about to start) when its connection failed.
    void message_lost();
    void connection_opened();
    void connection_failed(const std::string& what);

    struct Snapshot {
        std::uint64_t ok = 0, refused = 0, lost = 0;
        std::uint64_t connections = 0, connection_failures = 0;
        std::vector<double> latencies_ms;
        struct Refusal {
            std::uint64_t count = 0;
            std::string first;  // first reply seen with this key, and where
        };
        std::map<std::string, Refusal> refusals;                // by Reply::key()
        std::map<std::string, std::uint64_t> connection_errors;  // by description
    };
    Snapshot snapshot() const;

private:
    mutable std::mutex mu_;
    Snapshot s_;
};

}  // namespace loadgen
