// relay/app/cli_spf.cpp — `signpost spf --ip IP --sender ADDR [--helo NAME] [--config F]`:
// the SPF result (RFC 7208 check_host(), relay/doctor/spf.hpp) for mail from ADDR sent by
// IP, evaluated over the configured resolver ([dns]; without --config, the system's).
//
// Output, one item a line: "result: <pass|fail|softfail|neutral|none|temperror|permerror>",
// "why: ...", "record: ..." (the sender domain's record, "(none)"), "dns lookups: N" and
// "void lookups: N". Exit 0 whenever the evaluation ran, whatever the result (it is data);
// 2 for a usage or configuration error. An empty --sender is the null reverse-path: the
// HELO name is checked (RFC 7208 §2.4), so --helo is then required.
#include "relay/app/cli_spf.hpp"

// GCC 12 reports a coroutine frame's own operator delete as "mismatched" with its operator
// new (a false positive of -Wmismatched-new-delete on awaitable frames, as in mx.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/doctor/spf.hpp"

namespace signpost::app {
namespace {

namespace asio = boost::asio;
namespace spf = doctor::spf;

// Bounds the whole evaluation: at most 10 DNS terms, each a few lookups of [dns] timeout.
constexpr auto kEvaluationLimit = std::chrono::seconds(120);

struct SpfOptions {
    std::optional<std::string> ip, sender;
    std::string helo;
    std::string config_path;
    std::vector<std::string> extra;  // arguments CLI11 did not take
};

int usage(const std::string& message) {
    std::cerr << "signpost spf: " << message << "\n";
    return 2;
}

int run_spf(const SpfOptions& o) {
    if (!o.extra.empty()) return usage("unexpected argument \"" + o.extra.front() + "\"");
    if (!o.ip) return usage("--ip is required");
    if (!o.sender) return usage("--sender is required (\"\" for the null reverse-path)");
    boost::system::error_code ec;
    const asio::ip::address ip = asio::ip::make_address(*o.ip, ec);
    if (ec) return usage("--ip: \"" + *o.ip + "\" is not an IP address");
    const std::string& sender = *o.sender;
    const std::size_t at = sender.rfind('@');
    const bool has_domain = at != std::string::npos && at + 1 < sender.size();
    if (!has_domain && o.helo.empty())
        return usage("--sender \"" + sender + "\" has no domain: give --helo (its name is then checked)");

    config::DnsConfig dns;
    if (!o.config_path.empty()) {
        // Only [dns] is used: the files the rest of the config names need not be readable.
        config::LoadOptions options;
        options.check_files = false;
        auto loaded = config::load_file(o.config_path, options);
        if (!loaded.ok()) {
            for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
            return usage("cannot use the configuration " + o.config_path);
        }
        dns = loaded.config->dns;
    }
    asio::io_context io;
    std::shared_ptr<dns::Resolver> resolver;
    try {
        resolver = dns::make_unbound_resolver(io.get_executor(), dns);
    } catch (const std::exception& e) {
        return usage(e.what());
    }
    std::string domain;
    if (has_domain) domain = sender.substr(at + 1);
    else domain = o.helo;

    std::optional<spf::Evaluation> result;
    std::string error;
    asio::co_spawn(io, spf::check_host(*resolver, ip, domain, sender, o.helo),
                   [&](std::exception_ptr e, spf::Evaluation ev) {
                       if (!e) {
                           result = std::move(ev);
                           return;
                       }
                       try {
                           std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                           error = ex.what();
                       }
                   });
    io.run_for(kEvaluationLimit);
    if (!result) {
        // Not finished in time (or an internal error): the DNS did not let it conclude.
        spf::Evaluation ev;
        ev.result = spf::Result::temperror;
        ev.why = error.empty() ? "the evaluation did not finish within 120 s" : "evaluation failed: " + error;
        result = ev;
    }
    std::cout << "result: " << spf::to_string(result->result) << "\n"
              << "why: " << result->why << "\n"
              << "record: " << (result->record.empty() ? "(none)" : result->record) << "\n"
              << "dns lookups: " << result->dns_lookups << "\n"
              << "void lookups: " << result->void_lookups << "\n";
    return 0;
}

}  // namespace

void add_spf_command(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<SpfOptions>();
    auto* c = app.add_subcommand("spf", "The SPF result (RFC 7208) for mail from --sender sent by --ip");
    // Checked in run_spf rather than by CLI11, so that a missing option exits 2.
    c->add_option("--ip", o->ip, "Address of the sending host (IPv4 or IPv6)");
    c->add_option("--sender", o->sender, "MAIL FROM address (\"\" for the null reverse-path)");
    c->add_option("--helo", o->helo, "HELO/EHLO name (%{h}; checked instead when the sender has no domain)");
    c->add_option("-c,--config", o->config_path,
                  "Configuration file whose [dns] to use (default: the system resolver)");
    c->allow_extras();
    c->callback([o, c, &exit_code] {
        o->extra = c->remaining();
        exit_code = run_spf(*o);
    });
}

}  // namespace signpost::app
