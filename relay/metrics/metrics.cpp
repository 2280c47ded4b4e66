// relay/metrics/metrics.cpp — registry and /metrics endpoint (see metrics.hpp).
#include "relay/metrics/metrics.hpp"

#include <stdexcept>

#include <prometheus/exposer.h>

namespace signpost::metrics {

MetricsServer::MetricsServer(const std::optional<config::Endpoint>& listen)
    : registry_(std::make_shared<prometheus::Registry>()) {
    if (!listen) return;
    try {
        exposer_ = std::make_unique<prometheus::Exposer>(listen->to_string(), 2);
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot serve metrics on " + listen->to_string() + ": " + e.what());
    }
    exposer_->RegisterCollectable(registry_);
}

MetricsServer::~MetricsServer() = default;

}  // namespace signpost::metrics
