// relay/app/cli_doctor.cpp — the `signpost doctor` command (see cli_doctor.hpp).
#include "relay/app/cli_doctor.hpp"

#include <iostream>
#include <memory>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <CLI/CLI.hpp>

#include "config/config.hpp"
#include "keys/store.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/doctor/render.hpp"
#include "relay/doctor/run.hpp"

namespace signpost::app {
namespace {

namespace asio = boost::asio;

struct DoctorOptions {
    std::string config_path = "/etc/signpost/signpost.toml";
    std::vector<std::string> domains;
    bool json = false;
    bool offline = false;
};

int run(const DoctorOptions& o) {
    auto loaded = config::load_file(o.config_path);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        std::cerr << "signpost doctor: fix the configuration first (signpost check-config)\n";
        return 1;
    }
    const config::Config& cfg = *loaded.config;
    doctor::RunOptions options;
    options.offline = o.offline;
    for (const auto& d : o.domains) {
        std::string l = d;
        for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        while (!l.empty() && l.back() == '.') l.pop_back();
        bool known = false;
        for (const auto& dc : cfg.domains) known = known || dc.name == l;
        if (!known) {
            std::cerr << "signpost doctor: " << d << " is not a [[domain]] in " << o.config_path << "\n";
            return 1;
        }
        options.domains.push_back(l);
    }
    asio::io_context io;
    std::shared_ptr<dns::Resolver> resolver;
    try {
        resolver = dns::make_unbound_resolver(io.get_executor(), cfg.dns);
    } catch (const std::exception& e) {
        std::cerr << "signpost doctor: [dns]: " << e.what() << "\n";
        return 1;
    }
    keys::KeyStore store(cfg.keys.dir);
    std::optional<doctor::Report> report;
    std::string error;
    asio::co_spawn(io, doctor::run_doctor(*resolver, cfg, store, options),
                   [&report, &error](std::exception_ptr e, doctor::Report r) {
                       if (e) {
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                               error = ex.what();
                           }
                           return;
                       }
                       report = std::move(r);
                   });
    // Every lookup and connection is bounded; this bounds the whole run as well.
    io.run_for(std::chrono::minutes(5));
    if (!report) {
        std::cerr << "signpost doctor: " << (error.empty() ? std::string("did not finish within 5 minutes") : error)
                  << "\n";
        return 1;
    }
    std::cout << (o.json ? doctor::render_json(*report) : doctor::render_text(*report));
    return report->failed() ? 1 : 0;
}

}  // namespace

void add_doctor_command(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<DoctorOptions>();
    auto* c = app.add_subcommand("doctor",
                                 "Check the DNS records and host set-up receivers look at, with the fix for each "
                                 "problem (changes nothing, sends no mail)");
    c->add_option("-c,--config", o->config_path, "Configuration file")->capture_default_str();
    c->add_option("--domain", o->domains, "Check only this [[domain]] (repeatable); the relay host is always checked");
    c->add_flag("--json", o->json, "Machine-readable output (schema in the README)");
    c->add_flag("--offline", o->offline, "Do not connect out (outbound port 25, the smarthost)");
    c->callback([o, &exit_code] { exit_code = run(*o); });
}

}  // namespace signpost::app
