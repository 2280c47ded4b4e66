// keys/state.hpp — the DKIM key lifecycle of one domain, as a value, and its file format.
//
// Each key moves pending -> active -> retiring -> retired (DESIGN.md, "Key rotation"):
//   pending   generated; its TXT record must be published before it may sign
//   active    signs new mail (one per algorithm and domain)
//   retiring  no longer signs; its record stays published for `retire_after`, so that
//             mail signed with it and still queued or in transit keeps verifying
//   retired   its record may be removed; the private key file is deleted
//
// The state of a domain lives in `<keys.dir>/<domain>/keys.state`, next to one private key
// file per selector, `<selector>.pem` (PKCS#8, mode 0600). The state file is replaced as a
// whole (temp, fsync, rename, fsync dir), so every transition is atomic on disk. Format:
//
//     signpost-keys 1
//     key sp2026-11a ed25519 active created=1763856000 activated=1763856000
//     key sp2026-11b rsa2048 pending created=1763900000 asap
//     end
//
// Times are Unix seconds. `asap` marks a pending key that activates as soon as DNS shows
// its record (a domain's first key, a manual rotation) instead of at the scheduled time.
// The `end` line detects a truncated file. Unknown or damaged lines make the whole file
// invalid: the caller keeps the state it had and reports the file and line.
//
// Untrusted input: the state file (written by Signpost, but may be damaged or hand-edited).
// Threading: plain values; parse/serialize are reentrant.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace signpost::keys {

using Clock = std::chrono::system_clock;
using Time = std::chrono::sys_seconds;

enum class KeyState { pending, active, retiring, retired };

std::string_view to_string(KeyState s);
std::optional<KeyState> parse_key_state(std::string_view s);
std::optional<config::DkimAlgorithm> parse_algorithm(std::string_view s);

struct KeyEntry {
    std::string selector;
    config::DkimAlgorithm algorithm = config::DkimAlgorithm::ed25519;
    KeyState state = KeyState::pending;
    Time created{};
    std::optional<Time> activated;       // when it became active
    std::optional<Time> retiring_since;  // when it stopped signing
    std::optional<Time> retired_at;      // when its record became removable
    bool asap = false;                   // pending: activate as soon as DNS shows it

    bool operator==(const KeyEntry&) const = default;
};

struct DomainKeys {
    std::string domain;
    std::vector<KeyEntry> keys;  // in creation order

    const KeyEntry* find(std::string_view selector) const;
    KeyEntry* find(std::string_view selector);
    // The active key for `alg`, or nullptr.
    const KeyEntry* active(config::DkimAlgorithm alg) const;
    const KeyEntry* pending(config::DkimAlgorithm alg) const;

    bool operator==(const DomainKeys&) const = default;
};

struct StateError {
    std::uint32_t line = 0;  // 0: the file as a whole (e.g. no end line)
    std::string message;
};

struct ParsedState {
    DomainKeys state;
    std::optional<StateError> error;  // set: the file is damaged and `state` is not usable
};

ParsedState parse_state(std::string_view text, std::string domain);
std::string serialize_state(const DomainKeys& state);

// A selector for a new key: "<prefix><yyyy>-<mm><letter>" for the month of `now`, with the
// first letter a..z (then aa..zz) that no entry in `state` and no name in `taken` uses.
std::string next_selector(const DomainKeys& state, std::string_view prefix, Time now,
                          const std::vector<std::string>& taken = {});

}  // namespace signpost::keys
