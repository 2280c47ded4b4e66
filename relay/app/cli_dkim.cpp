// relay/app/cli_dkim.cpp — the `signpost dkim` commands (see cli_dkim.hpp).
#include "relay/app/cli_dkim.hpp"

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <CLI/CLI.hpp>

#include "config/config.hpp"
#include "keys/store.hpp"
#include "relay/dns/txt_lookup.hpp"
#include "signer/sign.hpp"
#include "signer/verify.hpp"

namespace signpost::app {
namespace {

std::string read_all(std::istream& in) {
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool read_file(const std::string& path, std::string& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    out = read_all(in);
    return true;
}

// True when the text has LF line ends and no CR at all: a file saved on Unix.
bool lf_only(std::string_view text) {
    return text.find('\r') == std::string_view::npos && text.find('\n') != std::string_view::npos;
}

std::string lf_to_crlf(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 32);
    for (char c : text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

std::string crlf_to_lf(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i)
        if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) out += text[i];
    return out;
}

std::optional<signer::PrivateKey> load_key_file(const std::string& path, std::string& why) {
    std::string text;
    if (!read_file(path, text)) {
        why = "cannot read " + path;
        return std::nullopt;
    }
    auto key = text.find("-----BEGIN") != std::string::npos ? signer::load_private_key_pem(text)
                                                              : signer::load_ed25519_seed(text);
    if (!key) {
        why = path + ": " + key.error().message();
        return std::nullopt;
    }
    return std::move(*key);
}

// A record file holds the TXT value, either bare or as zone-file quoted strings.
std::string record_from_file_text(std::string_view text) {
    std::string out;
    auto first = text.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && text[first] == '"') {
        bool in_string = false;
        for (std::size_t i = first; i < text.size(); ++i) {
            char c = text[i];
            if (!in_string) {
                if (c == '"') in_string = true;
                continue;
            }
            if (c == '\\' && i + 1 < text.size()) out += text[++i];
            else if (c == '"') in_string = false;
            else out += c;
        }
        return out;
    }
    for (char c : text)
        if (c != '\r' && c != '\n') out += c;
    while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
    return out.substr(out.find_first_not_of(" \t") == std::string::npos ? out.size() : out.find_first_not_of(" \t"));
}

struct SignOptions {
    std::string config_path;
    std::string domain;
    std::vector<std::string> selectors;
    std::vector<std::string> key_files;
    std::int64_t timestamp = -1;
    std::string headers;
    std::string canon = "relaxed/relaxed";
    std::string expire;
};

int run_sign(const SignOptions& o) {
    if (!o.config_path.empty() && (!o.selectors.empty() || !o.key_files.empty())) {
        std::cerr << "signpost dkim sign: give either --config (sign with the domain's active keys) or --selector/--key\n";
        return 2;
    }
    if (o.config_path.empty() && o.selectors.empty()) {
        std::cerr << "signpost dkim sign: give --selector and --key, or --config\n";
        return 2;
    }
    if (o.selectors.size() != o.key_files.size()) {
        std::cerr << "signpost dkim sign: give one --key per --selector (got " << o.selectors.size()
                  << " selectors and " << o.key_files.size() << " keys)\n";
        return 2;
    }
    signer::SignParams params;
    params.d = o.domain;
    auto slash = o.canon.find('/');
    auto hc = signer::parse_canonicalization(o.canon.substr(0, slash));
    auto bc = slash == std::string::npos ? std::optional(signer::Canonicalization::simple)
                                         : signer::parse_canonicalization(o.canon.substr(slash + 1));
    if (!hc || !bc) {
        std::cerr << "signpost dkim sign: --canon must be header/body with each simple or relaxed, not \""
                  << o.canon << "\"\n";
        return 2;
    }
    params.header_canon = *hc;
    params.body_canon = *bc;
    if (!o.headers.empty()) {
        std::string_view rest = o.headers;
        while (!rest.empty()) {
            auto colon = rest.find(':');
            params.headers.emplace_back(rest.substr(0, colon));
            rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
        }
    }
    if (!o.expire.empty()) {
        auto d = config::parse_duration(o.expire);
        if (!d || d->count() == 0) {
            std::cerr << "signpost dkim sign: --expire wants a duration such as \"7d\"\n";
            return 2;
        }
        params.expire_after = *d;
    }

    std::vector<signer::SigningKey> keys;
    if (!o.config_path.empty()) {
        auto loaded = config::load_file(o.config_path);
        if (!loaded.ok()) {
            for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
            return 1;
        }
        keys::KeyStore store(loaded.config->keys.dir);
        for (const auto& issue : store.reload(loaded.config->domains))
            std::cerr << "signpost dkim sign: " << issue.to_string() << "\n";
        auto set = store.signing_keys(o.domain);
        if (!set) {
            std::cerr << "signpost dkim sign: " << o.domain << " has no active key (see `signpost keys list`)\n";
            return 1;
        }
        keys = set->keys;
        // The domain's configured canonicalization and headers apply, as in the daemon.
        if (const config::DomainConfig* d = loaded.config->find_domain(o.domain)) {
            auto configured = keys::sign_params(*d);
            params.header_canon = configured.header_canon;
            params.body_canon = configured.body_canon;
            if (params.headers.empty()) params.headers = configured.headers;
        }
    }
    for (std::size_t i = 0; i < o.selectors.size(); ++i) {
        std::string why;
        auto key = load_key_file(o.key_files[i], why);
        if (!key) {
            std::cerr << "signpost dkim sign: " << why << "\n";
            return 1;
        }
        keys.push_back({o.selectors[i], std::move(*key)});
    }

    std::string input = read_all(std::cin);
    bool unix_lines = lf_only(input);
    std::string message = unix_lines ? lf_to_crlf(input) : std::move(input);
    auto now = o.timestamp >= 0 ? std::chrono::system_clock::time_point(std::chrono::seconds(o.timestamp))
                                : std::chrono::system_clock::now();
    auto headers = signer::sign_message(message, keys, params, now);
    if (!headers) {
        std::cerr << "signpost dkim sign: " << headers.error().message() << "\n";
        return 1;
    }
    std::string out;
    for (const auto& h : *headers) out += h;
    out += message;
    std::cout << (unix_lines ? crlf_to_lf(out) : out);
    return std::cout.good() ? 0 : 1;
}

struct VerifyCliOptions {
    std::string record_dir;
    bool dns = false;
    std::vector<std::string> dns_servers;
};

int run_verify(const VerifyCliOptions& o) {
    if (o.record_dir.empty() == !o.dns) {
        std::cerr << "signpost dkim verify: give exactly one of --record-dir DIR or --dns\n";
        return 2;
    }
    std::unique_ptr<dns::TxtResolver> resolver;
    if (o.dns) {
        try {
            resolver = std::make_unique<dns::TxtResolver>(o.dns_servers);
        } catch (const std::exception& e) {
            std::cerr << "signpost dkim verify: " << e.what() << "\n";
            return 2;
        }
    }
    signer::KeyLookup lookup = [&](std::string_view selector, std::string_view domain) {
        // The names come from the message: only well-formed ones become file or DNS names.
        if (!signer::is_valid_selector(selector, true) || !signer::is_valid_domain(domain, true))
            return signer::LookupResult::not_found();
        std::string name = std::string(selector) + "._domainkey." + std::string(domain);
        if (resolver) {
            auto answer = resolver->lookup(name);
            if (answer.status == dns::TxtAnswer::Status::temp_error) return signer::LookupResult::temp_error();
            if (answer.status == dns::TxtAnswer::Status::not_found || answer.records.empty())
                return signer::LookupResult::not_found();
            return signer::LookupResult::found(answer.records.front());
        }
        std::string text;
        if (!read_file(o.record_dir + "/" + name + ".txt", text)) return signer::LookupResult::not_found();
        return signer::LookupResult::found(record_from_file_text(text));
    };

    std::string input = read_all(std::cin);
    std::string message = lf_only(input) ? lf_to_crlf(input) : std::move(input);
    auto results = signer::verify(message, lookup, std::chrono::system_clock::now());
    if (!results) {
        std::cout << "error: " << results.error().message() << "\n";
        return 1;
    }
    if (results->empty()) {
        std::cout << "none: the message has no DKIM-Signature\n";
        return 1;
    }
    bool all_pass = true;
    for (const auto& r : *results) {
        std::cout << signer::to_string(r.status) << " d=" << r.d << " s=" << r.s << " a=" << r.a;
        if (!r.passed()) {
            all_pass = false;
            std::cout << " reason=" << signer::to_string(r.reason);
            if (!r.detail.empty()) std::cout << " (" << r.detail << ")";
        }
        if (r.testing) std::cout << " testing=y";
        std::cout << "\n";
    }
    return all_pass ? 0 : 1;
}

}  // namespace

void add_dkim_commands(CLI::App& app, int& exit_code) {
    auto* dkim = app.add_subcommand("dkim", "Sign or verify a message read on standard input");
    dkim->require_subcommand(1);

    auto sign_opts = std::make_shared<SignOptions>();
    auto* sign = dkim->add_subcommand("sign", "Sign a message (stdin) and write it signed (stdout)");
    sign->add_option("--domain", sign_opts->domain, "Signing domain (d=)")->required();
    sign->add_option("--selector", sign_opts->selectors, "Selector (s=); repeat with --key to sign twice");
    sign->add_option("--key", sign_opts->key_files, "Private key: PEM PKCS#8, or an Ed25519 seed in base64");
    sign->add_option("-c,--config", sign_opts->config_path,
                     "Sign with the domain's active keys from this configuration's key store");
    sign->add_option("--timestamp", sign_opts->timestamp, "Signature time t= in Unix seconds (default: now)");
    sign->add_option("--headers", sign_opts->headers, "Header fields to sign, colon-separated (default: a standard set)");
    sign->add_option("--canon", sign_opts->canon, "Canonicalization header/body")->capture_default_str();
    sign->add_option("--expire", sign_opts->expire, "Set x= this long after t= (e.g. 7d)");
    sign->callback([sign_opts, &exit_code] { exit_code = run_sign(*sign_opts); });

    auto verify_opts = std::make_shared<VerifyCliOptions>();
    auto* verify = dkim->add_subcommand("verify", "Verify every DKIM-Signature of a message (stdin)");
    verify->add_option("--record-dir", verify_opts->record_dir,
                       "Directory of <selector>._domainkey.<domain>.txt files holding TXT record text");
    verify->add_flag("--dns", verify_opts->dns, "Look the key records up in DNS");
    verify->add_option("--dns-server", verify_opts->dns_servers, "Forward DNS queries to IP or IP@PORT (with --dns)");
    verify->callback([verify_opts, &exit_code] { exit_code = run_verify(*verify_opts); });
}

}  // namespace signpost::app
