// relay/inbound/policy_server.hpp — [mta_sts_serve]: the MTA-STS policy of each [[inbound]]
// domain over HTTPS (RFC 8461 §3.3), so that publishing MTA-STS needs no separate web server.
//
// Serves GET and HEAD of /.well-known/mta-sts.txt for Host "mta-sts.<domain>" (any case, an
// optional port and trailing dot allowed) of each domain in the table it is given: 200 with
// the policy file, Content-Type text/plain (RFC 8461 §3.2), Cache-Control no-cache (senders
// cache by max_age and the DNS id, not by HTTP). Another host or path is 404, another method
// 405, a GET with a body 400; no redirects ever (§3.3 forbids following them). TLS 1.2 or
// later only, with the context it is given (the certificate must be valid for every
// mta-sts.<domain> name).
//
// Bounds: at most 64 connections at once (further ones are closed at once), 10 s for the
// TLS handshake and for each request, request headers up to 8 KB and a body up to 1 KB
// (read, then refused), up to 20 requests on one connection.
//
// Metrics: signpost_mta_sts_policy_requests_total{result} with result "served",
// "not_found" (a host or path it has no policy for) or "bad_request" (another method, or a
// request that is not HTTP it accepts).
//
// Untrusted input: TLS handshakes and HTTP requests from anyone (parsed by OpenSSL and
// Beast). Threading: update() from any thread; connections run on the io_context's threads.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <prometheus/registry.h>

#include "config/config.hpp"

namespace signpost::inbound {

// Host name ("mta-sts.<domain>", lower case) -> the policy file served for it.
using PolicyTable = std::map<std::string, std::string>;

// The table [mta_sts_serve] serves for `cfg`: one entry per [[inbound]] domain, with
// mode, max_age and mx from [mta_sts_serve]. Empty when the section is absent. Pure.
PolicyTable served_policies(const config::Config& cfg);

// The host names of `table` that the certificate of `tls` is not valid for (X509_check_host),
// in order; all of them when the context has no certificate.
std::vector<std::string> names_not_covered(const boost::asio::ssl::context& tls, const PolicyTable& table);

class PolicyServer {
public:
    // Binds `listen` now; throws std::runtime_error naming the address when it cannot.
    PolicyServer(boost::asio::io_context& io, const config::Endpoint& listen, prometheus::Registry& registry);
    ~PolicyServer();
    PolicyServer(const PolicyServer&) = delete;
    PolicyServer& operator=(const PolicyServer&) = delete;

    // What new connections are served with (set before start(); again on reload).
    void update(PolicyTable policies, std::shared_ptr<boost::asio::ssl::context> tls);
    std::uint16_t port() const;
    void start();
    void stop();  // stops accepting; requests in progress end with their connection

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace signpost::inbound
