// relay/app/cli_keys.cpp — the `signpost keys` commands (see cli_keys.hpp).
#include "relay/app/cli_keys.hpp"

#include <chrono>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "config/config.hpp"
#include "keys/state.hpp"
#include "keys/store.hpp"
#include "relay/app/dns_lookup.hpp"

namespace signpost::app {
namespace {

struct KeysOptions {
    std::string config_path = "/etc/signpost/signpost.toml";
    std::string domain;
    std::string algorithm;
    std::string selector;
    std::string key_file;
    bool now = false;
    bool no_dns = false;
};

keys::Time now_seconds() { return std::chrono::floor<std::chrono::seconds>(keys::Clock::now()); }

std::shared_ptr<const config::Config> load_config(const std::string& path) {
    auto loaded = config::load_file(path);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        return nullptr;
    }
    return loaded.config;
}

const config::DomainConfig* find_domain(const config::Config& cfg, const std::string& name) {
    for (const auto& d : cfg.domains)
        if (d.name == name) return &d;
    std::cerr << "signpost keys: domain \"" << name << "\" is not configured in " << cfg.source.string()
              << " (add a [[domain]] entry for it)\n";
    return nullptr;
}

std::string age(keys::Time since, keys::Time now) {
    auto s = (now - since).count();
    if (s < 0) s = 0;
    if (s >= 86400) return std::to_string(s / 86400) + "d";
    if (s >= 3600) return std::to_string(s / 3600) + "h";
    return std::to_string(s / 60) + "m";
}

int report(const keys::StoreIssue& issue) {
    std::cerr << "signpost keys: " << issue.to_string() << "\n";
    return 1;
}

void print_events(const std::vector<keys::Event>& events, const std::string& domain) {
    for (const auto& e : events)
        std::cout << domain << ": " << e.selector << " (" << config::to_string(e.algorithm) << ") "
                  << keys::to_string(e.kind) << "\n";
}

const char* kPickupNote =
    "A running daemon picks this up within [keys] check_interval, or at once on SIGHUP.\n";

// The record of one key, in the two forms operators paste into DNS.
void print_record(const keys::KeyStore& store, const std::string& domain, const keys::KeyEntry& k,
                  const std::string& indent) {
    keys::StoreIssue issue;
    auto key = store.load_key(domain, k, issue);
    if (!key) {
        std::cout << indent << "(cannot read the key: " << issue.to_string() << ")\n";
        return;
    }
    std::string value = key->dns_record();
    std::cout << indent << "name:  " << keys::record_name(k.selector, domain) << "\n"
              << indent << "type:  TXT\n"
              << indent << "value: " << value << "\n"
              << indent << "zone:  " << keys::zone_file_record(k.selector, domain, value) << "\n";
}

int cmd_generate(const KeysOptions& o) {
    auto cfg = load_config(o.config_path);
    if (!cfg) return 1;
    const config::DomainConfig* d = find_domain(*cfg, o.domain);
    if (!d) return 1;
    auto alg = o.algorithm.empty() ? d->algorithms.front() : keys::parse_algorithm(o.algorithm).value_or(config::DkimAlgorithm{});
    if (!o.algorithm.empty() && !keys::parse_algorithm(o.algorithm)) {
        std::cerr << "signpost keys generate: --algorithm must be ed25519, rsa2048, rsa3072 or rsa4096\n";
        return 2;
    }
    keys::KeyStore store(cfg->keys.dir);
    std::vector<keys::Event> events;
    keys::StoreIssue issue;
    bool ok = store.update(d->name, [&](const keys::DomainView& view, keys::StoreIssue& why) {
        if (view.state.pending(alg)) {
            why = {store.state_file(d->name), "a pending " + std::string(config::to_string(alg)) +
                                                  " key exists already (" + view.state.pending(alg)->selector + ")"};
            return keys::Plan{};
        }
        if (!o.selector.empty() && (view.state.find(o.selector) ||
                                    std::find(view.unreferenced.begin(), view.unreferenced.end(), o.selector) !=
                                        view.unreferenced.end())) {
            why = {store.key_file(d->name, o.selector), "selector " + o.selector + " is already used"};
            return keys::Plan{};
        }
        return keys::add_pending_key(view.state, keys::RotationPolicy::from(*d), alg, now_seconds(), o.selector,
                                     view.unreferenced);
    }, events, issue);
    if (!ok) return report(issue);
    keys::DomainView view;
    store.read(d->name, view, issue);
    const keys::KeyEntry* k = view.state.find(events.at(0).selector);
    std::cout << "Generated pending key " << k->selector << " (" << config::to_string(alg) << ") for " << d->name
              << ". Publish this record:\n";
    print_record(store, d->name, *k, "  ");
    std::cout << (k->asap ? "It becomes active as soon as DNS serves the record.\n"
                          : "It becomes active at the next scheduled rotation, once DNS serves the record.\n")
              << kPickupNote;
    return 0;
}

int cmd_list(const KeysOptions& o) {
    auto cfg = load_config(o.config_path);
    if (!cfg) return 1;
    keys::KeyStore store(cfg->keys.dir);
    keys::TxtLookup lookup;
    if (!o.no_dns) {
        try {
            lookup = make_txt_lookup(cfg->dns);
        } catch (const std::exception& e) {
            std::cerr << "signpost keys list: DNS: " << e.what() << " (use --no-dns)\n";
            return 1;
        }
    }
    auto now = now_seconds();
    int status = 0;
    std::cout << std::left << std::setw(24) << "DOMAIN" << std::setw(16) << "SELECTOR" << std::setw(10) << "ALGORITHM"
              << std::setw(10) << "STATE" << std::setw(7) << "AGE" << "DNS\n";
    for (const auto& d : cfg->domains) {
        keys::DomainView view;
        keys::StoreIssue issue;
        if (!store.read(d.name, view, issue)) {
            report(issue);
            status = 1;
            continue;
        }
        if (view.state.keys.empty())
            std::cout << std::setw(24) << d.name << "(no keys yet: the daemon generates the first ones)\n";
        for (const auto& k : view.state.keys) {
            std::string dns = "-";
            if (lookup) {
                auto key = store.load_key(d.name, k, issue);
                if (!key && k.state != keys::KeyState::retired) dns = "key unreadable: " + issue.message;
                else if (key) dns = std::string(keys::to_string(keys::check_published(*key, k.selector, d.name, lookup)));
            }
            std::cout << std::setw(24) << d.name << std::setw(16) << k.selector << std::setw(10)
                      << config::to_string(k.algorithm) << std::setw(10) << keys::to_string(k.state) << std::setw(7)
                      << age(k.created, now) << dns << "\n";
        }
        for (const auto& u : view.unreferenced)
            std::cout << std::setw(24) << d.name << std::setw(16) << u
                      << "(key file with no state entry, left by an interrupted generation; never used)\n";
    }
    return status;
}

int cmd_dns(const KeysOptions& o) {
    auto cfg = load_config(o.config_path);
    if (!cfg) return 1;
    keys::KeyStore store(cfg->keys.dir);
    int status = 0;
    for (const auto& d : cfg->domains) {
        if (!o.domain.empty() && d.name != o.domain) continue;
        keys::DomainView view;
        keys::StoreIssue issue;
        if (!store.read(d.name, view, issue)) {
            status = report(issue);
            continue;
        }
        std::cout << "== " << d.name << "\n";
        bool any = false;
        for (auto [state, heading] : {std::pair{keys::KeyState::pending, "Publish now (new key, not yet signing):"},
                                      std::pair{keys::KeyState::active, "Keep published (signing):"},
                                      std::pair{keys::KeyState::retiring, "Keep published (retiring; mail signed with it may still be verified):"}}) {
            bool header = false;
            for (const auto& k : view.state.keys) {
                if (k.state != state) continue;
                if (!header) std::cout << heading << "\n";
                header = any = true;
                print_record(store, d.name, k, "  ");
            }
        }
        bool removable = false;
        for (const auto& k : view.state.keys) {
            if (k.state != keys::KeyState::retired) continue;
            if (!removable) std::cout << "May be removed (retired):\n";
            removable = any = true;
            std::cout << "  " << keys::record_name(k.selector, d.name) << " TXT\n";
        }
        if (!any) std::cout << "(no keys yet)\n";
    }
    return status;
}

std::vector<config::DkimAlgorithm> chosen_algorithms(const KeysOptions& o, const config::DomainConfig& d, bool& ok) {
    ok = true;
    if (o.algorithm.empty()) return d.algorithms;
    auto alg = keys::parse_algorithm(o.algorithm);
    if (!alg || std::find(d.algorithms.begin(), d.algorithms.end(), *alg) == d.algorithms.end()) {
        std::cerr << "signpost keys: --algorithm " << o.algorithm << " is not one of the domain's algorithms\n";
        ok = false;
        return {};
    }
    return {*alg};
}

void warn_now() {
    std::cerr << "WARNING: activating without checking DNS. Receivers verify signatures against the\n"
                 "         published record; until it is published, mail signed with this key FAILS\n"
                 "         DKIM verification (and DMARC, where DKIM is what aligns).\n";
}

int cmd_rotate(const KeysOptions& o) {
    auto cfg = load_config(o.config_path);
    if (!cfg) return 1;
    const config::DomainConfig* d = find_domain(*cfg, o.domain);
    if (!d) return 1;
    bool ok = true;
    auto algs = chosen_algorithms(o, *d, ok);
    if (!ok) return 2;
    keys::KeyStore store(cfg->keys.dir);
    auto now = now_seconds();
    std::vector<keys::Event> events;
    keys::StoreIssue issue;
    for (auto alg : algs) {
        if (!store.update(d->name, [&](const keys::DomainView& view, keys::StoreIssue&) {
                return keys::start_rotation(view.state, keys::RotationPolicy::from(*d), alg, now, view.unreferenced);
            }, events, issue))
            return report(issue);
    }
    if (o.now) {
        warn_now();
        for (auto alg : algs) {
            if (!store.update(d->name, [&](const keys::DomainView& view, keys::StoreIssue&) {
                    return keys::activate_now(view.state, view.state.pending(alg)->selector, now);
                }, events, issue))
                return report(issue);
        }
    }
    print_events(events, d->name);
    keys::DomainView view;
    store.read(d->name, view, issue);
    for (const auto& k : view.state.keys) {
        if (k.state != keys::KeyState::pending) continue;
        std::cout << "Publish this record; the key becomes active as soon as DNS serves it:\n";
        print_record(store, d->name, k, "  ");
    }
    std::cout << kPickupNote;
    return 0;
}

int cmd_activate(const KeysOptions& o) {
    auto cfg = load_config(o.config_path);
    if (!cfg) return 1;
    const config::DomainConfig* d = find_domain(*cfg, o.domain);
    if (!d) return 1;
    keys::KeyStore store(cfg->keys.dir);
    auto now = now_seconds();
    keys::DomainView view;
    keys::StoreIssue issue;
    if (!store.read(d->name, view, issue)) return report(issue);
    std::vector<std::string> targets;
    for (const auto& k : view.state.keys)
        if (k.state == keys::KeyState::pending && (o.selector.empty() || k.selector == o.selector))
            targets.push_back(k.selector);
    if (targets.empty()) {
        std::cerr << "signpost keys activate: " << d->name << " has no pending key"
                  << (o.selector.empty() ? "" : " named " + o.selector) << "\n";
        return 1;
    }
    keys::TxtLookup lookup;
    if (!o.now) lookup = make_txt_lookup(cfg->dns);
    else warn_now();
    std::vector<keys::Event> events;
    int status = 0;
    for (const auto& selector : targets) {
        bool ok = store.update(d->name, [&](const keys::DomainView& v, keys::StoreIssue& why) {
            const keys::KeyEntry* k = v.state.find(selector);
            if (!o.now) {
                auto key = store.load_key(d->name, *k, why);
                if (!key) return keys::Plan{};
                auto dns = keys::check_published(*key, selector, d->name, lookup);
                if (dns != keys::DnsStatus::published) {
                    why = {store.key_file(d->name, selector), "not activated: its DNS record is " +
                                                                  std::string(keys::to_string(dns)) +
                                                                  " (see `signpost keys dns`), or use --now"};
                    return keys::Plan{};
                }
            }
            return keys::activate_now(v.state, selector, now);
        }, events, issue);
        if (!ok) status = report(issue);
    }
    print_events(events, d->name);
    if (!events.empty()) std::cout << kPickupNote;
    return status;
}

int cmd_import(const KeysOptions& o) {
    auto cfg = load_config(o.config_path);
    if (!cfg) return 1;
    const config::DomainConfig* d = find_domain(*cfg, o.domain);
    if (!d) return 1;
    std::ifstream in(o.key_file, std::ios::binary);
    if (!in) {
        std::cerr << "signpost keys import: cannot read " << o.key_file << "\n";
        return 1;
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto key = text.find("-----BEGIN") != std::string::npos ? signer::load_private_key_pem(text)
                                                             : signer::load_ed25519_seed(text);
    if (!key) {
        std::cerr << "signpost keys import: " << o.key_file << ": " << key.error().message() << "\n";
        return 1;
    }
    auto alg = keys::algorithm_of(*key);
    keys::KeyStore store(cfg->keys.dir);
    auto now = now_seconds();
    keys::StoreIssue issue;
    if (!store.import_key(d->name, o.selector, text, alg, now, issue)) return report(issue);
    std::cout << "Imported " << o.selector << " (" << config::to_string(alg) << ") for " << d->name << " as pending.\n";
    KeysOptions activate = o;
    activate.selector = o.selector;
    return cmd_activate(activate);
}

}  // namespace

void add_keys_commands(CLI::App& app, int& exit_code) {
    auto* keys_cmd = app.add_subcommand("keys", "DKIM keys: generate, list, rotate, activate, import, DNS records");
    keys_cmd->require_subcommand(1);
    auto o = std::make_shared<KeysOptions>();
    auto common = [&](CLI::App* c) {
        c->add_option("-c,--config", o->config_path, "Configuration file")->capture_default_str();
    };

    auto* gen = keys_cmd->add_subcommand("generate", "Create a pending key and print its DNS record");
    common(gen);
    gen->add_option("--domain", o->domain, "Domain")->required();
    gen->add_option("--algorithm", o->algorithm, "ed25519, rsa2048, rsa3072 or rsa4096 (default: the domain's first)");
    gen->add_option("--selector", o->selector, "Selector (default: prefix + year-month + letter)");
    gen->callback([o, &exit_code] { exit_code = cmd_generate(*o); });

    auto* list = keys_cmd->add_subcommand("list", "List every key with its state, age and DNS status");
    common(list);
    list->add_flag("--no-dns", o->no_dns, "Do not look the records up");
    list->callback([o, &exit_code] { exit_code = cmd_list(*o); });

    auto* dns = keys_cmd->add_subcommand("dns", "Print the records to publish, and those that may be removed");
    common(dns);
    dns->add_option("--domain", o->domain, "Only this domain");
    dns->callback([o, &exit_code] { exit_code = cmd_dns(*o); });

    auto* rotate = keys_cmd->add_subcommand("rotate", "Start a rotation now: new keys that activate once published");
    common(rotate);
    rotate->add_option("--domain", o->domain, "Domain")->required();
    rotate->add_option("--algorithm", o->algorithm, "Only this algorithm");
    rotate->add_flag("--now", o->now, "Activate at once, without waiting for DNS (breaks verification until published)");
    rotate->callback([o, &exit_code] { exit_code = cmd_rotate(*o); });

    auto* activate = keys_cmd->add_subcommand("activate", "Activate pending keys whose record DNS serves");
    common(activate);
    activate->add_option("--domain", o->domain, "Domain")->required();
    activate->add_option("--selector", o->selector, "Only this pending key");
    activate->add_flag("--now", o->now, "Skip the DNS check");
    activate->callback([o, &exit_code] { exit_code = cmd_activate(*o); });

    auto* import = keys_cmd->add_subcommand("import", "Add an existing private key (e.g. from OpenDKIM) under its selector");
    common(import);
    import->add_option("--domain", o->domain, "Domain")->required();
    import->add_option("--selector", o->selector, "Its selector, as published in DNS")->required();
    import->add_option("--key", o->key_file, "PEM private key, or an Ed25519 seed in base64")->required();
    import->add_flag("--now", o->now, "Activate without checking DNS");
    import->callback([o, &exit_code] { exit_code = cmd_import(*o); });
}

}  // namespace signpost::app
