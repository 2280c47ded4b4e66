// relay/app/main.cpp — the `signpost` command line (CLI11).
//
//   signpost serve --config F          run the relay
//   signpost check-config --config F   print the effective config, or the errors (exit 1)
//   signpost init --dev DIR            write a ready development setup into DIR
//   signpost version
#include <iostream>

#include <CLI/CLI.hpp>

#include "config/config.hpp"
#include "relay/app/cli_dkim.hpp"
#include "relay/app/cli_keys.hpp"
#include "relay/app/cli_users.hpp"
#include "relay/app/cli_queue.hpp"
#include "relay/app/cli_explain.hpp"
#include "relay/app/init_dev.hpp"
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
    auto* init = app.add_subcommand("init", "Write a ready-to-run setup");
    init->add_option("--dev", dev_dir, "Directory for a development setup (capture delivery, test user)")
        ->required();
    init->callback([&] { exit_code = signpost::app::init_dev(dev_dir, std::cout, std::cerr); });

    signpost::app::add_dkim_commands(app, exit_code);
    signpost::app::add_keys_commands(app, exit_code);
    signpost::app::add_users_commands(app, exit_code);
    signpost::app::add_queue_commands(app, exit_code);
    signpost::app::add_explain_command(app, exit_code);

    auto* version = app.add_subcommand("version", "Print the version");
    version->callback([&] { std::cout << "signpost " << signpost::app::kVersion << "\n"; });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return exit_code;
}
