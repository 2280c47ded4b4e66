// relay/app/cli_explain.cpp — `signpost explain DOMAIN`: where mail for DOMAIN would go and
// under which TLS requirement, decided the way delivery decides it, with nothing sent:
// the MTA-STS policy, the DNSSEC status of the MX and address records, each host's TLSA
// records and whether they are usable, and the policy that applies (tls_policy.hpp).
#include "relay/app/cli_explain.hpp"

// GCC 12 reports a coroutine frame's own operator delete as "mismatched" with its operator
// new (a false positive of -Wmismatched-new-delete on awaitable frames, as in mx.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <iostream>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/config.hpp"
#include "relay/dane/dane.hpp"
#include "relay/delivery/dane_lookup.hpp"
#include "relay/delivery/mx.hpp"
#include "relay/delivery/tls_policy.hpp"
#include "relay/dns/dnssec_probe.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/mtasts/mtasts.hpp"

namespace signpost::app {
namespace {

namespace asio = boost::asio;

struct ExplainOptions {
    std::string config_path = "/etc/signpost/signpost.toml";
    std::string domain;
};

std::string age_text(std::chrono::system_clock::time_point t) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - t).count();
    if (s < 120) return std::to_string(s) + "s";
    if (s < 7200) return std::to_string(s / 60) + "m";
    if (s < 172800) return std::to_string(s / 3600) + "h";
    return std::to_string(s / 86400) + "d";
}

// One next hop: its addresses with their DNSSEC status, its TLSA records when DANE may
// apply, and the decision delivery would take. Returns whether it may be contacted.
// Parameters by value, and no `?:` over std::string temporaries in these coroutines: GCC 12
// destroys such temporaries twice in a coroutine frame.
asio::awaitable<bool> explain_host(const config::Config& cfg, dns::Resolver& resolver, std::string label, std::string host,
                                   std::uint16_t port, bool dane_possible, std::optional<mtasts::Policy> policy,
                                   std::optional<config::RouteTls> route_tls) {
    boost::system::error_code literal_ec;
    (void)asio::ip::make_address(host, literal_ec);
    std::string addrs;
    if (!literal_ec) addrs = host;
    dns::AddressAnswer v6, v4;
    if (literal_ec) {
        v6 = co_await resolver.aaaa(host);
        v4 = co_await resolver.a(host);
        for (const auto* a : {&v6, &v4})
            for (const auto& ip : a->addresses) addrs += (addrs.empty() ? "" : ", ") + ip.to_string();
    }
    delivery::HostDane dane;
    if (dane_possible && literal_ec && (!v6.addresses.empty() || !v4.addresses.empty()))
        dane = co_await delivery::lookup_dane(resolver, host, port, v6, v4);
    auto d = delivery::decide_tls(policy, host, route_tls, dane);
    if (addrs.empty()) addrs = "no address";
    std::cout << "  " << label << "  [" << addrs << "]";
    if (cfg.dns.dnssec && literal_ec) {
        const dns::AddressAnswer& shown = v4.status == dns::Status::ok && !v4.addresses.empty() ? v4 : v6;
        std::cout << " addresses DNSSEC " << dns::to_string(shown.security);
        if (!shown.canonical.empty()) std::cout << " (CNAME to " << shown.canonical << ")";
    }
    std::cout << "\n";
    if (!dane.tlsa_name.empty()) {
        std::cout << "      TLSA " << dane.tlsa_name << " (DNSSEC secure):\n";
        for (const auto& r : dane.records)
            std::cout << "        " << dane::to_text(r) << "  " << dane::to_string(dane::usability(r)) << "\n";
    } else if (dane_possible && !dane.why.empty()) {
        std::cout << "      DANE: " << dane.why << "\n";
    }
    std::cout << "      " << (d.allowed ? "" : "NOT CONTACTED: ") << d.reason << " (policy " << delivery::to_string(d.source)
              << ")\n";
    co_return d.allowed;
}

asio::awaitable<int> explain(const config::Config& cfg, std::string domain, std::shared_ptr<dns::Resolver> resolver,
                             std::shared_ptr<mtasts::PolicyStore> store) {
    std::cout << "domain:    " << domain << "\n";
    if (cfg.delivery.mode != config::DeliveryMode::mx) {
        std::cout << "delivery:  mode = \"" << config::to_string(cfg.delivery.mode)
                  << "\": every message goes " << (cfg.delivery.mode == config::DeliveryMode::smarthost
                                                       ? "to the smarthost " + cfg.delivery.smarthost->to_string() +
                                                             " (TLS verified)"
                                                       : "to " + cfg.delivery.capture_dir.string())
                  << "; what follows is what mode = \"mx\" would do\n";
    }
    std::optional<mtasts::Policy> policy;
    if (!store) {
        std::cout << "MTA-STS:   disabled ([mta_sts] enabled = false)\n";
    } else {
        auto held_before = store->cached(domain);
        mtasts::Lookup lk = co_await store->lookup(domain);
        if (lk.policy) {
            const auto& p = *lk.policy;
            std::cout << "MTA-STS:   mode " << mtasts::to_string(p.mode) << ", id " << p.id << ", max_age " << p.max_age
                      << "s, fetched " << age_text(p.fetched) << " ago, "
                      << (lk.source == mtasts::Lookup::Source::fetched ? "fetched now"
                          : lk.source == mtasts::Lookup::Source::cached_after_failure
                              ? "cached (a new fetch failed: " + lk.detail + ")"
                              : "cached")
                      << "\n";
            for (const auto& m : p.mx) std::cout << "           mx: " << m << "\n";
            if (p.mode != mtasts::Mode::none) policy = p;
        } else {
            std::cout << "MTA-STS:   no policy" << (lk.detail.empty() ? "" : " (" + lk.detail + ")")
                      << (held_before ? "; one was held before" : "") << "\n";
        }
    }
    const config::RouteConfig* route = cfg.find_route(domain);
    std::optional<config::RouteTls> route_tls = route ? route->tls : std::nullopt;
    if (route) {
        std::cout << "route:     [[route]] for " << domain << ":"
                  << (route->host ? " host " + route->host->to_string() : std::string())
                  << (route->tls ? std::string(" tls = ") + std::string(config::to_string(*route->tls)) : std::string())
                  << "\n";
    }
    if (!cfg.dns.dnssec) {
        std::cout << "DNSSEC:    not validated ([dns] dnssec = false): DANE is not used\n";
    } else {
        dns::DnssecProbe probe = co_await dns::probe_dnssec(*resolver, dns::trust_anchor_zone(cfg.dns.trust_anchor_file));
        std::cout << "DNSSEC:    " << dns::to_string(probe.state) << " (" << probe.detail << ")\n";
    }
    if (route && route->host) {
        std::cout << "Next hop (from [[route]], no MX lookup):\n";
        std::string label = route->host->to_string();
        co_await explain_host(cfg, *resolver, label, route->host->host, route->host->port, cfg.dns.dnssec, policy,
                              route_tls);
        co_return 0;
    }
    dns::MxAnswer mx = co_await resolver->mx(domain);
    if (mx.status == dns::Status::nxdomain) {
        std::cout << "MX:        the domain does not exist (NXDOMAIN): mail to it bounces (5.1.2)\n";
        co_return 0;
    }
    if (mx.status != dns::Status::ok) {
        std::cout << "MX:        lookup failed (" << (mx.why.empty() ? dns::to_string(mx.status) : mx.why)
                  << "): mail to it is deferred and retried (4.4.3)\n";
        co_return 0;
    }
    std::mt19937_64 rng(0);
    auto plan = delivery::plan_mx(mx.records, domain, rng);
    if (plan.null_mx) {
        std::cout << "MX:        null MX (RFC 7505): the domain accepts no mail; mail to it bounces (5.1.10)\n";
        co_return 0;
    }
    std::cout << "MX hosts, in the order tried" << (plan.implicit ? " (no MX records: the domain itself)" : "");
    if (cfg.dns.dnssec) std::cout << " [MX records DNSSEC " << dns::to_string(mx.security) << "]";
    std::cout << ":\n";
    if (cfg.dns.dnssec && !mx.secure())
        std::cout << "           (MX records not DNSSEC-secure: DANE does not apply, RFC 7672 §2.2.1)\n";
    bool any = false;
    for (const auto& host : plan.hosts) {
        int pref = -1;
        for (const auto& r : mx.records)
            if (r.host == host) pref = r.preference;
        std::string label = host;
        if (pref >= 0) label = std::to_string(pref) + " " + host;
        const bool allowed = co_await explain_host(cfg, *resolver, label, host, cfg.delivery.mx_port,
                                                   cfg.dns.dnssec && mx.secure(), policy, route_tls);
        any = any || allowed;
    }
    if (!any) std::cout << "No MX host may be used: mail to " << domain << " is deferred (4.7.5), never sent elsewhere.\n";
    std::cout << "(equal preferences are tried in random order; port " << cfg.delivery.mx_port << ")\n";
    co_return 0;
}

int run_explain(const ExplainOptions& o) {
    auto loaded = config::load_file(o.config_path);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        return 1;
    }
    const config::Config& cfg = *loaded.config;
    std::string domain = delivery::recipient_domain("x@" + o.domain);
    if (domain.empty()) {
        std::cerr << "signpost explain: '" << o.domain << "' is not a domain\n";
        return 1;
    }
    asio::io_context io;
    std::shared_ptr<dns::Resolver> resolver;
    std::shared_ptr<mtasts::PolicyStore> store;
    try {
        resolver = dns::make_unbound_resolver(io.get_executor(), cfg.dns);
        if (cfg.mta_sts.enabled) store = mtasts::make_policy_store(io.get_executor(), resolver, cfg);
    } catch (const std::exception& e) {
        std::cerr << "signpost explain: " << e.what() << "\n";
        return 1;
    }
    int rc = 1;
    asio::co_spawn(io, explain(cfg, domain, resolver, store), [&rc](std::exception_ptr e, int r) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                std::cerr << "signpost explain: " << ex.what() << "\n";
            }
            return;
        }
        rc = r;
    });
    io.run_for(std::chrono::seconds(60));
    return rc;
}

}  // namespace

void add_explain_command(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<ExplainOptions>();
    auto* c = app.add_subcommand("explain",
                                 "Where mail for DOMAIN would go and under which TLS requirement (sends nothing)");
    c->add_option("domain", o->domain, "Recipient domain")->required();
    c->add_option("-c,--config", o->config_path, "Configuration file")->capture_default_str();
    c->callback([o, &exit_code] { exit_code = run_explain(*o); });
}

}  // namespace signpost::app
