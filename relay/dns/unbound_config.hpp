// relay/dns/unbound_config.hpp — internal to relay/dns: one libunbound context set up the
// way this project asks DNS questions, shared by the blocking TXT lookup (txt_lookup.hpp)
// and the daemon's asynchronous resolver (resolver.hpp), so both read the same settings
// the same way.
//
// Forwarders are "ip" or "ip@port" (port 53 by default); with none, the system resolver
// configuration (/etc/resolv.conf) is used. With forwarders, loopback servers are allowed
// (unbound refuses them by default) and the special-use name "test." (RFC 6761 §6.2) is
// asked of them instead of being answered NXDOMAIN locally, so that tests can serve zones
// such as example.test from 127.0.0.1. A trust anchor file turns DNSSEC validation on.
//
// Untrusted input: none (the settings come from the validated config or the command line).
// Threading: the function is reentrant; the context it returns has the threading rules of
// libunbound (one caller at a time unless said otherwise there).
#pragma once

#include <memory>
#include <string>
#include <vector>

struct ub_ctx;

namespace signpost::dns {

struct UnboundSettings {
    std::vector<std::string> forwarders;  // "ip" or "ip@port"; empty = /etc/resolv.conf
    std::string trust_anchor_file;        // empty = no DNSSEC validation
    bool fresh = false;                   // keep nothing cached (cache-max-ttl 0)
};

struct UbCtxDelete {
    void operator()(ub_ctx* ctx) const noexcept;
};
using UbCtxPtr = std::unique_ptr<ub_ctx, UbCtxDelete>;

// A new context with `settings` applied, not yet finalized (libunbound finalizes on the
// first query, so callers may still set options such as ub_ctx_async). Throws
// std::runtime_error naming the setting and quoting unbound's reason when it refuses one
// (an address that does not parse, an unreadable resolv.conf or trust anchor file).
UbCtxPtr make_unbound_context(const UnboundSettings& settings);

// Throws std::runtime_error("<what>: <unbound's message>") when rc is not UB_NOERROR.
void check_unbound(int rc, const std::string& what);

}  // namespace signpost::dns
