// relay/mtasts/store.hpp — the PolicyStore's seams and its cache file format (see
// mtasts.hpp for the contract; store.cpp implements it).
//
// make_policy_store(io, resolver, config) in mtasts.hpp is the daemon's entry point; the
// overload here takes the fetcher, the wall clock and the logger, so unit tests can script
// the network and move time, and relay/app can pass its own logger.
//
// How a lookup decides (RFC 8461 §5.1, §3.1, §3.3):
//   1. `_mta-sts.<domain>` TXT. Of its records only those beginning with "v=STSv1" count;
//      none, more than one, an invalid one, NXDOMAIN or a failed query all mean "no
//      valid record".
//   2. No valid record: an unexpired cached policy stays in force (source cached, detail
//      says why); otherwise there is no policy (source none).
//   3. A valid record whose id equals the unexpired cached policy's: the cached policy
//      (source cached). When it is within refresh_window() of expiry, a background fetch is
//      started (at most one per domain at a time; after a failed one, the next waits
//      `refresh_retry`); the lookup does not wait for it.
//   4. Otherwise (nothing cached, expired, or a new id): fetch and parse. Success: the new
//      policy (source fetched), kept in memory and written to the cache dir. Failure: an
//      unexpired cached policy stays in force (source cached_after_failure, detail
//      "fetch: ..." or "policy: ..."), else no policy (source none, same detail).
// A policy with mode "none" is stored like any other but puts no policy in force:
// Lookup::policy is empty and the detail says "mode none". cached() still returns it.
// Concurrent lookups of one domain share one pass through these steps (one TXT query, at
// most one fetch); other domains are not held up.
//
// Cache files: <cache_dir>/<domain>.policy, written to a temp file in the same directory,
// fsynced, renamed over the old one, and the directory fsynced. The format is text:
//   signpost-mta-sts-cache 1\n
//   domain <domain>\n
//   id <TXT id>\n
//   fetched <seconds since the Unix epoch>\n
//   body <octets>\n
//   <the policy body exactly as fetched>\n
//   end\n
// On load every field is checked and the body parsed again with parse_policy; a file that
// fails any check (torn, edited, wrong domain, fetched in the future) is ignored with a
// warning and replaced at the next successful fetch. Leftover temp files are removed.
//
// Untrusted input: domains asked for (validated before they name a file or URL), DNS
// answers, fetched bodies, cache files (they pass the same parser as the network).
// Threading: see mtasts.hpp. State lives on one strand; cached() reads the in-memory
// policies under a mutex. Background refreshes keep the store's state alive until they
// end (bounded by the fetch timeout). Cache writes (one small file, fsync) run on the
// strand: they happen once per fetched policy.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "relay/log/log.hpp"
#include "relay/mtasts/fetch.hpp"
#include "relay/mtasts/mtasts.hpp"

namespace signpost::mtasts {

struct StoreOptions {
    std::shared_ptr<Fetcher> fetcher;  // required
    // Wall clock for Policy::fetched and expiry; default std::chrono::system_clock::now.
    std::function<std::chrono::system_clock::time_point()> clock;
    log::Logger logger;  // default: no logging
    // After a failed background refresh, the least time before the next attempt.
    std::chrono::seconds refresh_retry{300};
    StoreEvents events;
};

// As make_policy_store(io, resolver, config), with the given fetcher, clock and logger.
std::shared_ptr<PolicyStore> make_policy_store(boost::asio::any_io_executor io, std::shared_ptr<dns::Resolver> resolver,
                                               const config::Config& config, StoreOptions options);

// How long before expiry a cached policy is refreshed in the background: a tenth of
// max_age, but at least one day, and never more than half of max_age (so a short-lived
// policy is not fetched at every lookup). max_age 1 year -> 36.5 days; 1 week -> 1 day;
// 1 day -> 12 hours.
std::chrono::seconds refresh_window(std::uint32_t max_age);

// The cache file text for a policy fetched for `domain` (body as fetched).
std::string format_cache_file(const std::string& domain, const Policy& policy, std::string_view body);

// Reads a cache file's text. nullopt with `error` set when it is damaged or not for
// `domain`, or claims a fetch time later than `now` + 1 day.
std::optional<Policy> parse_cache_file(std::string_view text, const std::string& domain,
                                       std::chrono::system_clock::time_point now, std::string& error);

}  // namespace signpost::mtasts
