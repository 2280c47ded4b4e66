// relay/app/cli_users.cpp — the `signpost users` commands (see cli_users.hpp).
//
// Security exposure: handles plain passwords (from stdin, or generated) only long enough
// to hash or check them; never writes, logs or lists them, except a generated password,
// printed once to stdout on success. The users file is written 0600 (DESIGN.md: secrets
// are not readable by others).
#include "relay/app/cli_users.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "config/config.hpp"
#include "keys/keygen.hpp"
#include "relay/auth/authenticator.hpp"
#include "relay/auth/users.hpp"

namespace signpost::app {
namespace {

namespace fs = std::filesystem;

// Longer passwords are refused: SASL PLAIN carries the password base64-encoded in one
// command line (RFC 4954 §4 allows 12,288 octets); 1024 bytes is plenty and fits.
constexpr std::size_t kMaxPasswordLength = 1024;
constexpr std::size_t kShortPassword = 12;

const char* kPickupNote =
    "A running Signpost notices the changed users file and reloads it; no restart is needed.\n";

struct UsersOptions {
    std::string config_path = "/etc/signpost/signpost.toml";
    std::string name;
    std::string allow;
};

// What a command works on: the loaded config and the users file it names.
struct Target {
    std::shared_ptr<const config::Config> config;
    fs::path users_file;
};

int fail(const std::string& cmd, const std::string& message) {
    std::cerr << "signpost users " << cmd << ": " << message << "\n";
    return 1;
}

std::string mode_string(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

std::optional<Target> locate(const UsersOptions& o, const std::string& cmd) {
    // The users file may not exist yet (first `users add`), and managing users must not
    // depend on, say, the TLS certificate being in place: skip the file checks here.
    config::LoadOptions options;
    options.check_files = false;
    auto loaded = config::load_file(o.config_path, options);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        fail(cmd, "cannot use the configuration " + o.config_path);
        return std::nullopt;
    }
    return Target{loaded.config, loaded.config->auth.users_file};
}

// The users file as it is on disk. `exists` is false (and no error) when it is missing.
struct OnDisk {
    bool exists = false;
    struct stat st {};
    std::string text;
};

bool read_users_file(const fs::path& path, OnDisk& out, std::string& error) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT) return true;
        error = path.string() + ": " + std::strerror(errno);
        return false;
    }
    out.exists = true;
    bool ok = true;
    if (::fstat(fd, &out.st) != 0) {
        error = path.string() + ": " + std::strerror(errno);
        ok = false;
    } else if (!S_ISREG(out.st.st_mode)) {
        error = path.string() + " is not a regular file";
        ok = false;
    }
    char buf[8192];
    while (ok) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = path.string() + ": " + std::strerror(errno);
            ok = false;
        } else if (n == 0) {
            break;
        } else {
            out.text.append(buf, static_cast<std::size_t>(n));
            if (out.text.size() > auth::Authenticator::kMaxFileSize) {
                error = path.string() + " is larger than the daemon accepts";
                ok = false;
            }
        }
    }
    ::close(fd);
    return ok;
}

// Parses the file; prints every malformed line. Returns false when there was one.
bool parse_or_report(const fs::path& path, const OnDisk& disk, auth::UsersFile& out) {
    auto parsed = auth::parse_users(disk.text);
    for (const auto& e : parsed.errors)
        std::cerr << path.string() << ":" << e.line << ": " << e.message << "\n";
    out = std::move(parsed.file);
    return parsed.errors.empty();
}

// flock() on "<users_file>.lock" for the lifetime of the object: one editor at a time.
class EditLock {
public:
    explicit EditLock(const fs::path& users_file) {
        std::string path = users_file.string() + ".lock";
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd_ < 0) {
            error_ = path + ": " + std::strerror(errno);
            return;
        }
        while (::flock(fd_, LOCK_EX) != 0) {
            if (errno == EINTR) continue;
            error_ = path + ": cannot lock: " + std::strerror(errno);
            break;
        }
    }
    ~EditLock() {
        if (fd_ >= 0) ::close(fd_);  // closing releases the lock
    }
    EditLock(const EditLock&) = delete;
    EditLock& operator=(const EditLock&) = delete;
    const std::string& error() const { return error_; }

private:
    int fd_ = -1;
    std::string error_;
};

// The file as lines (without '\n'), so an edit touches one user's line and keeps the
// operator's comments, blank lines and order.
std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        auto nl = text.find('\n', start);
        if (nl == std::string::npos) nl = text.size();
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

// The index of NAME's line. Only called on text parse_users() accepted whole, so every
// line that is not blank or a comment is "name:hash:allow".
std::optional<std::size_t> find_line(const std::vector<std::string>& lines, const std::string& name) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string_view l = lines[i];
        while (!l.empty() && (l.front() == ' ' || l.front() == '\t')) l.remove_prefix(1);
        if (l.empty() || l.front() == '#') continue;
        if (l.substr(0, l.find(':')) == name) return i;
    }
    return std::nullopt;
}

// "example.com, Alice@Example.org" -> {"example.com", "alice@example.org"}.
bool parse_allow(const std::string& text, std::vector<std::string>& out, std::string& error) {
    out.clear();
    std::size_t start = 0;
    while (start <= text.size()) {
        auto comma = text.find(',', start);
        if (comma == std::string::npos) comma = text.size();
        std::string entry = text.substr(start, comma - start);
        start = comma + 1;
        entry.erase(0, entry.find_first_not_of(" \t"));
        entry.erase(entry.find_last_not_of(" \t") + 1);
        if (entry.empty()) continue;
        if (!auth::valid_sender_grant(entry)) {
            error = "--allow: \"" + entry + "\" is neither a domain (example.com) nor an address (alice@example.com)";
            return false;
        }
        std::transform(entry.begin(), entry.end(), entry.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (std::find(out.begin(), out.end(), entry) == out.end()) out.push_back(entry);
    }
    if (out.empty()) {
        error = "--allow needs at least one domain or address, such as --allow example.com,alice@example.org";
        return false;
    }
    return true;
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
    return out;
}

// A grant for a domain Signpost has no [[domain]] (and so no DKIM key) for is allowed,
// but probably a typo.
void warn_unsigned_domains(const Target& t, const std::vector<std::string>& allow) {
    for (const auto& entry : allow) {
        std::string domain = entry.substr(entry.find('@') + 1);
        if (!t.config->find_domain(domain))
            std::cerr << "warning: " << domain << " has no [[domain]] entry in " << t.config->source.string()
                      << ", so Signpost has no DKIM key to sign its mail with\n";
    }
}

bool valid_name_or_report(const std::string& cmd, const std::string& name) {
    if (auth::valid_user_name(name)) return true;
    fail(cmd, "invalid user name \"" + name + "\" (1 to 64 characters of A-Z a-z 0-9 . _ @ + -)");
    return false;
}

// The first line of stdin, without its line ending.
bool read_password_line(std::string& out, std::string& error) {
    out.clear();
    for (int c; (c = std::cin.get()) != std::char_traits<char>::eof() && c != '\n';) {
        if (out.size() > kMaxPasswordLength) break;
        out += static_cast<char>(c);
    }
    if (!out.empty() && out.back() == '\r') out.pop_back();
    if (out.size() > kMaxPasswordLength) {
        error = "the password is longer than " + std::to_string(kMaxPasswordLength) + " bytes";
        return false;
    }
    if (out.empty()) {
        error = "no password on stdin (the first line is the password)";
        return false;
    }
    if (out.find('\0') != std::string::npos) {
        error = "the password contains a NUL byte, which AUTH PLAIN cannot carry";
        return false;
    }
    return true;
}

// A new password: the first line of stdin when it is not a terminal, else a generated one.
bool new_password(std::string& password, bool& generated, std::string& error) {
    generated = ::isatty(STDIN_FILENO) == 1;
    if (generated) {
        password = auth::generate_password();
        return true;
    }
    if (!read_password_line(password, error)) return false;
    if (password.size() < kShortPassword)
        std::cerr << "warning: a password shorter than " << kShortPassword
                  << " characters is easy to guess; the submission port is on the internet\n";
    return true;
}

// For `check` on a terminal: ask without echo.
bool ask_password(const std::string& name, std::string& password, std::string& error) {
    termios saved{};
    bool quiet = ::tcgetattr(STDIN_FILENO, &saved) == 0;
    if (quiet) {
        termios noecho = saved;
        noecho.c_lflag &= static_cast<tcflag_t>(~ECHO);
        quiet = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho) == 0;
    }
    std::cerr << "Password for " << name << ": " << std::flush;
    bool ok = read_password_line(password, error);
    if (quiet) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::cerr << "\n";
    return ok;
}

// Whether NAME is (want_user) or is not (!want_user) in the file, checked before asking for
// a password so a mistyped name fails at once. Only advisory: edit() decides under the lock.
bool precheck(const std::string& cmd, const Target& t, const std::string& name, bool want_user) {
    OnDisk disk;
    std::string error;
    if (!read_users_file(t.users_file, disk, error)) return true;  // edit() reports it
    auto parsed = auth::parse_users(disk.text);
    bool present = parsed.file.find(name) != nullptr;
    if (want_user && !present && parsed.errors.empty()) {
        fail(cmd, "no user " + name + " in " + t.users_file.string());
        return false;
    }
    if (!want_user && present) {
        fail(cmd, "user " + name + " exists already in " + t.users_file.string() +
                      " (`signpost users passwd` or `users allow` change it)");
        return false;
    }
    return true;
}

// One read-modify-write of the users file under the edit lock. `change` gets the parsed
// file and its lines, edits the lines and returns false (with a message) to abort.
using Change = std::function<bool(const auth::UsersFile&, std::vector<std::string>&, std::string&)>;

int edit(const std::string& cmd, const Target& t, bool create, const Change& change) {
    EditLock lock(t.users_file);
    if (!lock.error().empty()) return fail(cmd, lock.error());
    OnDisk disk;
    std::string error;
    if (!read_users_file(t.users_file, disk, error)) return fail(cmd, error);
    if (!disk.exists && !create)
        return fail(cmd, "no users file at " + t.users_file.string() + " (`signpost users add` creates it)");
    auth::UsersFile users;
    if (!parse_or_report(t.users_file, disk, users))
        return fail(cmd, t.users_file.string() + " has malformed lines (above); fix them first, nothing was changed");

    std::vector<std::string> lines = split_lines(disk.text);
    if (!disk.exists) lines = split_lines(auth::UsersFile{}.serialize());  // the header comment
    if (!change(users, lines, error)) return fail(cmd, error);

    std::string text = join_lines(lines);
    // Never write what the daemon would refuse to load.
    auto check = auth::parse_users(text);
    if (!check.errors.empty())
        return fail(cmd, "internal error: the edited file does not parse (line " +
                             std::to_string(check.errors.front().line) + ": " + check.errors.front().message + ")");
    if (auto ec = keys::write_file_atomic(t.users_file, text, 0600))
        return fail(cmd, t.users_file.string() + ": " + ec.message() + " (nothing was changed)");
    // Run as root against a file the daemon's user owns: give it back, or the daemon could
    // no longer read it.
    if (disk.exists && ::geteuid() == 0 && (disk.st.st_uid != 0 || disk.st.st_gid != 0) &&
        ::chown(t.users_file.c_str(), disk.st.st_uid, disk.st.st_gid) != 0)
        std::cerr << "warning: " << t.users_file.string() << ": cannot restore its owner: " << std::strerror(errno)
                  << "\n";
    if (disk.exists && (disk.st.st_mode & 077) != 0)
        std::cerr << "note: " << t.users_file.string() << " was readable by group/others (mode "
                  << mode_string(disk.st.st_mode) << "); it is 0600 now\n";
    return 0;
}

int cmd_add(const UsersOptions& o) {
    const std::string cmd = "add";
    if (!valid_name_or_report(cmd, o.name)) return 1;
    std::vector<std::string> allow;
    std::string error;
    if (!parse_allow(o.allow, allow, error)) return fail(cmd, error);
    auto t = locate(o, cmd);
    if (!t || !precheck(cmd, *t, o.name, false)) return 1;
    std::string password;
    bool generated = false;
    if (!new_password(password, generated, error)) return fail(cmd, error);
    std::string hash = auth::hash_password(password);

    int rc = edit(cmd, *t, true, [&](const auth::UsersFile& users, std::vector<std::string>& lines, std::string& why) {
        if (users.find(o.name)) {
            why = "user " + o.name + " exists already in " + t->users_file.string() +
                  " (`signpost users passwd` or `users allow` change it)";
            return false;
        }
        lines.push_back(auth::format_user_line({o.name, hash, allow}));
        return true;
    });
    if (rc != 0) return rc;
    warn_unsigned_domains(*t, allow);
    std::cout << "Added user " << o.name << " to " << t->users_file.string() << "; may send as: " << join(allow)
              << "\n";
    if (generated) std::cout << "Password (shown only this once, store it now): " << password << "\n";
    std::cout << kPickupNote;
    return 0;
}

int cmd_passwd(const UsersOptions& o) {
    const std::string cmd = "passwd";
    if (!valid_name_or_report(cmd, o.name)) return 1;
    auto t = locate(o, cmd);
    if (!t || !precheck(cmd, *t, o.name, true)) return 1;
    std::string password, error;
    bool generated = false;
    if (!new_password(password, generated, error)) return fail(cmd, error);
    std::string hash = auth::hash_password(password);
    int rc = edit(cmd, *t, false, [&](const auth::UsersFile& users, std::vector<std::string>& lines, std::string& why) {
        const auth::User* u = users.find(o.name);
        auto at = find_line(lines, o.name);
        if (!u || !at) {
            why = "no user " + o.name + " in " + t->users_file.string();
            return false;
        }
        lines[*at] = auth::format_user_line({u->name, hash, u->allow});
        return true;
    });
    if (rc != 0) return rc;
    std::cout << "Changed the password of " << o.name << " in " << t->users_file.string() << "\n";
    if (generated) std::cout << "Password (shown only this once, store it now): " << password << "\n";
    std::cout << "Sessions that already logged in keep going; new logins need the new password.\n" << kPickupNote;
    return 0;
}

int cmd_allow(const UsersOptions& o) {
    const std::string cmd = "allow";
    if (!valid_name_or_report(cmd, o.name)) return 1;
    std::vector<std::string> allow;
    std::string error;
    if (!parse_allow(o.allow, allow, error)) return fail(cmd, error);
    auto t = locate(o, cmd);
    if (!t) return 1;
    std::vector<std::string> before;
    int rc = edit(cmd, *t, false, [&](const auth::UsersFile& users, std::vector<std::string>& lines, std::string& why) {
        const auth::User* u = users.find(o.name);
        auto at = find_line(lines, o.name);
        if (!u || !at) {
            why = "no user " + o.name + " in " + t->users_file.string();
            return false;
        }
        before = u->allow;
        lines[*at] = auth::format_user_line({u->name, u->password_hash, allow});
        return true;
    });
    if (rc != 0) return rc;
    warn_unsigned_domains(*t, allow);
    std::cout << "User " << o.name << " may now send as: " << join(allow) << " (was: "
              << (before.empty() ? "nothing" : join(before)) << ")\n"
              << kPickupNote;
    return 0;
}

int cmd_remove(const UsersOptions& o) {
    const std::string cmd = "remove";
    if (!valid_name_or_report(cmd, o.name)) return 1;
    auto t = locate(o, cmd);
    if (!t) return 1;
    int rc = edit(cmd, *t, false, [&](const auth::UsersFile& users, std::vector<std::string>& lines, std::string& why) {
        auto at = find_line(lines, o.name);
        if (!users.find(o.name) || !at) {
            why = "no user " + o.name + " in " + t->users_file.string();
            return false;
        }
        lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(*at));
        return true;
    });
    if (rc != 0) return rc;
    std::cout << "Removed user " << o.name << " from " << t->users_file.string() << "\n"
              << "Sessions that already logged in keep going; new logins are refused.\n"
              << kPickupNote;
    return 0;
}

int cmd_list(const UsersOptions& o) {
    const std::string cmd = "list";
    auto t = locate(o, cmd);
    if (!t) return 1;
    OnDisk disk;
    std::string error;
    if (!read_users_file(t->users_file, disk, error)) return fail(cmd, error);
    if (!disk.exists) return fail(cmd, "no users file at " + t->users_file.string() + " (`signpost users add` creates it)");
    if ((disk.st.st_mode & 077) != 0)
        std::cerr << "warning: " << t->users_file.string() << " is readable by group/others (mode "
                  << mode_string(disk.st.st_mode) << "): Signpost refuses it; run chmod 600 "
                  << t->users_file.string() << "\n";
    auth::UsersFile users;
    bool clean = parse_or_report(t->users_file, disk, users);
    if (users.users.empty()) {
        std::cout << "(no users in " << t->users_file.string() << ")\n";
    } else {
        std::size_t width = 4;
        for (const auto& u : users.users) width = std::max(width, u.name.size());
        std::cout << std::left << std::setw(static_cast<int>(width + 2)) << "NAME" << "ALLOWED SENDERS\n";
        for (const auto& u : users.users)
            std::cout << std::setw(static_cast<int>(width + 2)) << u.name
                      << (u.allow.empty() ? "(none: may not send)" : join(u.allow)) << "\n";
    }
    if (!clean) return fail(cmd, t->users_file.string() + " has malformed lines (above); Signpost refuses the file");
    return 0;
}

int cmd_check(const UsersOptions& o) {
    const std::string cmd = "check";
    if (!valid_name_or_report(cmd, o.name)) return 1;
    auto t = locate(o, cmd);
    if (!t) return 1;
    // The daemon's own code path: the same file checks, the same verification.
    auth::Authenticator authenticator(t->users_file, std::chrono::seconds{0});
    std::string error;
    if (!authenticator.reload(error)) return fail(cmd, error);
    if (!authenticator.users()->find(o.name)) return fail(cmd, "no user " + o.name + " in " + t->users_file.string());
    std::string password;
    bool ok = ::isatty(STDIN_FILENO) == 1 ? ask_password(o.name, password, error)
                                          : read_password_line(password, error);
    if (!ok) return fail(cmd, error);
    if (authenticator.verify(o.name, password) != auth::AuthResult::ok)
        return fail(cmd, "the password does not match user " + o.name);
    std::cout << "The password matches user " << o.name << ".\n";
    return 0;
}

}  // namespace

void add_users_commands(CLI::App& app, int& exit_code) {
    auto* users = app.add_subcommand("users", "Users who may submit mail: add, list, passwd, allow, remove, check");
    users->require_subcommand(1);
    auto o = std::make_shared<UsersOptions>();
    auto common = [&](CLI::App* c) {
        c->add_option("-c,--config", o->config_path, "Configuration file")->capture_default_str();
    };
    auto name = [&](CLI::App* c) { c->add_option("name", o->name, "User name")->required(); };
    const char* allow_help = "Senders the user may use, comma-separated: domains (example.com) and addresses "
                             "(alice@example.org)";

    auto* add = users->add_subcommand(
        "add", "Add a user; the password is read from stdin, or generated and printed once on a terminal");
    name(add);
    add->add_option("--allow", o->allow, allow_help)->required();
    common(add);
    add->callback([o, &exit_code] { exit_code = cmd_add(*o); });

    auto* passwd = users->add_subcommand(
        "passwd", "Set a user's password: from stdin, or generated and printed once on a terminal");
    name(passwd);
    common(passwd);
    passwd->callback([o, &exit_code] { exit_code = cmd_passwd(*o); });

    auto* allow = users->add_subcommand("allow", "Replace the senders a user may use");
    name(allow);
    allow->add_option("--allow", o->allow, allow_help)->required();
    common(allow);
    allow->callback([o, &exit_code] { exit_code = cmd_allow(*o); });

    auto* remove = users->add_subcommand("remove", "Remove a user");
    name(remove);
    common(remove);
    remove->callback([o, &exit_code] { exit_code = cmd_remove(*o); });

    auto* list = users->add_subcommand("list", "List users and the senders they may use (never passwords)");
    common(list);
    list->callback([o, &exit_code] { exit_code = cmd_list(*o); });

    auto* check = users->add_subcommand(
        "check", "Check a password (first line of stdin, or asked for on a terminal): exit 0 if it is the user's");
    name(check);
    common(check);
    check->callback([o, &exit_code] { exit_code = cmd_check(*o); });
}

}  // namespace signpost::app
