// keys/rotation.hpp — the rotation schedule of one domain as a pure function.
//
// plan_rotation() looks at a domain's keys, its policy, the time and (through a callback)
// what DNS serves, and says what to do next: keys to generate, the new state to write,
// private key files to delete, and events to log. It performs no I/O itself; keys/store
// carries the plan out in a crash-safe order (new key files first, then the state file,
// then deletions), so a crash between any two steps is resumed by the next plan.
//
// Rules, per algorithm the domain signs with (DESIGN.md, "Key rotation"):
//   - no active and no pending key: generate a pending key marked `asap` (first key);
//   - an active key within `publish_lead` of its rotation (activated + rotate_every):
//     generate the next pending key, so its record can be published ahead of time;
//   - a pending key is activated when it is due (asap, no active key, or the active key's
//     rotation time has come) AND DNS serves its record with exactly its public key; the
//     old active key then becomes retiring. Otherwise the old key keeps signing and a
//     `blocked` event says which record is missing or differs;
//   - a retiring key becomes retired `retire_after` after it stopped signing; its private
//     key file is deleted and its record may be removed;
//   - an algorithm removed from the configuration: its active key retires as usual (it
//     stops signing now), and a pending key of it is dropped.
// An active key is only ever replaced in the same step that activates its successor, so a
// domain never loses its active key for an algorithm it signs with.
//
// Threading: pure; reentrant.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "keys/state.hpp"

namespace signpost::keys {

enum class DnsStatus {
    published,  // a TXT record at the key's name holds exactly its public key
    missing,    // no TXT record at that name
    mismatch,   // TXT records exist, none with this key (wrong or stale p=, revoked)
    error,      // the lookup failed (timeout, SERVFAIL): unknown
};
std::string_view to_string(DnsStatus s);

struct RotationPolicy {
    std::vector<config::DkimAlgorithm> algorithms;
    config::Duration rotate_every{};  // 0 = manual
    config::Duration publish_lead{};
    config::Duration retire_after{};
    std::string selector_prefix = "sp";

    static RotationPolicy from(const config::DomainConfig& d);
};

enum class EventKind {
    generated,  // a new pending key: publish its record
    activated,  // a pending key now signs
    retiring,   // an active key stopped signing; its record must stay published
    retired,    // a retiring key's record may now be removed
    blocked,    // a due pending key cannot activate: its record is not (correctly) published
    dropped,    // a pending key of an algorithm no longer configured was discarded
};
std::string_view to_string(EventKind k);

struct Event {
    EventKind kind;
    std::string selector;
    config::DkimAlgorithm algorithm;
    DnsStatus dns = DnsStatus::published;  // for `blocked`
};

struct Plan {
    DomainKeys next;                        // the state to write when `changed`
    std::vector<std::string> generate;      // selectors of new keys in `next` (write .pem first)
    std::vector<std::string> delete_keys;   // selectors whose .pem to delete after writing
    std::vector<Event> events;
    bool changed = false;
};

// `dns` is asked only about pending keys that are due. `taken` lists selectors that must
// not be reused (key files present on disk without a state entry).
Plan plan_rotation(const DomainKeys& current, const RotationPolicy& policy, Time now,
                   const std::function<DnsStatus(const KeyEntry&)>& dns,
                   const std::vector<std::string>& taken = {});

// When the active key of `alg` is due to rotate, if rotation is scheduled.
std::optional<Time> rotation_due(const DomainKeys& state, const RotationPolicy& policy,
                                 config::DkimAlgorithm alg);

// Manual operations (`signpost keys generate`, `keys rotate`, `keys activate --now`), pure.
// add_pending_key: a new pending key for `alg` with `selector` (or the next free one when
// empty); asap when there is no active key of `alg` to wait for.
Plan add_pending_key(const DomainKeys& current, const RotationPolicy& policy,
                     config::DkimAlgorithm alg, Time now, std::string selector,
                     const std::vector<std::string>& taken = {});
// start_rotation: a pending key marked asap for `alg` (generated when none is pending).
Plan start_rotation(const DomainKeys& current, const RotationPolicy& policy,
                    config::DkimAlgorithm alg, Time now, const std::vector<std::string>& taken = {});
// activate_now: `selector` (pending) becomes active without a DNS check; the active key of
// its algorithm retires. Returns a plan with changed = false if `selector` is not pending.
Plan activate_now(const DomainKeys& current, std::string_view selector, Time now);

}  // namespace signpost::keys
