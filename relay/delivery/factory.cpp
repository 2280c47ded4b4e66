// relay/delivery/factory.cpp — the Deliverer for [delivery] mode (see factory.hpp).
#include "relay/delivery/factory.hpp"

#include <stdexcept>

#include <openssl/ssl.h>

#include "relay/delivery/capture.hpp"
#include "relay/delivery/inbound.hpp"
#include "relay/delivery/mx.hpp"
#include "relay/delivery/smarthost.hpp"

namespace signpost::delivery {
namespace {

// The deliverer for [delivery] mode alone.
std::unique_ptr<Deliverer> make_mode_deliverer(const config::Config& config, boost::asio::any_io_executor io,
                                               boost::asio::any_io_executor blocking, log::Logger logger,
                                               std::string& error, DeliveryEvents events) {
    switch (config.delivery.mode) {
    case config::DeliveryMode::smarthost:
        try {
            auto dane_io = io;
            auto smarthost = std::make_unique<SmarthostDeliverer>(config.delivery, config.server.hostname,
                                                                  std::move(io), std::move(logger));
            smarthost->on_attempt(std::move(events.session));
            if (config.delivery.smarthost_dane) smarthost->use_dane(dns::make_unbound_resolver(dane_io, config.dns));
            return smarthost;
        } catch (const std::runtime_error& e) {
            error = e.what();
            return nullptr;
        }
    case config::DeliveryMode::capture:
        if (config.delivery.capture_dir.empty()) {
            error = "delivery.capture_dir: required when delivery.mode = \"capture\"";
            return nullptr;
        }
        return std::make_unique<CaptureDeliverer>(config.delivery.capture_dir, std::move(blocking), std::move(logger));
    case config::DeliveryMode::mx:
        try {
            auto resolver = dns::make_unbound_resolver(io, config.dns);
            std::shared_ptr<mtasts::PolicyStore> policies;
            if (config.mta_sts.enabled) policies = mtasts::make_policy_store(io, resolver, config, std::move(events.mta_sts));
            auto tls = make_client_tls_context(config.delivery.extra_ca_file, error);
            if (!tls) {
                error = "delivery.extra_ca_file: " + error;
                return nullptr;
            }
            // Opportunistic sessions: security level 1 (Debian's default is 2), so an MX with
            // an older key or DH group still gets TLS rather than a failed handshake.
            auto broad = make_client_tls_context(config.delivery.extra_ca_file, error);
            if (!broad) {
                error = "delivery.extra_ca_file: " + error;
                return nullptr;
            }
            SSL_CTX_set_security_level(broad->native_handle(), 1);
            MxOptions options;
            options.helo_name = config.server.hostname;
            options.port = config.delivery.mx_port;
            options.routes = config.routes;
            options.dane = config.dns.dnssec;
            options.honor_tls_required = config.delivery.honor_tls_required;
            if (config.dns.dnssec) options.dnssec_probe_zone = dns::trust_anchor_zone(config.dns.trust_anchor_file);
            options.on_dnssec_probe = std::move(events.dnssec);
            options.on_tls_report = std::move(events.tls_report);
            options.on_attempt = std::move(events.session);
            return std::make_unique<MxDeliverer>(std::move(io), std::move(resolver), std::move(policies), std::move(tls),
                                                 options, std::move(logger), std::move(broad));
        } catch (const std::runtime_error& e) {
            error = e.what();
            return nullptr;
        }
    }
    error = "unknown delivery mode";
    return nullptr;
}

}  // namespace

std::unique_ptr<Deliverer> make_deliverer(const config::Config& config, boost::asio::any_io_executor io,
                                          boost::asio::any_io_executor blocking, log::Logger logger,
                                          std::string& error, DeliveryEvents events) {
    auto on_session = events.session;  // the home servers' sessions are counted too
    auto on_unreachable = std::move(events.inbound_unreachable);
    auto main = make_mode_deliverer(config, io, std::move(blocking), logger, error, std::move(events));
    if (!main || config.inbound.empty()) return main;
    try {
        InboundOptions options;
        options.on_unreachable = std::move(on_unreachable);
        auto make_home = [&](const config::InboundConfig&, std::size_t index) -> std::unique_ptr<Deliverer> {
            auto home = make_home_server_deliverer(config, index, io, logger);
            home->on_attempt(on_session);
            return home;
        };
        return std::make_unique<InboundDeliverer>(std::move(main), config.inbound, make_home, std::move(options),
                                                  std::move(logger));
    } catch (const std::runtime_error& e) {
        error = e.what();
        return nullptr;
    }
}

}  // namespace signpost::delivery
