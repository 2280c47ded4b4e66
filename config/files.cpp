// config/files.cpp — checks of the files a Config names (validate_files in config.hpp).
//
// Security exposure: this is where "Signpost refuses to start if a secret is readable by
// others" (DESIGN.md, security contract) is enforced. A secret is a file whose contents
// let someone impersonate us or our users: the TLS private keys (listeners' and [mta_sts_serve]'s), the users file (password
// hashes), the smarthost credentials and each [[inbound]] deliver_credentials_file (a
// password in clear). The TLS certificate, the extra CA file, the DNSSEC trust anchor and
// the [[inbound]] recipients files are not secret and only have to exist and be readable.
//
// A secret must also be owned by the user Signpost runs as, or by root: another owner could
// replace it (a key or users file of their choosing).
// Reads file metadata only (stat, access), never contents. Follows symlinks, so a
// certbot-style "live/privkey.pem" link is judged by the file it points at.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "config/config.hpp"
#include "config/internal.hpp"

namespace signpost::config {
namespace detail {

std::string owner_name(uid_t uid) {
    struct passwd pw {};
    struct passwd* found = nullptr;
    char buf[1024];
    if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found) return found->pw_name;
    return "uid " + std::to_string(uid);
}

std::vector<ConfigError> check_files(const Config& config, const std::string& file,
                                     const Locator& where) {
    struct Item {
        std::string key;
        const std::filesystem::path& path;
        bool secret;
    };
    std::vector<Item> items = {
        {"tls.cert", config.tls.cert, false},
        {"tls.key", config.tls.key, true},
        {"auth.users_file", config.auth.users_file, true},
        {"delivery.smarthost_credentials_file", config.delivery.smarthost_credentials_file, true},
        {"delivery.extra_ca_file", config.delivery.extra_ca_file, false},
        {"dns.trust_anchor_file", config.dns.trust_anchor_file, false},
        {"mta_sts_serve.cert", config.mta_sts_serve.cert, false},
        {"mta_sts_serve.key", config.mta_sts_serve.key, true},
    };
    for (std::size_t i = 0; i < config.inbound.size(); ++i) {
        const InboundConfig& in = config.inbound[i];
        const std::string path = "inbound[" + std::to_string(i) + "].";
        items.push_back({path + "recipients_file", in.recipients_file, false});
        items.push_back({path + "deliver_credentials_file", in.deliver_credentials_file, true});
    }

    std::vector<ConfigError> errors;
    for (const Item& item : items) {
        if (item.path.empty()) continue;
        const std::string p = item.path.string();
        auto report = [&](std::string message) {
            Location at = where ? where(item.key) : Location{};
            errors.push_back({file, at.line, at.column, item.key, std::move(message)});
        };
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) {
            int err = errno;
            report(err == ENOENT ? p + ": file not found" : p + ": " + std::strerror(err));
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            report(p + " is not a regular file");
            continue;
        }
        if (item.secret && (st.st_mode & 077) != 0) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
            report(p + " is readable by group/others (mode " + mode + "); run chmod 600 " + p);
            continue;
        }
        // Owned by someone else (not us, not root): that user can replace the secret.
        if (item.secret && st.st_uid != ::geteuid() && st.st_uid != 0) {
            const std::string me = owner_name(::geteuid());
            report(p + " is owned by " + owner_name(st.st_uid) + ", not by " + me +
                   " (the user Signpost runs as)" + (::geteuid() == 0 ? "" : " or root") + "; run chown " + me +
                   " " + p);
            continue;
        }
        if (::access(p.c_str(), R_OK) != 0) {
            int err = errno;
            report(p + ": " + std::strerror(err));
        }
    }
    return errors;
}

}  // namespace detail

std::vector<ConfigError> validate_files(const Config& config) {
    return detail::check_files(config, config.source.string(), {});
}

}  // namespace signpost::config
