// relay/app/init_dev.cpp — writes a development setup (see init_dev.hpp).
#include "relay/app/init_dev.hpp"

#include <chrono>
#include <ctime>
#include <fstream>
#include <system_error>

#include "config/config.hpp"
#include "keys/keygen.hpp"
#include "keys/store.hpp"
#include "relay/app/self_signed.hpp"
#include "relay/auth/users.hpp"

namespace signpost::app {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDevDomain = "example.test";

std::string dev_config() {
    return R"(# Signpost development setup, written by `signpost init --dev`.
# Mail submitted here is signed and written to the outbox directory as .eml files;
# nothing leaves this machine. See config/signpost.example.toml for every key.

[server]
hostname = "localhost"

[[listener]]
name = "submission"
address = "127.0.0.1:2587"
tls = "starttls"

[[listener]]
name = "submissions"
address = "127.0.0.1:2465"
tls = "implicit"

[tls]
cert = "tls/cert.pem"
key = "tls/key.pem"

[auth]
users_file = "users"

[[domain]]
name = "example.test"
algorithms = ["ed25519", "rsa2048"]
rotate_every = "0"   # manual: a capture-only setup has no DNS to publish records in

[keys]
dir = "keys"

[queue]
dir = "spool"

[delivery]
mode = "capture"
capture_dir = "outbox"

[mta_sts]
enabled = false

[doctor]
interval = "0s"   # a capture-only setup has no DNS to check daily; `signpost doctor` still runs

[metrics]
listen = "127.0.0.1:9587"

[log]
level = "info"
format = "text"
)";
}

bool write_or_report(const fs::path& path, std::string_view data, unsigned mode, std::ostream& err) {
    if (auto ec = keys::write_file_atomic(path, data, mode)) {
        err << "signpost: cannot write " << path.string() << ": " << ec.message() << "\n";
        return false;
    }
    return true;
}

}  // namespace

int init_dev(const fs::path& dir, std::ostream& out, std::ostream& err) {
    std::error_code ec;
    if (fs::exists(dir / "signpost.toml", ec)) {
        err << "signpost: " << (dir / "signpost.toml").string()
            << " already exists; remove the directory or choose another one\n";
        return 1;
    }
    for (const char* sub : {"", "tls", "keys", "outbox", "spool"}) {
        fs::create_directories(dir / sub, ec);
        if (ec) {
            err << "signpost: cannot create " << (dir / sub).string() << ": " << ec.message() << "\n";
            return 1;
        }
    }
    fs::permissions(dir / "keys", fs::perms::owner_all, ec);

    SelfSignedRequest request;
    request.common_name = "localhost";
    request.dns_names = {"localhost"};
    request.ips = {"127.0.0.1"};
    CertificatePem tls = make_self_signed(request);
    if (!write_or_report(dir / "tls/cert.pem", tls.cert_pem, 0644, err) ||
        !write_or_report(dir / "tls/key.pem", tls.key_pem, 0600, err))
        return 1;

    // One active key per algorithm, activated at once (`keys activate --now`): a
    // capture-only setup has no DNS that could show the records.
    config::DomainConfig domain;
    domain.name = kDevDomain;
    keys::KeyStore store(dir / "keys");
    auto now = std::chrono::floor<std::chrono::seconds>(keys::Clock::now());
    for (auto alg : domain.algorithms) {
        std::vector<keys::Event> events;
        keys::StoreIssue issue;
        bool ok = store.update(kDevDomain, [&](const keys::DomainView& v, keys::StoreIssue&) {
            return keys::add_pending_key(v.state, keys::RotationPolicy::from(domain), alg, now, {}, v.unreferenced);
        }, events, issue) && store.update(kDevDomain, [&](const keys::DomainView& v, keys::StoreIssue&) {
            return keys::activate_now(v.state, v.state.pending(alg)->selector, now);
        }, events, issue);
        if (!ok) {
            err << "signpost: " << issue.to_string() << "\n";
            return 1;
        }
        out << "DKIM key " << events.front().selector << "._domainkey." << kDevDomain << " ("
            << config::to_string(alg) << ") generated and active\n";
    }

    std::string password = auth::generate_password();
    auth::UsersFile users;
    users.users.push_back({"dev", auth::hash_password(password), {kDevDomain}});
    if (!write_or_report(dir / "users", users.serialize(), 0600, err) ||
        !write_or_report(dir / "dev-password", password + "\n", 0600, err) ||
        !write_or_report(dir / "signpost.toml", dev_config(), 0644, err))
        return 1;

    out << "Development setup written to " << dir.string() << "\n"
        << "  config:    " << (dir / "signpost.toml").string() << "\n"
        << "  user:      dev (password in " << (dir / "dev-password").string() << ")\n"
        << "  submit:    127.0.0.1:2587 (STARTTLS), 127.0.0.1:2465 (implicit TLS)\n"
        << "  accepted:  " << (dir / "spool").string() << " (signpost queue list --config ...)\n"
        << "  delivery:  capture into " << (dir / "outbox").string() << " (nothing leaves this machine)\n"
        << "Start it with: signpost serve --config " << (dir / "signpost.toml").string() << "\n";
    return 0;
}

}  // namespace signpost::app
