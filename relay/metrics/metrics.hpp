// relay/metrics/metrics.hpp — the Prometheus registry and its HTTP endpoint.
//
// One Registry per daemon, created by relay/app and handed to each module, which declares
// its own metric families where it counts them (STYLE.md habit 10). When `[metrics]
// listen` is set, prometheus-cpp's pull exposer serves /metrics on that address.
//
// Untrusted input: HTTP requests to the endpoint (handled by prometheus-cpp's civetweb).
// Threading: the registry and its metrics are thread-safe.
#pragma once

#include <memory>
#include <optional>

#include <prometheus/registry.h>

#include "config/config.hpp"

namespace prometheus {
class Exposer;
}

namespace signpost::metrics {

class MetricsServer {
public:
    // Throws std::runtime_error naming the address when it cannot listen there.
    explicit MetricsServer(const std::optional<config::Endpoint>& listen);
    ~MetricsServer();

    prometheus::Registry& registry() { return *registry_; }

private:
    std::shared_ptr<prometheus::Registry> registry_;
    std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace signpost::metrics
