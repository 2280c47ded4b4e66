// relay/app/dns_lookup.hpp — the keys module's TXT lookup, backed by relay/dns.
#pragma once

#include "config/config.hpp"
#include "keys/store.hpp"

namespace signpost::app {

// A blocking TXT lookup through libunbound with `[dns]`'s forwarders (or the system
// resolver). Throws std::runtime_error when the resolver cannot be set up.
keys::TxtLookup make_txt_lookup(const config::DnsConfig& dns);

}  // namespace signpost::app
