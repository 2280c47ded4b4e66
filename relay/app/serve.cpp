// relay/app/serve.cpp — the daemon's wiring (see serve.hpp).
#include "relay/app/serve.hpp"

#include <csignal>
#include <functional>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "config/config.hpp"
#include "keys/store.hpp"
#include "relay/app/dns_lookup.hpp"
#include "relay/app/key_rotation.hpp"
#include "relay/log/log.hpp"
#include "relay/metrics/metrics.hpp"

namespace signpost::app {

int serve(const std::filesystem::path& config_path) {
    config::LoadResult loaded = config::load_file(config_path);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        std::cerr << "signpost: not started: " << loaded.errors.size() << " configuration error"
                  << (loaded.errors.size() == 1 ? "" : "s") << "\n";
        return 1;
    }
    std::shared_ptr<const config::Config> cfg = loaded.config;
    log::Logger logger = log::make_root(cfg->log.format, cfg->log.level);

    logger->info("signpost starting: config {}, hostname {}", cfg->source.string(),
                 cfg->server.hostname);
    for (const auto& l : cfg->listeners)
        logger->info("listener {}: {} ({})", l.name, l.address.to_string(), config::to_string(l.tls));
    for (const auto& d : cfg->domains)
        logger->info("signing domain {}", d.name);
    logger->info("delivery mode {}", config::to_string(cfg->delivery.mode));
    if (cfg->metrics.listen) logger->info("metrics on {}", cfg->metrics.listen->to_string());

    std::unique_ptr<metrics::MetricsServer> metrics;
    keys::TxtLookup lookup;
    try {
        metrics = std::make_unique<metrics::MetricsServer>(cfg->metrics.listen);
        lookup = make_txt_lookup(cfg->dns);
    } catch (const std::exception& e) {
        logger->critical("not started: {}", e.what());
        return 1;
    }

    // DKIM keys: load what is active, run one rotation round (first keys, due activations),
    // then keep the schedule on its own thread.
    auto store = std::make_shared<keys::KeyStore>(cfg->keys.dir);
    KeyRotation rotation(cfg, store, lookup, log::with_id(logger, "keys"), metrics->registry());
    rotation.run_once();
    rotation.start();

    boost::asio::io_context io;
    boost::asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    int exit_code = 0;
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int signo) {
            if (ec) return;
            if (signo == SIGHUP) {
                logger->info("received SIGHUP: re-reading DKIM keys");
                rotation.trigger();
                signals.async_wait(on_signal);
                return;
            }
            logger->info("received {}, stopping", signo == SIGINT ? "SIGINT" : "SIGTERM");
            io.stop();
        };
    signals.async_wait(on_signal);
    logger->info("ready");
    io.run();
    rotation.stop();
    logger->info("stopped");
    return exit_code;
}

}  // namespace signpost::app
