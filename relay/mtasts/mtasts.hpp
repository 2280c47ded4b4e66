// relay/mtasts/mtasts.hpp — MTA-STS (RFC 8461): which policy applies to a destination domain.
//
// Pure part (policy.cpp): the TXT record "v=STSv1; id=...;" (§3.1) and the policy file
// (§3.2: "key: value" lines, CRLF or LF; version STSv1, mode enforce|testing|none, one or
// more mx patterns where "*." may only be the whole leftmost label, max_age 0..31557600;
// unknown keys ignored; a missing required field is an error, and of a repeated field
// other than mx the first is used, as §3.2 says), and MX host
// matching (§4.1: exact, or "*.example.com" matching exactly one more label).
//
// PolicyStore (store.cpp): for a domain, asks `_mta-sts.<domain>` TXT through the Resolver;
// fetches https://mta-sts.<domain>/.well-known/mta-sts.txt (Boost.Beast over TLS, system CAs
// plus [delivery] extra_ca_file, certificate valid for mta-sts.<domain>, no redirects, 10 s
// timeout, 64 KiB cap, Content-Type text/plain) when nothing is cached, when the cached
// policy expired, or when the TXT id differs from the cached policy's id; keeps policies in
// memory and persisted under [mta_sts] cache_dir (default <queue.dir>/mta-sts), one file per
// domain written atomically, so they survive restarts. A fetch that fails leaves an
// unexpired cached policy in force (§5.1 with §3.3). Refreshes policies that are about to
// expire in the background (§5.1: "proactively"). Each domain's policy is separate: one
// domain's broken policy never affects another that shares MX hosts.
//
// Untrusted input: TXT records and policy bodies (bounded, parsed strictly), HTTPS peers.
// Threading: PolicyStore methods may be called from any strand; it is internally serialized.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "config/config.hpp"
#include "relay/dns/resolver.hpp"

namespace signpost::mtasts {

enum class Mode { enforce, testing, none };
const char* to_string(Mode m);

struct Policy {
    Mode mode = Mode::none;
    std::vector<std::string> mx;       // patterns as written, lower-cased
    std::uint32_t max_age = 0;         // seconds
    std::string id;                    // the TXT id it was fetched under
    std::chrono::system_clock::time_point fetched{};

    // §4.1: does `host` (lower case, no trailing dot) match one of the mx patterns?
    bool matches(std::string_view host) const;
    bool expired(std::chrono::system_clock::time_point now) const {
        return now >= fetched + std::chrono::seconds(max_age);
    }
};

// §3.2. On failure returns nullopt and sets `error` to what is wrong (line and field).
std::optional<Policy> parse_policy(std::string_view text, std::string& error);
// §3.1. The id of a valid "v=STSv1; id=..." record, or nullopt (`error` says why).
std::optional<std::string> parse_txt_record(std::string_view record, std::string& error);

// What the store knows about a domain when a delivery asks.
struct Lookup {
    std::optional<Policy> policy;   // the policy in force (none when no MTA-STS)
    enum class Source { none, fetched, cached, cached_after_failure } source = Source::none;
    std::string detail;             // why there is no policy, or what failed ("fetch: ...")
    // A policy fetch that failed in this lookup (the TXT record said there is a policy), for
    // TLS reports (RFC 8460 §4.3.2.2): its certificate did not verify (webpki), the body did
    // not parse (invalid), or anything else (fetch).
    enum class Failure { none, fetch, invalid, webpki } failure = Failure::none;
};

class PolicyStore {
public:
    virtual ~PolicyStore() = default;
    // The policy in force for `domain` (lower case), discovering/fetching as needed.
    virtual boost::asio::awaitable<Lookup> lookup(std::string domain) = 0;
    // What is held for `domain` without any network activity (for `signpost explain`).
    virtual std::optional<Policy> cached(const std::string& domain) const = 0;
};

// What the store tells the daemon (metrics); either may be empty. Called on the store's
// strand.
struct StoreEvents {
    // Every policy fetch: "fetched" (a valid policy), "fetch_failed" (DNS, connection, TLS
    // or HTTP failure) or "invalid_policy" (the body did not parse).
    std::function<void(const char* outcome)> fetch;
    // How many domains' policies are held, after loading the cache and after each change.
    std::function<void(std::size_t policies)> cached;
};

// Throws std::runtime_error naming the file when the CA file or cache dir cannot be used.
std::shared_ptr<PolicyStore> make_policy_store(boost::asio::any_io_executor io, std::shared_ptr<dns::Resolver> resolver,
                                               const config::Config& config, StoreEvents events = {});

}  // namespace signpost::mtasts
