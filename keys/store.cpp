// keys/store.cpp — the key store on disk (see store.hpp).
#include "keys/store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys/keygen.hpp"

namespace signpost::keys {
namespace fs = std::filesystem;
namespace {

constexpr const char* kStateFile = "keys.state";

// flock() on <domain>/.lock for the lifetime of the object.
class DomainLock {
public:
    explicit DomainLock(const fs::path& dir) {
        fd_ = ::open((dir / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
        if (fd_ < 0) error_ = std::strerror(errno);
    }
    ~DomainLock() {
        if (fd_ >= 0) ::close(fd_);  // closing releases the lock
    }
    DomainLock(const DomainLock&) = delete;
    DomainLock& operator=(const DomainLock&) = delete;
    bool ok() const { return fd_ >= 0; }
    const std::string& error() const { return error_; }

private:
    int fd_ = -1;
    std::string error_;
};

bool read_text(const fs::path& path, std::string& out, std::string& why) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        why = std::strerror(errno);
        return false;
    }
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) {
        why = "read error";
        return false;
    }
    return true;
}

bool ensure_dir(const fs::path& dir, StoreIssue& issue) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        issue = {dir, "cannot create directory: " + ec.message()};
        return false;
    }
    fs::permissions(dir, fs::perms::owner_all, ec);  // key directories are private
    return true;
}

std::size_t rsa_bits(config::DkimAlgorithm a) {
    switch (a) {
        case config::DkimAlgorithm::rsa2048: return 2048;
        case config::DkimAlgorithm::rsa3072: return 3072;
        case config::DkimAlgorithm::rsa4096: return 4096;
        case config::DkimAlgorithm::ed25519: return 0;
    }
    return 0;
}

}  // namespace

std::string record_name(std::string_view selector, std::string_view domain) {
    return std::string(selector) + "._domainkey." + std::string(domain);
}

DnsStatus check_published(const signer::PrivateKey& key, std::string_view selector,
                          std::string_view domain, const TxtLookup& lookup) {
    TxtLookupResult r = lookup(record_name(selector, domain));
    if (r.status == TxtLookupResult::Status::error) return DnsStatus::error;
    if (r.status == TxtLookupResult::Status::not_found || r.records.empty()) return DnsStatus::missing;
    for (const auto& text : r.records) {
        auto rec = signer::parse_key_record(text);
        if (rec && signer::record_matches(*rec, key)) return DnsStatus::published;
    }
    return DnsStatus::mismatch;
}

std::string zone_file_record(std::string_view selector, std::string_view domain,
                             std::string_view value) {
    std::string out = record_name(selector, domain) + ". IN TXT (";
    for (std::size_t i = 0; i < value.size(); i += 255) {
        out += " \"";
        out += value.substr(i, 255);  // DKIM record values hold no quote or backslash
        out += '"';
    }
    out += " )";
    return out;
}

config::DkimAlgorithm algorithm_of(const signer::PrivateKey& key) {
    if (key.type() == signer::KeyType::ed25519) return config::DkimAlgorithm::ed25519;
    if (key.bits() >= 4096) return config::DkimAlgorithm::rsa4096;
    if (key.bits() >= 3072) return config::DkimAlgorithm::rsa3072;
    return config::DkimAlgorithm::rsa2048;
}

signer::SignParams sign_params(const config::DomainConfig& domain) {
    auto canon = [](config::Canonicalization c) {
        return c == config::Canonicalization::simple ? signer::Canonicalization::simple
                                                     : signer::Canonicalization::relaxed;
    };
    signer::SignParams p;
    p.d = domain.name;
    p.header_canon = canon(domain.header_canon);
    p.body_canon = canon(domain.body_canon);
    p.headers = domain.headers;
    return p;
}

KeyStore::KeyStore(fs::path dir) : dir_(std::move(dir)) {}

fs::path KeyStore::domain_dir(std::string_view domain) const { return dir_ / std::string(domain); }

fs::path KeyStore::key_file(std::string_view domain, std::string_view selector) const {
    return domain_dir(domain) / (std::string(selector) + ".pem");
}

fs::path KeyStore::state_file(std::string_view domain) const { return domain_dir(domain) / kStateFile; }

bool KeyStore::read(std::string_view domain, DomainView& out, StoreIssue& issue) const {
    out = DomainView{};
    out.state.domain = std::string(domain);
    fs::path state_path = state_file(domain);
    std::error_code ec;
    if (fs::exists(state_path, ec)) {
        std::string text, why;
        if (!read_text(state_path, text, why)) {
            issue = {state_path, "cannot read: " + why};
            return false;
        }
        ParsedState parsed = parse_state(text, std::string(domain));
        if (parsed.error) {
            issue = {state_path, (parsed.error->line ? "line " + std::to_string(parsed.error->line) + ": " : "") +
                                     parsed.error->message + "; the keys it held stay in use"};
            return false;
        }
        out.state = std::move(parsed.state);
    } else if (ec) {
        issue = {state_path, ec.message()};
        return false;
    }
    if (fs::is_directory(domain_dir(domain), ec)) {
        for (const auto& entry : fs::directory_iterator(domain_dir(domain), ec)) {
            const auto& p = entry.path();
            if (p.extension() != ".pem") continue;
            std::string selector = p.stem().string();
            if (!out.state.find(selector)) out.unreferenced.push_back(selector);
        }
        std::sort(out.unreferenced.begin(), out.unreferenced.end());
    }
    return true;
}

std::optional<signer::PrivateKey> KeyStore::load_key(std::string_view domain, const KeyEntry& entry,
                                                     StoreIssue& issue) const {
    fs::path path = key_file(domain, entry.selector);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        issue = {path, std::string("cannot open key file: ") + std::strerror(errno)};
        return std::nullopt;
    }
    if ((st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        issue = {path, std::string("private key is readable by group/others (mode ") + mode +
                           "); run chmod 600 " + path.string()};
        return std::nullopt;
    }
    if (st.st_uid != ::geteuid() && st.st_uid != 0) {
        issue = {path, "private key is owned by uid " + std::to_string(st.st_uid) +
                           ", not by the user Signpost runs as (uid " + std::to_string(::geteuid()) +
                           ") or root; another user could replace it"};
        return std::nullopt;
    }
    std::string text, why;
    if (!read_text(path, text, why)) {
        issue = {path, "cannot read key file: " + why};
        return std::nullopt;
    }
    auto key = signer::load_private_key_pem(text);
    if (!key) {
        issue = {path, "not a usable private key: " + key.error().message()};
        return std::nullopt;
    }
    bool want_ed = entry.algorithm == config::DkimAlgorithm::ed25519;
    if (want_ed != (key->type() == signer::KeyType::ed25519) ||
        (!want_ed && key->bits() != rsa_bits(entry.algorithm))) {
        issue = {path, "holds a " + std::string(signer::to_string(key->type())) + " key of " +
                           std::to_string(key->bits()) + " bits, but the state file says " +
                           std::string(config::to_string(entry.algorithm))};
        return std::nullopt;
    }
    return std::move(*key);
}

bool KeyStore::apply(std::string_view domain, const DomainKeys& from, const Plan& plan,
                     StoreIssue& issue) {
    if (!plan.changed) return true;
    fs::path ddir = domain_dir(domain);
    if (!ensure_dir(ddir, issue)) return false;
    DomainLock lock(ddir);
    if (!lock.ok()) {
        issue = {ddir / ".lock", "cannot lock: " + lock.error()};
        return false;
    }
    DomainView now_on_disk;
    if (!read(domain, now_on_disk, issue)) return false;
    if (!(now_on_disk.state == from)) {
        issue = {state_file(domain), "changed by another process while this step was planned; retrying later"};
        return false;
    }
    // 1. New key files. A crash after this leaves unreferenced files, never a missing key.
    for (const auto& selector : plan.generate) {
        const KeyEntry* e = plan.next.find(selector);
        std::string pem = generate_private_key_pem(e->algorithm);
        if (auto ec = write_file_atomic(key_file(domain, selector), pem, 0600)) {
            issue = {key_file(domain, selector), "cannot write key file: " + ec.message()};
            return false;
        }
    }
    if (after_step) after_step(1);
    // 2. The state, in one atomic replace.
    if (auto ec = write_file_atomic(state_file(domain), serialize_state(plan.next), 0600)) {
        issue = {state_file(domain), "cannot write state file: " + ec.message()};
        return false;
    }
    if (after_step) after_step(2);
    // 3. Retired private keys are no longer needed by anyone.
    for (const auto& selector : plan.delete_keys) {
        std::error_code ec;
        fs::remove(key_file(domain, selector), ec);
    }
    return true;
}

bool KeyStore::rotate(const config::DomainConfig& domain, Time now, const TxtLookup& lookup,
                      std::vector<Event>& events, StoreIssue& issue) {
    DomainView view;
    if (!read(domain.name, view, issue)) return false;
    // Retired keys whose file survived a crash between steps 2 and 3 of apply().
    for (const auto& k : view.state.keys) {
        if (k.state != KeyState::retired) continue;
        std::error_code ec;
        fs::remove(key_file(domain.name, k.selector), ec);
    }
    StoreIssue key_issue;
    bool key_failed = false;
    auto dns = [&](const KeyEntry& entry) {
        auto key = load_key(domain.name, entry, key_issue);
        if (!key) {
            key_failed = true;
            return DnsStatus::error;
        }
        return check_published(*key, entry.selector, domain.name, lookup);
    };
    Plan plan = plan_rotation(view.state, RotationPolicy::from(domain), now, dns, view.unreferenced);
    if (key_failed) {
        issue = key_issue;
        return false;
    }
    if (!apply(domain.name, view.state, plan, issue)) return false;
    events.insert(events.end(), plan.events.begin(), plan.events.end());
    return true;
}

bool KeyStore::import_key(std::string_view domain, std::string_view selector, std::string_view key_text,
                          config::DkimAlgorithm algorithm, Time now, StoreIssue& issue) {
    fs::path ddir = domain_dir(domain);
    auto key = key_text.find("-----BEGIN") != std::string_view::npos ? signer::load_private_key_pem(key_text)
                                                                      : signer::load_ed25519_seed(key_text);
    if (!key) {
        issue = {key_file(domain, selector), "not a usable private key: " + key.error().message()};
        return false;
    }
    if (algorithm_of(*key) != algorithm) {
        issue = {key_file(domain, selector), "the key is " + std::string(config::to_string(algorithm_of(*key))) +
                                                 ", not " + std::string(config::to_string(algorithm))};
        return false;
    }
    if (!signer::is_valid_selector(selector)) {
        issue = {key_file(domain, selector), "invalid selector \"" + std::string(selector) + "\""};
        return false;
    }
    DomainView view;
    if (!read(domain, view, issue)) return false;
    if (view.state.find(selector) ||
        std::find(view.unreferenced.begin(), view.unreferenced.end(), selector) != view.unreferenced.end()) {
        issue = {key_file(domain, selector), "selector " + std::string(selector) + " is already used by another key"};
        return false;
    }
    if (view.state.pending(algorithm)) {
        issue = {state_file(domain), "a pending " + std::string(config::to_string(algorithm)) +
                                         " key exists already; activate or wait for it first"};
        return false;
    }
    if (!ensure_dir(ddir, issue)) return false;
    auto pem = key->to_pem();
    if (!pem) {
        issue = {key_file(domain, selector), "cannot encode key: " + pem.error().message()};
        return false;
    }
    if (auto ec = write_file_atomic(key_file(domain, selector), *pem, 0600)) {
        issue = {key_file(domain, selector), "cannot write key file: " + ec.message()};
        return false;
    }
    Plan plan;
    plan.next = view.state;
    KeyEntry e;
    e.selector = std::string(selector);
    e.algorithm = algorithm;
    e.state = KeyState::pending;
    e.created = now;
    e.asap = true;
    plan.next.keys.push_back(std::move(e));
    plan.changed = true;
    return apply(domain, view.state, plan, issue);
}

bool KeyStore::update(std::string_view domain,
                      const std::function<Plan(const DomainView&, StoreIssue&)>& make_plan,
                      std::vector<Event>& events, StoreIssue& issue) {
    DomainView view;
    if (!read(domain, view, issue)) return false;
    issue = {};
    Plan plan = make_plan(view, issue);
    if (!issue.message.empty()) return false;
    if (!apply(domain, view.state, plan, issue)) return false;
    events.insert(events.end(), plan.events.begin(), plan.events.end());
    return true;
}

std::vector<StoreIssue> KeyStore::reload(const std::vector<config::DomainConfig>& domains) {
    std::vector<StoreIssue> issues;
    std::map<std::string, std::shared_ptr<const SigningSet>, std::less<>> next;
    for (const auto& d : domains) {
        DomainView view;
        StoreIssue issue;
        bool ok = read(d.name, view, issue);
        auto set = std::make_shared<SigningSet>();
        set->domain = d.name;
        if (ok) {
            for (const auto& k : view.state.keys) {
                if (k.state != KeyState::active) continue;
                if (std::find(d.algorithms.begin(), d.algorithms.end(), k.algorithm) == d.algorithms.end())
                    continue;
                auto key = load_key(d.name, k, issue);
                if (!key) {
                    ok = false;
                    break;
                }
                set->keys.push_back({k.selector, std::move(*key)});
            }
        }
        if (!ok) {
            issues.push_back(issue);
            std::lock_guard lock(mutex_);
            if (auto it = active_.find(d.name); it != active_.end()) next.emplace(d.name, it->second);
            continue;
        }
        if (!set->keys.empty()) next.emplace(d.name, std::move(set));
    }
    std::lock_guard lock(mutex_);
    active_ = std::move(next);
    return issues;
}

std::string KeyStore::no_active_key_reason(std::string_view domain) const {
    DomainView view;
    StoreIssue issue;
    std::string names;
    if (read(domain, view, issue)) {
        for (const auto& k : view.state.keys) {
            if (k.state != KeyState::pending) continue;
            names += names.empty() ? "" : " and ";
            names += record_name(k.selector, domain);
        }
    }
    if (names.empty())
        return "No DKIM key for " + std::string(domain) + " is active yet; try again later";
    return "No DKIM key for " + std::string(domain) + " is active yet: publish the TXT record " + names +
           " (signpost keys dns); try again later";
}

std::shared_ptr<const SigningSet> KeyStore::signing_keys(std::string_view domain) const {
    std::lock_guard lock(mutex_);
    auto it = active_.find(domain);
    return it == active_.end() ? nullptr : it->second;
}

}  // namespace signpost::keys
