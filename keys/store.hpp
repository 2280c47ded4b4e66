// keys/store.hpp — the DKIM key store on disk, and the keys the signer uses right now.
//
// Layout under `[keys] dir`:
//     <domain>/keys.state      the lifecycle of the domain's keys (keys/state.hpp)
//     <domain>/<selector>.pem  one private key per selector, PKCS#8 PEM, mode 0600
//     <domain>/.lock           flock()ed for every read-modify-write, so the daemon and
//                              the `signpost keys` commands never interleave updates
//
// Plans from keys/rotation are applied in a crash-safe order: new key files (atomic,
// fsynced) first, then the state file (atomic replace), then deletions of retired keys.
// A crash between two steps leaves either an unreferenced key file (its selector is never
// reused; `keys list` reports it) or a retired key whose file still exists (deleted on the
// next step), never a state that names a key file that is not there.
//
// The daemon holds one KeyStore. `reload()` re-reads every configured domain and swaps in
// a new snapshot of active keys; a domain whose files are damaged keeps the keys it had and
// the problem is reported with the file name. `signing_keys()` returns the snapshot a
// message is signed with: a later swap does not change keys under a message being signed.
//
// Untrusted input: files in the keys directory (damaged, truncated, wrong permissions).
// Threading: signing_keys() may be called from any thread; reload() and the rotation
// functions from one thread at a time.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "keys/rotation.hpp"
#include "keys/state.hpp"
#include "signer/key.hpp"
#include "signer/sign.hpp"

namespace signpost::keys {

// A problem with one file in the store; `file` is always set.
struct StoreIssue {
    std::filesystem::path file;
    std::string message;
    std::string to_string() const { return file.string() + ": " + message; }
};

// TXT lookups, implemented by relay/dns (keys does not depend on relay).
struct TxtLookupResult {
    enum class Status { found, not_found, error };
    Status status = Status::error;
    std::vector<std::string> records;  // each record's strings joined
};
using TxtLookup = std::function<TxtLookupResult(const std::string& name)>;

// "<selector>._domainkey.<domain>"
std::string record_name(std::string_view selector, std::string_view domain);

// Whether DNS serves `key`'s public key at its name (the decoded key is compared, not the
// record text, so formatting differences in the record do not matter).
DnsStatus check_published(const signer::PrivateKey& key, std::string_view selector,
                          std::string_view domain, const TxtLookup& lookup);

// The record in zone-file form, the value split into quoted strings of at most 255 bytes:
//     sp2026-11a._domainkey.example.com. IN TXT ( "v=DKIM1; k=rsa; p=MIIB..." "..." )
std::string zone_file_record(std::string_view selector, std::string_view domain,
                             std::string_view value);

// Active keys of one domain: what a message from it is signed with.
struct SigningSet {
    std::string domain;
    std::vector<signer::SigningKey> keys;
};

// What one domain's directory holds.
struct DomainView {
    DomainKeys state;
    std::vector<std::string> unreferenced;  // .pem files that no state entry names
};

class KeyStore {
public:
    explicit KeyStore(std::filesystem::path dir);

    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path domain_dir(std::string_view domain) const;
    std::filesystem::path key_file(std::string_view domain, std::string_view selector) const;
    std::filesystem::path state_file(std::string_view domain) const;

    // Reads a domain's state (an empty state when the domain has none yet).
    bool read(std::string_view domain, DomainView& out, StoreIssue& issue) const;

    // Loads a private key file: refuses one readable by group/others, and one whose type
    // or size does not match `algorithm`.
    std::optional<signer::PrivateKey> load_key(std::string_view domain, const KeyEntry& entry,
                                               StoreIssue& issue) const;

    // Carries out a plan under the domain's lock, after checking that the state on disk is
    // still the one the plan was made from. Generates the plan's new keys.
    bool apply(std::string_view domain, const DomainKeys& from, const Plan& plan, StoreIssue& issue);

    // One rotation step for a domain: read, plan (asking DNS about due pending keys), apply.
    // Events are appended to `events`; returns false with `issue` set on a store problem.
    bool rotate(const config::DomainConfig& domain, Time now, const TxtLookup& lookup,
                std::vector<Event>& events, StoreIssue& issue);

    // Adds an existing private key (PEM, or an Ed25519 seed in base64) under `selector` as
    // a pending key marked asap; `algorithm` must match the key.
    bool import_key(std::string_view domain, std::string_view selector, std::string_view key_text,
                    config::DkimAlgorithm algorithm, Time now, StoreIssue& issue);

    // Read, plan with `make_plan`, apply: the shape of every manual operation. `make_plan`
    // may refuse by returning a plan with changed = false and setting `issue`.
    bool update(std::string_view domain,
                const std::function<Plan(const DomainView&, StoreIssue&)>& make_plan,
                std::vector<Event>& events, StoreIssue& issue);

    // Re-reads the active keys of every configured domain and swaps the snapshot. A domain
    // whose files fail to load keeps its previous keys; each problem is returned.
    std::vector<StoreIssue> reload(const std::vector<config::DomainConfig>& domains);

    // Why `domain` cannot sign yet, in words for an SMTP reply or a log line: the record(s)
    // that must be published first. Submission refuses its mail with 451 4.7.0 and this text.
    std::string no_active_key_reason(std::string_view domain) const;

    // The snapshot for `domain` (exact name), or nullptr when it has no active key.
    std::shared_ptr<const SigningSet> signing_keys(std::string_view domain) const;

    // Test seam: called after step 1 (key files written) and step 2 (state written) of
    // apply(), so tests can stop the process there and check that a restart resumes.
    std::function<void(int step)> after_step;

private:
    std::filesystem::path dir_;
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<const SigningSet>, std::less<>> active_;
};

config::DkimAlgorithm algorithm_of(const signer::PrivateKey& key);

// The signer's parameters for mail from `domain`: d=, canonicalization and header list as
// configured.
signer::SignParams sign_params(const config::DomainConfig& domain);

}  // namespace signpost::keys
