// relay/auth/authenticator.cpp — users file snapshot, verification cache (see authenticator.hpp).
#include "relay/auth/authenticator.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_set>
#include <vector>

#include <botan/mac.h>
#include <botan/system_rng.h>

namespace signpost::auth {
namespace {

std::int64_t nanoseconds(const struct timespec& ts) {
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string mode_string(unsigned mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
    return buf;
}

// Closes a file descriptor on every return path.
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

void add_field(Botan::MessageAuthenticationCode& mac, std::string_view field) {
    std::uint64_t n = field.size();
    std::uint8_t len[8];
    for (int i = 7; i >= 0; --i, n >>= 8) len[i] = static_cast<std::uint8_t>(n & 0xff);
    mac.update(len, sizeof len);
    mac.update(reinterpret_cast<const std::uint8_t*>(field.data()), field.size());
}

}  // namespace

std::size_t Authenticator::DigestHash::operator()(const Digest& d) const noexcept {
    // The digest is a keyed MAC: uniformly distributed and unpredictable without the key,
    // so any 8 of its bytes are a good hash and nobody can aim collisions at the table.
    std::size_t h = 0;
    std::memcpy(&h, d.data(), sizeof h);
    return h;
}

Authenticator::Authenticator(std::filesystem::path users_file, std::chrono::seconds cache_ttl,
                             SteadyClock clock, std::size_t max_cache_entries)
    : path_(std::move(users_file)),
      ttl_(cache_ttl),
      clock_(clock ? std::move(clock) : default_clock()),
      max_entries_(max_cache_entries),
      users_(std::make_shared<const UsersFile>()) {
    Botan::system_rng().randomize(hmac_key_.data(), hmac_key_.size());
}

Authenticator::FileId Authenticator::stat_file(const std::filesystem::path& path) {
    FileId id;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        id.err = errno;
        return id;
    }
    id.dev = st.st_dev;
    id.ino = st.st_ino;
    id.size = static_cast<std::uintmax_t>(st.st_size);
    id.mode = st.st_mode;
    id.mtime_ns = nanoseconds(st.st_mtim);
    id.ctime_ns = nanoseconds(st.st_ctim);
    return id;
}

bool Authenticator::reload(std::string& error) {
    std::lock_guard reload_lock(reload_mutex_);
    return reload_locked(error);
}

ReloadOutcome Authenticator::reload_if_changed(std::string& error) {
    std::lock_guard reload_lock(reload_mutex_);
    if (last_seen_ && *last_seen_ == stat_file(path_)) return ReloadOutcome::unchanged;
    return reload_locked(error) ? ReloadOutcome::reloaded : ReloadOutcome::failed;
}

bool Authenticator::reload_locked(std::string& error) {
    const std::string p = path_.string();
    // Judge the file we actually read: fstat the open descriptor, not the path. Taking
    // the identity before reading means a write racing with us shows up as a change at
    // the next reload_if_changed(), never the reverse.
    Fd file;
    file.fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (file.fd < 0) {
        int err = errno;
        last_seen_ = FileId{err};
        error = err == ENOENT ? p + ": file not found" : p + ": " + std::strerror(err);
        return false;
    }
    struct stat st {};
    if (::fstat(file.fd, &st) != 0) {
        int err = errno;
        last_seen_ = FileId{err};
        error = p + ": " + std::strerror(err);
        return false;
    }
    FileId id;
    id.dev = st.st_dev;
    id.ino = st.st_ino;
    id.size = static_cast<std::uintmax_t>(st.st_size);
    id.mode = st.st_mode;
    id.mtime_ns = nanoseconds(st.st_mtim);
    id.ctime_ns = nanoseconds(st.st_ctim);
    last_seen_ = id;

    if (!S_ISREG(st.st_mode)) {
        error = p + " is not a regular file";
        return false;
    }
    // The rule config/files.cpp applies at start (DESIGN.md: secrets are not readable by others).
    if ((st.st_mode & 077) != 0) {
        error = p + " is readable by group/others (mode " + mode_string(st.st_mode) + "); run chmod 600 " + p;
        return false;
    }
    if (static_cast<std::uintmax_t>(st.st_size) > kMaxFileSize) {
        error = p + " is larger than " + std::to_string(kMaxFileSize >> 20) + " MiB";
        return false;
    }

    std::string text;
    text.reserve(static_cast<std::size_t>(st.st_size));
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(file.fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            error = p + ": " + std::strerror(errno);
            return false;
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > kMaxFileSize) {  // grew while we read it
            error = p + " is larger than " + std::to_string(kMaxFileSize >> 20) + " MiB";
            return false;
        }
    }

    ParsedUsers parsed = parse_users(text);
    if (!parsed.errors.empty()) {
        const UsersFileError& first = parsed.errors.front();
        error = p + ":" + std::to_string(first.line) + ": " + first.message;
        if (parsed.errors.size() > 1)
            error += " (and " + std::to_string(parsed.errors.size() - 1) +
                     " more; `signpost users list` shows them all)";
        return false;
    }
    auto fresh = std::make_shared<const UsersFile>(std::move(parsed.file));

    std::lock_guard lock(mutex_);
    // Users whose cache entries no longer hold: removed, or hash or allow list changed.
    // (A changed hash already misses by construction; dropping frees the memory. An allow
    // change does not touch the password, but re-checking after any change to a user is
    // the behaviour an operator expects.)
    std::unordered_map<std::string_view, const User*> now_by_name;
    now_by_name.reserve(fresh->users.size());
    for (const User& u : fresh->users) now_by_name.emplace(u.name, &u);
    std::unordered_set<std::string_view> stale;
    for (const User& old : users_->users) {
        auto it = now_by_name.find(old.name);
        if (it == now_by_name.end() || it->second->password_hash != old.password_hash ||
            it->second->allow != old.allow)
            stale.insert(old.name);
    }
    if (!stale.empty()) {
        for (auto it = cache_.begin(); it != cache_.end();) {
            auto next = std::next(it);
            if (stale.count(it->second.user)) erase_entry(it);
            it = next;
        }
    }
    users_ = std::move(fresh);  // `stale` points into the old snapshot: it dies after this
    return true;
}

Authenticator::Digest Authenticator::cache_key(std::string_view user, std::string_view password,
                                               std::string_view hash) const {
    auto mac = Botan::MessageAuthenticationCode::create_or_throw("HMAC(SHA-256)");
    mac->set_key(hmac_key_.data(), hmac_key_.size());
    add_field(*mac, user);
    add_field(*mac, password);
    add_field(*mac, hash);
    Digest out;
    mac->final(out.data());
    return out;
}

const std::string& Authenticator::dummy_hash() {
    // Made on first use with the parameters hash_password() uses for real users, so an
    // unknown user costs what a known one does. Its password is random and discarded.
    std::call_once(dummy_once_, [this] { dummy_hash_ = hash_password(generate_password()); });
    return dummy_hash_;
}

void Authenticator::erase_entry(std::unordered_map<Digest, CacheEntry, DigestHash>::iterator it) {
    order_.erase(it->second.position);
    cache_.erase(it);
}

void Authenticator::insert_entry(const Digest& key, const std::string& user) {
    const auto now = clock_();
    // Entries share one TTL, so the oldest is also the first to expire.
    while (!order_.empty()) {
        auto oldest = cache_.find(order_.front());
        if (oldest->second.expires > now) break;
        erase_entry(oldest);
    }
    if (auto it = cache_.find(key); it != cache_.end()) erase_entry(it);
    while (!order_.empty() && cache_.size() >= max_entries_) erase_entry(cache_.find(order_.front()));
    if (max_entries_ == 0) return;
    order_.push_back(key);
    cache_.emplace(key, CacheEntry{user, now + ttl_, std::prev(order_.end())});
}

AuthResult Authenticator::verify(std::string_view user, std::string_view password) {
    std::shared_ptr<const UsersFile> snapshot = users();
    const User* u = snapshot->find(user);
    if (!u) {
        misses_.fetch_add(1, std::memory_order_relaxed);
        (void)verify_password(password, dummy_hash());
        return AuthResult::bad_credentials;
    }
    const bool caching = ttl_.count() > 0 && max_entries_ > 0;
    Digest key{};
    if (caching) {
        key = cache_key(u->name, password, u->password_hash);
        std::lock_guard lock(mutex_);
        if (auto it = cache_.find(key); it != cache_.end()) {
            if (clock_() < it->second.expires) {
                hits_.fetch_add(1, std::memory_order_relaxed);
                return AuthResult::ok;
            }
            erase_entry(it);
        }
    }
    misses_.fetch_add(1, std::memory_order_relaxed);
    if (!verify_password(password, u->password_hash)) return AuthResult::bad_credentials;
    if (caching) {
        std::lock_guard lock(mutex_);
        // A reload while argon2id ran may have changed this user; cache only what was
        // checked against the snapshot still in use.
        if (users_ == snapshot) insert_entry(key, u->name);
    }
    return AuthResult::ok;
}

bool Authenticator::verify_cached(std::string_view user, std::string_view password) {
    if (!remembered(user, password)) return false;
    hits_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

bool Authenticator::remembered(std::string_view user, std::string_view password) const {
    if (ttl_.count() <= 0 || max_entries_ == 0) return false;
    std::shared_ptr<const UsersFile> snapshot = users();
    const User* u = snapshot->find(user);
    if (!u) return false;
    const Digest key = cache_key(u->name, password, u->password_hash);
    std::lock_guard lock(mutex_);
    auto it = cache_.find(key);
    return it != cache_.end() && clock_() < it->second.expires;
}

std::shared_ptr<const UsersFile> Authenticator::users() const {
    std::lock_guard lock(mutex_);
    return users_;
}

bool Authenticator::may_send_as(std::string_view user, std::string_view address) const {
    auto snapshot = users();
    const User* u = snapshot->find(user);
    return u && auth::may_send_as(*u, address);
}

AuthStats Authenticator::stats() const {
    AuthStats s;
    s.cache_hits = hits_.load(std::memory_order_relaxed);
    s.cache_misses = misses_.load(std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    s.cache_entries = cache_.size();
    return s;
}

}  // namespace signpost::auth
