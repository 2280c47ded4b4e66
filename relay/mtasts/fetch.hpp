// relay/mtasts/fetch.hpp — the HTTPS GET of an MTA-STS policy (RFC 8461 §3.3).
//
// What it does: GET https://mta-sts.<domain>[:port]/.well-known/mta-sts.txt with Boost.Beast
// over OpenSSL. The host's addresses come from the injected dns::Resolver (A first, AAAA when
// no IPv4 address answers), so tests and the daemon resolve the same way delivery does.
// The TLS peer must present a chain that verifies against the system CAs plus
// [delivery] extra_ca_file, valid for the name "mta-sts.<domain>" (OpenSSL's host name
// check, no partial wildcards; SNI is sent). The request is HTTP/1.1 with a Host header.
// Success is status 200 only: any 3xx is a failure, redirects are never followed (§3.3);
// the Content-Type must be text/plain (parameters such as charset allowed, §3.2); the body
// is capped (64 KiB by default; larger is a failure, not a truncation). One deadline
// (10 s by default) covers the DNS queries, the connection, the handshake and the exchange.
//
// What it does not do: parse the body (parse_policy does that), cache, retry, or follow
// redirects; no HTTP proxy support; no connection reuse (one fetch, one connection).
//
// Fetcher is the seam (STYLE.md habit 8): the PolicyStore takes any Fetcher, unit tests
// script one, the daemon uses make_https_fetcher().
//
// Untrusted input: DNS answers and everything the HTTPS peer sends (status line and headers
// bounded by Beast's header limit, the body by max_body). Failure texts name our checks;
// peer bytes never appear in them except the numeric status.
// Threading: fetch() may be called concurrently from any executor; each call has its own
// connection and runs on the awaiting coroutine's executor. The TLS context is shared and
// only read after construction.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "config/config.hpp"
#include "relay/dns/resolver.hpp"

namespace signpost::mtasts {

struct FetchResult {
    bool ok = false;
    std::string body;   // the policy text, when ok
    std::string error;  // when !ok: what failed, naming the URL ("https://...: HTTP 301 ...")
};

class Fetcher {
public:
    virtual ~Fetcher() = default;
    // Fetches the policy of `domain` (lower case, no trailing dot).
    virtual boost::asio::awaitable<FetchResult> fetch(std::string domain) = 0;
};

struct FetchOptions {
    std::uint16_t port = 443;                  // [mta_sts] https_port
    std::chrono::milliseconds timeout{10000};  // the whole fetch, DNS included
    std::size_t max_body = 64 * 1024;          // a larger body is a failure
    std::filesystem::path extra_ca_file;       // [delivery] extra_ca_file; empty = none
};

// The options the daemon uses: port from [mta_sts] https_port, extra_ca_file from
// [delivery], the default timeout and body cap.
FetchOptions fetch_options(const config::Config& config);

// The policy URL: "https://mta-sts.<domain>/.well-known/mta-sts.txt", with ":<port>" after
// the host when the port is not 443.
std::string policy_url(const std::string& domain, std::uint16_t port);

// A domain we build a URL and a cache file name from: 1 to 253 octets of lower-case LDH
// labels (letters, digits, inner hyphens; 1 to 63 octets each), no trailing dot. Anything
// else is refused before any network or file access.
bool is_policy_domain(std::string_view domain);

// Throws std::runtime_error naming the file when the system CAs or extra_ca_file cannot be
// loaded.
std::shared_ptr<Fetcher> make_https_fetcher(std::shared_ptr<dns::Resolver> resolver, FetchOptions options);

}  // namespace signpost::mtasts
