// relay/app/cli_health.hpp — `signpost health --config F`: asks the running daemon's
// /healthz (on `[metrics] listen`, over loopback for a wildcard address) and exits 0 when
// it answers 200, 1 when it answers anything else or cannot be reached, 2 when the
// configuration cannot be read or has no metrics endpoint. One line says which. The
// container image's HEALTHCHECK runs it.
#pragma once

namespace CLI {
class App;
}

namespace signpost::app {

void add_health_command(CLI::App& app, int& exit_code);

}  // namespace signpost::app
