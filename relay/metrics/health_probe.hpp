// relay/metrics/health_probe.hpp — the client side of /healthz, for `signpost health`.
//
// The container image's HEALTHCHECK runs `signpost health`, which asks the daemon's own
// endpoint (metrics.hpp) over loopback, so the image needs no curl. A wildcard listen
// address (0.0.0.0, ::) is asked on the matching loopback address.
//
// Untrusted input: the HTTP response (parsed by Beast, body capped at 4 KB). Threading:
// blocking; runs its own io_context for one request.
#pragma once

#include <chrono>
#include <string>

#include "config/config.hpp"

namespace signpost::metrics {

struct HealthAnswer {
    bool reached = false;  // an HTTP response arrived
    int status = 0;        // its status code
    std::string text;      // the body (first line), or why nothing was reached
};

// GET /healthz on `listen` (the configured [metrics] listen endpoint), within `timeout`.
HealthAnswer probe_health(const config::Endpoint& listen, std::chrono::milliseconds timeout);

// The address a client uses for a listen address: 0.0.0.0 -> 127.0.0.1, :: -> ::1.
std::string connect_host_for(const std::string& listen_host);

}  // namespace signpost::metrics
