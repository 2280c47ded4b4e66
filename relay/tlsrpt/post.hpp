// relay/tlsrpt/post.hpp — the https: delivery of a TLS report (RFC 8460 §3, §5.4): one
// HTTP/1.1 POST of the gzip'd report with Content-Type application/tlsrpt+gzip.
//
// The URL is the rua value: "https://host[:port]/path". The host's addresses come from the
// injected resolver (A, then AAAA; an IP literal is used as it is); the server must present
// a certificate that chains to the system CAs or [delivery] extra_ca_file and is valid for
// the host (no partial wildcards; SNI sent). Any 2xx is success (§5.4 names 200 and 201...
// "a successful response"); anything else, a redirect included, is a failure to retry
// later. One deadline covers DNS, connect, handshake and the exchange; the response body is
// read up to 16 KiB and ignored.
//
// Untrusted input: the URL (from DNS), DNS answers, the server's response (bounded).
// Threading: a coroutine on the caller's executor; the TLS context is only read.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include "relay/dns/resolver.hpp"

namespace signpost::tlsrpt {

struct HttpsUrl {
    std::string host;
    std::uint16_t port = 443;
    std::string target = "/";  // path and query
};
// nullopt unless "https://" + a host (name or IPv4 literal) + optional ":port" + optional path.
std::optional<HttpsUrl> parse_https_url(std::string_view url);

struct PostResult {
    bool ok = false;
    unsigned status = 0;  // the HTTP status, when one came
    std::string error;    // when !ok
};

boost::asio::awaitable<PostResult> https_post(dns::Resolver& resolver, std::shared_ptr<boost::asio::ssl::context> tls,
                                              std::string url, std::string content_type, std::string body,
                                              std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace signpost::tlsrpt
