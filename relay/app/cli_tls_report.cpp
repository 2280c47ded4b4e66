// relay/app/cli_tls_report.cpp — `signpost tls-report` (see cli_tls_report.hpp).
#include "relay/app/cli_tls_report.hpp"

#include <iostream>
#include <memory>
#include <set>

#include <CLI/CLI.hpp>

#include "config/config.hpp"
#include "relay/tlsrpt/report.hpp"
#include "relay/tlsrpt/store.hpp"

namespace signpost::app {
namespace {

struct Options {
    std::string config_path = "/etc/signpost/signpost.toml";
    std::string day;
    std::string domain;
};

std::shared_ptr<const config::Config> load(const Options& o) {
    auto loaded = config::load_file(o.config_path);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        return nullptr;
    }
    if (!loaded.config->tls_rpt.enabled) {
        std::cerr << "signpost tls-report: [tls_rpt] enabled = false in " << o.config_path << "\n";
        return nullptr;
    }
    return loaded.config;
}

int show(const Options& o) {
    auto cfg = load(o);
    if (!cfg) return 1;
    std::string day = o.day.empty() ? tlsrpt::day_of(std::chrono::system_clock::now()).value_or("") : o.day;
    tlsrpt::Store store(cfg->tls_rpt.dir);
    std::size_t bad = 0;
    const auto counts = store.load_day(day, &bad);
    if (bad) std::cerr << bad << " damaged line(s) skipped\n";
    std::set<std::string> domains;
    for (const auto& c : counts)
        if (o.domain.empty() || c.policy.domain == o.domain) domains.insert(c.policy.domain);
    const auto sent = store.sent(day);
    for (const auto& d : domains) {
        tlsrpt::ReportMeta meta;
        meta.organization = cfg->tls_rpt.organization;
        meta.contact = cfg->tls_rpt.contact;
        meta.report_id = "preview";
        meta.day = day;
        std::cout << "# " << d << " " << day << (sent.count(d) ? " (sent)" : " (not sent)") << "\n"
                  << tlsrpt::report_json(meta, tlsrpt::for_domain(counts, d)) << "\n";
    }
    if (domains.empty()) std::cout << "# no sessions counted for " << day << "\n";
    return 0;
}

int days(const Options& o) {
    auto cfg = load(o);
    if (!cfg) return 1;
    tlsrpt::Store store(cfg->tls_rpt.dir);
    for (const auto& day : store.days()) {
        std::set<std::string> domains;
        for (const auto& c : store.load_day(day)) domains.insert(c.policy.domain);
        const auto sent = store.sent(day);
        std::cout << day << ":";
        for (const auto& d : domains) std::cout << " " << d << (sent.count(d) ? "(sent)" : "");
        std::cout << "\n";
    }
    return 0;
}

}  // namespace

void add_tls_report_command(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<Options>();
    auto* c = app.add_subcommand("tls-report", "The SMTP TLS reports ([tls_rpt], RFC 8460) held on disk");
    c->require_subcommand(1);
    auto* s = c->add_subcommand("show", "The report JSON per recipient domain for one UTC day (default today)");
    s->add_option("--day", o->day, "YYYY-MM-DD");
    s->add_option("--domain", o->domain, "Only this recipient domain");
    s->add_option("-c,--config", o->config_path, "Configuration file")->capture_default_str();
    s->callback([o, &exit_code] { exit_code = show(*o); });
    auto* d = c->add_subcommand("days", "The days held, with their domains and whether each report was sent");
    d->add_option("-c,--config", o->config_path, "Configuration file")->capture_default_str();
    d->callback([o, &exit_code] { exit_code = days(*o); });
}

}  // namespace signpost::app
