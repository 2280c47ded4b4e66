// relay/app/cli_mta_sts.cpp — `signpost mta-sts policy DOMAIN`: the MTA-STS policy file
// and the DNS records to publish for an [[inbound]] domain this relay receives mail for,
// with [server] hostname as its MX (relay/inbound/mta_sts_policy.hpp).
//
// Exit status: 0, or 2 when the configuration does not load, DOMAIN is not an [[inbound]]
// domain, or an option is out of range.
#include "relay/app/cli_mta_sts.hpp"

#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "config/config.hpp"
#include "relay/inbound/mta_sts_policy.hpp"

namespace signpost::app {
namespace {

struct MtaStsOptions {
    std::string config_path = "/etc/signpost/signpost.toml";
    std::string domain;
    std::optional<std::string> mode;
    std::optional<std::uint32_t> max_age;
    std::string report_to;
};

int run_policy(const MtaStsOptions& o) {
    auto loaded = config::load_file(o.config_path);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        return 2;
    }
    const config::Config& cfg = *loaded.config;
    const config::InboundConfig* entry = cfg.find_inbound(o.domain);
    if (!entry) {
        std::cerr << "signpost mta-sts policy: " << o.domain << " is not an [[inbound]] domain in " << o.config_path
                  << " (this relay is not its MX)\n";
        return 2;
    }
    const bool served = cfg.mta_sts_serve.listen.has_value();
    // What [mta_sts_serve] serves is the policy: options that would print another one (and
    // another id) are refused rather than silently differing from it.
    if (served && (o.mode || o.max_age)) {
        std::cerr << "signpost mta-sts policy: this relay serves the policy itself ([mta_sts_serve] in "
                  << o.config_path << "); set mode and max_age there instead of --mode and --max-age\n";
        return 2;
    }
    if (o.mode && *o.mode != "testing" && *o.mode != "enforce") {
        std::cerr << "signpost mta-sts policy: --mode is \"testing\" or \"enforce\"\n";
        return 2;
    }
    if (o.max_age && (*o.max_age == 0 || *o.max_age > 31557600)) {
        std::cerr << "signpost mta-sts policy: --max-age is 1 to 31557600 seconds (RFC 8461 §3.2)\n";
        return 2;
    }
    inbound::MtaStsPolicy p;
    if (served) {
        p = inbound::served_policy(cfg, *entry);
    } else {
        p.domain = entry->domain;
        p.mx = {cfg.server.hostname};
        p.enforce = o.mode == "enforce";
        p.max_age = o.max_age.value_or(604800);
    }
    if (!o.report_to.empty()) p.report_to = o.report_to;
    if (p.report_to.empty()) p.report_to = "mailto:tlsrpt@" + entry->domain;
    if (served)
        std::cout << "# served by this relay on " << cfg.mta_sts_serve.listen->to_string()
                  << " ([mta_sts_serve]): point mta-sts." << p.domain << " at this host\n";
    else
        std::cout << "# to publish at the address below (or let this relay serve it: [mta_sts_serve])\n";
    std::cout << "# https://mta-sts." << p.domain << "/.well-known/mta-sts.txt (text/plain):\n"
              << inbound::policy_file(p) << "\n# DNS records:\n"
              << inbound::records(p);
    if (!p.enforce)
        std::cout << "# mode is testing: senders report failures but still deliver. Once the TLS reports\n"
                     "# show every sender succeeding, switch to enforce and publish the new id.\n";
    return 0;
}

}  // namespace

void add_mta_sts_command(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<MtaStsOptions>();
    auto* c = app.add_subcommand("mta-sts", "MTA-STS (RFC 8461) for the domains this relay receives mail for");
    c->require_subcommand(1);
    auto* policy = c->add_subcommand("policy", "Print the policy file and DNS records to publish for an [[inbound]] domain");
    policy->add_option("domain", o->domain, "An [[inbound]] domain")->required();
    policy->add_option("-c,--config", o->config_path, "Configuration file (default /etc/signpost/signpost.toml)");
    policy->add_option("--mode", o->mode, "testing (default) or enforce");
    policy->add_option("--max-age", o->max_age, "Seconds senders cache the policy (default 604800, one week)");
    policy->add_option("--report-to", o->report_to, "TLS-RPT address, a mailto: or https: URI (default mailto:tlsrpt@DOMAIN)");
    policy->callback([o, &exit_code] { exit_code = run_policy(*o); });
}

}  // namespace signpost::app
