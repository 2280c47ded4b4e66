// relay/auth/authenticator.hpp — checks a user name and password against the users file.
//
// What it does: holds the current users file as an immutable snapshot
// (`std::shared_ptr<const UsersFile>`, swapped whole on reload, STYLE.md habit 5) and
// answers "is this the password of that user?" for SASL PLAIN/LOGIN (RFC 4616, RFC 4954).
// The SASL exchange itself (base64, the PLAIN NUL-separated message, the LOGIN prompts)
// is not here; the submission session decodes it and calls verify().
//
// Cost and the cache: a check is one argon2id verification, ~20 ms of CPU (users.hpp), so
// verify() BLOCKS and must be called on the worker pool, never on an I/O thread. A NAS
// that opens a connection per message would pay that for every message, so successful
// checks are remembered for `cache_ttl` (config [auth] cache_ttl; 0 turns the cache off).
// The cache never holds a password: its key is HMAC-SHA-256, under a random 32-byte key
// made when the Authenticator is built (never stored), of the length-prefixed user name,
// password and the user's stored hash. Length prefixes keep the fields from running into
// each other (a SASL LOGIN password may contain NUL); the stored hash in the key means a
// password change misses the cache by construction. Entries expire `cache_ttl` after the
// check that made them (a hit does not extend them); the cache holds at most
// `max_cache_entries`, the oldest going first. Failed checks are never cached: guessing
// stays expensive, and FailureTracker (failures.hpp) slows and locks out the guesser.
//
// Reload: reload() re-reads the file; reload_if_changed() does so only when stat() says
// the file changed (device, inode, size, mtime, ctime, mode), for the daemon to call
// periodically so `signpost users ...` takes effect without a restart. A file that is
// readable by group/others is refused, as config/ refuses it at start (DESIGN.md security
// contract); so is a malformed one. On any error the previous snapshot stays in use and
// the error names the file (and line). Cache entries of a user who was removed, or whose
// hash or allow list changed, are dropped on reload.
//
// Timing: an unknown user costs one argon2id verification against a dummy hash, like a
// known user with a wrong password, so response times do not reveal which users exist.
// A cache hit is fast, but it requires the right password already.
//
// Untrusted input: `user` and `password` in verify() and may_send_as() (from the client;
// never logged here), and the users file text (operator-written; see users.hpp).
// Threading: every member function is thread-safe. verify() holds no lock while it runs
// argon2id; reloads are serialized among themselves and never block verify() on file I/O.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "relay/auth/clock.hpp"
#include "relay/auth/users.hpp"

namespace signpost::auth {

enum class AuthResult {
    ok,               // the user exists and the password is theirs
    bad_credentials,  // unknown user or wrong password (deliberately not told apart)
};

enum class ReloadOutcome {
    unchanged,  // the file is as last seen (if that attempt failed, it was reported then)
    reloaded,   // the file changed and the new snapshot is in use
    failed,     // the file changed but could not be used; `error` says why, old snapshot kept
};

struct AuthStats {
    std::uint64_t cache_hits = 0;    // verify() answered from the cache
    std::uint64_t cache_misses = 0;  // verify() ran argon2id (unknown users included)
    std::size_t cache_entries = 0;
};

class Authenticator {
public:
    static constexpr std::size_t kDefaultMaxCacheEntries = 10'000;
    // A users file larger than this is refused (about 50,000 users).
    static constexpr std::uintmax_t kMaxFileSize = 16u << 20;

    // Reads nothing yet: until the first successful reload() the snapshot is empty and
    // every verify() fails. The daemon calls reload() once at start and refuses to start
    // when it fails.
    explicit Authenticator(std::filesystem::path users_file, std::chrono::seconds cache_ttl,
                           SteadyClock clock = default_clock(),
                           std::size_t max_cache_entries = kDefaultMaxCacheEntries);

    Authenticator(const Authenticator&) = delete;
    Authenticator& operator=(const Authenticator&) = delete;

    // Re-reads the users file now. On failure returns false, sets `error` (naming the file,
    // and the line for a parse error) and keeps the previous snapshot.
    bool reload(std::string& error);

    // reload() when the file's stat() differs from what the last reload saw (or tried to
    // read). A change that fails is reported once; the next report comes with the next
    // change. Cheap (one stat) when nothing changed.
    ReloadOutcome reload_if_changed(std::string& error);

    // BLOCKING (argon2id, ~20 ms) unless answered from the cache. See the file comment.
    AuthResult verify(std::string_view user, std::string_view password);

    // verify() when the cache can answer it, without blocking (one HMAC): true, counted as
    // a cache hit; false when verify() would have to run argon2id (nothing is counted).
    // Lets a session answer a returning client on its own thread instead of the pool's.
    bool verify_cached(std::string_view user, std::string_view password);

    // Whether this exact user name and password were verified within cache_ttl (a cache
    // probe: one HMAC, no argon2id). Lets a client that logged in recently keep working
    // while its user name is locked out by guessers elsewhere.
    bool remembered(std::string_view user, std::string_view password) const;

    // The current snapshot; a session keeps the one it authenticated against.
    std::shared_ptr<const UsersFile> users() const;

    // Whether `user` (in the current snapshot) may send as `address`; false for unknown users.
    bool may_send_as(std::string_view user, std::string_view address) const;

    const std::filesystem::path& users_file() const { return path_; }
    AuthStats stats() const;

private:
    using Digest = std::array<std::uint8_t, 32>;
    struct DigestHash {
        std::size_t operator()(const Digest& d) const noexcept;
    };
    struct CacheEntry {
        std::string user;
        std::chrono::steady_clock::time_point expires;
        std::list<Digest>::iterator position;  // in order_
    };
    // What stat() said about the file; `err` is the errno when stat/open failed.
    struct FileId {
        int err = 0;
        std::uintmax_t dev = 0, ino = 0, size = 0, mode = 0;
        std::int64_t mtime_ns = 0, ctime_ns = 0;
        bool operator==(const FileId&) const = default;
    };

    static FileId stat_file(const std::filesystem::path& path);
    bool reload_locked(std::string& error);  // caller holds reload_mutex_
    Digest cache_key(std::string_view user, std::string_view password, std::string_view hash) const;
    const std::string& dummy_hash();
    // Callers hold mutex_.
    void erase_entry(std::unordered_map<Digest, CacheEntry, DigestHash>::iterator it);
    void insert_entry(const Digest& key, const std::string& user);

    const std::filesystem::path path_;
    const std::chrono::seconds ttl_;
    const SteadyClock clock_;
    const std::size_t max_entries_;
    std::array<std::uint8_t, 32> hmac_key_{};

    std::once_flag dummy_once_;
    std::string dummy_hash_;

    std::mutex reload_mutex_;  // serializes reload(); taken before mutex_, never inside it
    std::optional<FileId> last_seen_;  // guarded by reload_mutex_

    mutable std::mutex mutex_;  // guards users_, cache_ and order_
    std::shared_ptr<const UsersFile> users_;
    std::unordered_map<Digest, CacheEntry, DigestHash> cache_;
    std::list<Digest> order_;  // oldest first; with one TTL also soonest to expire first

    std::atomic<std::uint64_t> hits_{0};
    std::atomic<std::uint64_t> misses_{0};
};

}  // namespace signpost::auth
