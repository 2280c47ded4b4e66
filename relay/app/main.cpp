// relay/app/main.cpp — the `signpost` command line (CLI11).
//
//   signpost serve --config F          run the relay
//   signpost check-config --config F   print the effective config, or the errors (exit 1)
//   signpost init --dev DIR            write a ready development setup into DIR
//   signpost init --self-signed --hostname H --cert F --key F
//                                      a self-signed certificate for H (kept when still good)
//   signpost health --config F         ask the running daemon's /healthz
//   signpost version
#include <iostream>

#include <CLI/CLI.hpp>

#include "config/config.hpp"
#include "relay/app/cli_dkim.hpp"
#include "relay/app/cli_keys.hpp"
#include "relay/app/cli_users.hpp"
#include "relay/app/cli_queue.hpp"
#include "relay/app/cli_tls_report.hpp"
#include "relay/app/cli_explain.hpp"
#include "relay/app/cli_doctor.hpp"
#include "relay/app/cli_mta_sts.hpp"
#include "relay/app/cli_spf.hpp"
#include "relay/app/cli_health.hpp"
#include "relay/app/init_dev.hpp"
#include "relay/app/self_signed.hpp"
#include "relay/app/serve.hpp"
#include "relay/app/version.hpp"

namespace {

int check_config(const std::string& path) {
    auto loaded = signpost::config::load_file(path);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        std::cerr << loaded.errors.size() << " error" << (loaded.errors.size() == 1 ? "" : "s")
                  << " in " << path << "\n";
        return 1;
    }
    std::cout << signpost::config::to_toml(*loaded.config);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Signpost: an outbound mail relay that signs (DKIM) and delivers over TLS"};
    app.require_subcommand(1);
    int exit_code = 0;

    std::string config_path = "/etc/signpost/signpost.toml";

    auto* serve = app.add_subcommand("serve", "Run the relay");
    serve->add_option("-c,--config", config_path, "Configuration file")->capture_default_str();
    serve->callback([&] { exit_code = signpost::app::serve(config_path); });

    auto* check = app.add_subcommand("check-config",
                                     "Print the effective configuration, or its errors (exit 1)");
    check->add_option("-c,--config", config_path, "Configuration file")->capture_default_str();
    check->callback([&] { exit_code = check_config(config_path); });

    std::string dev_dir;
    bool self_signed = false;
    std::string hostname, cert_path, key_path;
    auto* init = app.add_subcommand("init", "Write a ready-to-run setup, or a self-signed certificate");
    auto* dev_opt = init->add_option(
        "--dev", dev_dir, "Directory for a development setup (capture delivery, test user)");
    auto* ss_opt = init->add_flag(
        "--self-signed", self_signed,
        "Make a self-signed TLS certificate for --hostname at --cert/--key, unless the files "
        "there already are one for that name");
    auto* host_opt = init->add_option("--hostname", hostname, "Host name the certificate names");
    auto* cert_opt = init->add_option("--cert", cert_path, "Certificate file (PEM)");
    auto* key_opt = init->add_option("--key", key_path, "Private key file (PEM, written 0600)");
    dev_opt->excludes(ss_opt);
    ss_opt->needs(host_opt)->needs(cert_opt)->needs(key_opt);
    host_opt->needs(ss_opt);
    init->require_option(1, 4);
    init->callback([&] {
        if (self_signed)
            exit_code = signpost::app::init_self_signed(hostname, cert_path, key_path, std::cout, std::cerr);
        else if (!dev_dir.empty())
            exit_code = signpost::app::init_dev(dev_dir, std::cout, std::cerr);
        else
            throw CLI::ValidationError("init", "give --dev DIR or --self-signed");
    });

    signpost::app::add_dkim_commands(app, exit_code);
    signpost::app::add_keys_commands(app, exit_code);
    signpost::app::add_users_commands(app, exit_code);
    signpost::app::add_queue_commands(app, exit_code);
    signpost::app::add_explain_command(app, exit_code);
    signpost::app::add_tls_report_command(app, exit_code);
    signpost::app::add_health_command(app, exit_code);
    signpost::app::add_doctor_command(app, exit_code);
    signpost::app::add_spf_command(app, exit_code);
    signpost::app::add_mta_sts_command(app, exit_code);

    auto* version = app.add_subcommand("version", "Print the version");
    version->callback([&] { std::cout << "signpost " << signpost::app::kVersion << "\n"; });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return exit_code;
}
