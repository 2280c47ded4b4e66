// relay/dns/txt_lookup.hpp — a blocking TXT lookup over libunbound, for command-line tools
// (`signpost dkim verify --dns`, `signpost keys list`), where one query at a time is right.
//
// The daemon's resolver is asynchronous and lives beside this; this one is for the CLI
// only: it blocks the calling thread until unbound answers or gives up.
//
// Forwarders are "ip" or "ip@port" (port 53 by default); with none, the system resolver
// configuration (/etc/resolv.conf) is used. With forwarders, loopback servers are allowed
// and the special-use name "test." (RFC 6761) is asked of them instead of being answered
// NXDOMAIN locally, so that tests can serve zones such as example.test from 127.0.0.1.
//
// Untrusted input: DNS answers. TXT character-strings are joined without separators, as
// RFC 6376 §3.6.2.2 says for DKIM key records; a malformed rdata is a temporary error.
// Threading: each TxtResolver is used by one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct ub_ctx;

namespace signpost::dns {

struct TxtAnswer {
    enum class Status { found, not_found, temp_error };
    Status status = Status::temp_error;
    std::vector<std::string> records;  // one entry per TXT RR, its strings joined
    bool secure = false;               // DNSSEC-validated (only when a trust anchor is set)
    std::string error;                 // our description of a temp_error
};

class TxtResolver {
public:
    // Throws std::runtime_error with unbound's message when the context cannot be set up
    // (bad forwarder address, unreadable resolv.conf or trust anchor).
    // `fresh`: keep no cache, so every lookup asks the server again. The key schedule uses
    // this: a record the operator just published must be seen at the next check, not after
    // a cached NXDOMAIN expires.
    explicit TxtResolver(const std::vector<std::string>& forwarders = {},
                         const std::string& trust_anchor_file = {}, bool fresh = false);
    ~TxtResolver();
    TxtResolver(const TxtResolver&) = delete;
    TxtResolver& operator=(const TxtResolver&) = delete;

    TxtAnswer lookup(std::string_view name);

private:
    ub_ctx* ctx_ = nullptr;
};

// Splits TXT rdata (a sequence of <length><bytes> strings) into its joined text; false when
// a length runs past the end.
bool join_txt_rdata(std::string_view rdata, std::string& out);

}  // namespace signpost::dns
