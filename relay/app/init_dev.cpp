// relay/app/init_dev.cpp — writes a development setup (see init_dev.hpp).
#include "relay/app/init_dev.hpp"

#include <chrono>
#include <ctime>
#include <fstream>
#include <system_error>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>
#include <botan/pkcs8.h>
#include <botan/x509self.h>

#include "config/config.hpp"
#include "keys/keygen.hpp"
#include "relay/auth/users.hpp"

namespace signpost::app {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDevDomain = "example.test";

struct SelfSigned {
    std::string cert_pem;
    std::string key_pem;
};

// ECDSA P-256 certificate for localhost and 127.0.0.1, valid for one year.
SelfSigned make_self_signed() {
    Botan::AutoSeeded_RNG rng;
    Botan::ECDSA_PrivateKey key(rng, Botan::EC_Group("secp256r1"));
    Botan::X509_Cert_Options opts("localhost/ZZ/Signpost development", 365u * 24 * 3600);
    opts.dns = "localhost";
    opts.ip = "127.0.0.1";
    opts.add_ex_constraint("PKIX.ServerAuth");
    auto cert = Botan::X509::create_self_signed_cert(opts, key, "SHA-256", rng);
    return {cert.PEM_encode(), Botan::PKCS8::PEM_encode(key)};
}

// "sp2026-11" for the current UTC month; init appends a letter per key.
std::string selector_stem() {
    std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::snprintf(buf, sizeof buf, "sp%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    return buf;
}

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

    SelfSigned tls = make_self_signed();
    if (!write_or_report(dir / "tls/cert.pem", tls.cert_pem, 0644, err) ||
        !write_or_report(dir / "tls/key.pem", tls.key_pem, 0600, err))
        return 1;

    // One active key per algorithm, already active: a capture-only setup has no DNS that
    // could show the record, so the DNS wait of a real rotation does not apply.
    fs::path domain_dir = dir / "keys" / kDevDomain;
    fs::create_directories(domain_dir, ec);
    fs::permissions(domain_dir, fs::perms::owner_all, ec);
    std::string stem = selector_stem();
    char letter = 'a';
    for (auto alg : {config::DkimAlgorithm::ed25519, config::DkimAlgorithm::rsa2048}) {
        std::string selector = stem + letter++;
        std::string state = "algorithm = \"" + std::string(config::to_string(alg)) +
                            "\"\nstate = \"active\"\n";
        if (!write_or_report(domain_dir / (selector + ".pem"), keys::generate_private_key_pem(alg),
                             0600, err) ||
            !write_or_report(domain_dir / (selector + ".state"), state, 0600, err))
            return 1;
        out << "DKIM key " << selector << "._domainkey." << kDevDomain << " ("
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
        << "  delivered: " << (dir / "outbox").string() << "/*.eml\n"
        << "Start it with: signpost serve --config " << (dir / "signpost.toml").string() << "\n";
    return 0;
}

}  // namespace signpost::app
