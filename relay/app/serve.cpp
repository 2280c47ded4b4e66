// relay/app/serve.cpp — the daemon's wiring (see serve.hpp).
#include "relay/app/serve.hpp"

#include <csignal>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "config/config.hpp"
#include "relay/log/log.hpp"

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

    boost::asio::io_context io;
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    int exit_code = 0;
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        logger->info("received {}, stopping", signo == SIGINT ? "SIGINT" : "SIGTERM");
        io.stop();
    });
    logger->info("ready");
    io.run();
    logger->info("stopped");
    return exit_code;
}

}  // namespace signpost::app
