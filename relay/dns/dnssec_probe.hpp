// relay/dns/dnssec_probe.hpp — is DNSSEC validation working at all on this DNS path?
//
// With [dns] dnssec = true every answer is validated from the trust anchor. A path that
// strips DNSSEC (a forwarder or middlebox that drops RRSIG records or the DO bit, as many
// home routers do) makes every answer bogus: all MX lookups fail and mail is deferred.
// That must be said loudly and once, not only as a thousand "DNSSEC bogus" deferrals, and
// it must not be mistaken for "every zone is unsigned" (which would silently switch DANE
// off). The probe asks for the DNSKEY RRset of the trust anchor's own zone (the root, for
// Debian's /usr/share/dns/root.key): with validation working it is secure.
//   validating   the anchor's DNSKEY answer is secure;
//   broken       it is bogus or insecure: the path strips or mangles DNSSEC (`detail` says
//                what the validator said);
//   unreachable  no answer (SERVFAIL, timeout): DNS itself is not working.
// Delivery logs the state when it changes, exports it as a metric and `signpost explain`
// prints it; lookups keep being validated whatever the state (nothing downgrades).
//
// Untrusted input: the DNS answer (through relay/dns), the trust anchor file's first
// owner name. Threading: probe() is a coroutine on the caller's executor.
#pragma once

#include <filesystem>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "relay/dns/resolver.hpp"

namespace signpost::dns {

struct DnssecProbe {
    enum class State { validating, broken, unreachable };
    State state = State::unreachable;
    std::string zone;    // the zone asked: "." or "test."
    std::string detail;  // one line: what was seen
};
const char* to_string(DnssecProbe::State s);  // "validating", "broken", "unreachable"

// The owner name of the first record in a trust anchor file (zone-file DS or DNSKEY lines,
// as unbound-anchor writes them), with its trailing dot; "." when the file names none.
std::string trust_anchor_zone(const std::filesystem::path& file);

boost::asio::awaitable<DnssecProbe> probe_dnssec(Resolver& resolver, std::string zone);

}  // namespace signpost::dns
