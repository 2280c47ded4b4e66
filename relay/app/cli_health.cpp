// relay/app/cli_health.cpp — `signpost health` (see cli_health.hpp).
#include "relay/app/cli_health.hpp"

#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "config/config.hpp"
#include "relay/metrics/health_probe.hpp"

namespace signpost::app {
namespace {

struct HealthOptions {
    std::string config_path = "/etc/signpost/signpost.toml";
    double timeout_s = 5;
};

int run_health(const HealthOptions& o) {
    auto loaded = config::load_file(o.config_path);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        std::cerr << "signpost health: cannot read " << o.config_path << "\n";
        return 2;
    }
    const auto& listen = loaded.config->metrics.listen;
    if (!listen) {
        std::cerr << "signpost health: " << o.config_path
                  << " has no [metrics] listen, so there is no /healthz to ask\n";
        return 2;
    }
    auto timeout = std::chrono::milliseconds(static_cast<long>(o.timeout_s * 1000));
    auto answer = metrics::probe_health(*listen, timeout);
    if (!answer.reached) {
        std::cout << "unhealthy: " << answer.text << "\n";
        return 1;
    }
    if (answer.status != 200) {
        std::cout << "unhealthy (" << answer.status << "): " << answer.text << "\n";
        return 1;
    }
    std::cout << "healthy: " << answer.text << "\n";
    return 0;
}

}  // namespace

void add_health_command(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<HealthOptions>();
    auto* cmd = app.add_subcommand(
        "health", "Ask the running daemon's /healthz: exit 0 healthy, 1 unhealthy or down, 2 no endpoint");
    cmd->add_option("-c,--config", o->config_path, "Configuration file")->capture_default_str();
    cmd->add_option("--timeout", o->timeout_s, "Seconds to wait for the answer")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 60.0));
    cmd->callback([o, &exit_code] { exit_code = run_health(*o); });
}

}  // namespace signpost::app
