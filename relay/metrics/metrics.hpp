// relay/metrics/metrics.hpp — the Prometheus registry and the HTTP endpoint on
// `[metrics] listen`.
//
// One Registry per daemon, created by relay/app and handed to each module, which declares
// its own metric families where it counts them (STYLE.md habit 10). The endpoint serves:
//   GET /metrics   the registry in Prometheus text format 0.0.4 (prometheus-cpp's
//                  TextSerializer)
//   GET /healthz   200 "ok" when the health check finds nothing wrong, else 503 and the
//                  reason, one line (container HEALTHCHECKs and load balancers ask this)
// HEAD is answered like GET without a body; other methods get 405, other paths 404.
// It is a small Boost.Beast server on the daemon's io_context rather than prometheus-cpp's
// civetweb exposer, which can answer nothing but 200 on its paths.
//
// Bounds: at most 32 connections at once (further ones are closed at once), request
// headers up to 8 KB and no request body, 10 s per request, keep-alive for up to 100
// requests on one connection.
//
// Untrusted input: HTTP requests (parsed by Beast). Threading: the registry and its
// metrics are thread-safe; start()/stop() from the daemon's wiring; connections run on
// the io_context's threads; the health check is called on them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <prometheus/registry.h>

#include "config/config.hpp"

namespace signpost::metrics {

class MetricsServer {
public:
    // When `listen` is set, binds it now; throws std::runtime_error naming the address
    // when it cannot. Nothing is served until start().
    MetricsServer(boost::asio::io_context& io, const std::optional<config::Endpoint>& listen);
    ~MetricsServer();

    prometheus::Registry& registry() { return *registry_; }

    // The /healthz check: "" = healthy, otherwise why not (a short line). Set before
    // start(); without one /healthz always answers 200.
    void set_health_check(std::function<std::string()> check);

    // The bound port (0 without an endpoint); `listen` may ask for port 0 (tests).
    std::uint16_t port() const;

    void start();
    // Stops accepting; requests in progress end with their connection.
    void stop();

private:
    struct Impl;
    std::shared_ptr<prometheus::Registry> registry_;
    std::shared_ptr<Impl> impl_;
};

}  // namespace signpost::metrics
