// relay/doctor/run.cpp — one doctor run (see run.hpp).
#if defined(__GNUC__) && !defined(__clang__)
// A false positive of GCC 12 on awaitable frames (see relay/delivery/mx.cpp).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "relay/doctor/run.hpp"

#include <algorithm>

#include "relay/delivery/smarthost.hpp"
#include "relay/doctor/domain_checks.hpp"
#include "relay/doctor/host_checks.hpp"

namespace signpost::doctor {
namespace {

namespace asio = boost::asio;

bool wanted(const RunOptions& o, const std::string& domain) {
    return o.domains.empty() || std::find(o.domains.begin(), o.domains.end(), domain) != o.domains.end();
}

std::optional<Check> smarthost_skip(const config::Config& cfg, const RunOptions& o, SmarthostProbe& probe) {
    const std::string subject = cfg.delivery.smarthost ? cfg.delivery.smarthost->to_string() : std::string();
    if (o.dns_only) return make_check("smarthost", "", subject, Status::skipped, "not checked in the daily run");
    if (o.offline) return make_check("smarthost", "", subject, Status::skipped, "not checked: --offline");
    if (!cfg.delivery.smarthost)
        return make_check("smarthost", "", "", Status::fail, "mode = \"smarthost\" without [delivery] smarthost",
                          "set [delivery] smarthost = \"host:port\"");
    probe.endpoint = *cfg.delivery.smarthost;
    probe.tls = cfg.delivery.smarthost_tls;
    probe.extra_ca_file = cfg.delivery.extra_ca_file;
    probe.helo = cfg.server.hostname;
    if (!cfg.delivery.smarthost_credentials_file.empty()) {
        std::string error;
        auto c = delivery::read_credentials_file(cfg.delivery.smarthost_credentials_file, error);
        if (!c)
            return make_check("smarthost", "", subject, Status::fail, error,
                              "write one line user:password to " + cfg.delivery.smarthost_credentials_file.string() +
                                  " (mode 0600)");
        probe.credentials = std::make_pair(c->user, c->password);
    }
    return std::nullopt;
}

}  // namespace

asio::awaitable<Report> run_doctor(dns::Resolver& resolver, const config::Config& cfg, const keys::KeyStore& store,
                                   RunOptions options) {
    Report report;
    OutboundAddresses outbound = co_await outbound_addresses(resolver, cfg);
    for (const auto& domain : cfg.domains) {
        if (!wanted(options, domain.name)) continue;
        std::vector<Check> checks = co_await check_domain(resolver, cfg, domain, store, outbound);
        report.checks.insert(report.checks.end(), checks.begin(), checks.end());
    }

    const bool mx = cfg.delivery.mode == config::DeliveryMode::mx;
    if (mx) {
        std::vector<Check> fcrdns = co_await check_fcrdns(resolver, cfg.server.hostname);
        report.checks.insert(report.checks.end(), fcrdns.begin(), fcrdns.end());
    } else {
        report.checks.push_back(make_check("fcrdns", "", cfg.server.hostname, Status::skipped,
                                           "not needed: mail leaves through the smarthost, whose name receivers see"));
    }
    if (!cfg.listeners.empty() && !cfg.tls.cert.empty()) {
        std::vector<Check> cert = check_certificate(cfg.tls.cert, cfg.server.hostname, options.now);
        report.checks.insert(report.checks.end(), cert.begin(), cert.end());
    }
    if (mx) {
        const std::string probe = cfg.doctor.port25_probe.to_string();
        if (options.dns_only) {
            report.checks.push_back(make_check("port25", "", probe, Status::skipped, "not checked in the daily run"));
        } else if (options.offline) {
            report.checks.push_back(make_check("port25", "", probe, Status::skipped, "not checked: --offline"));
        } else {
            std::string host = cfg.doctor.port25_probe.host;
            Check c = co_await check_port25(resolver, host, cfg.doctor.port25_probe.port, std::chrono::seconds(10));
            report.checks.push_back(std::move(c));
        }
    }
    if (cfg.delivery.mode == config::DeliveryMode::smarthost) {
        SmarthostProbe probe;
        if (auto skip = smarthost_skip(cfg, options, probe)) {
            report.checks.push_back(std::move(*skip));
        } else {
            Check c = co_await check_smarthost(resolver, std::move(probe));
            report.checks.push_back(std::move(c));
        }
    }
    co_return report;
}

}  // namespace signpost::doctor
