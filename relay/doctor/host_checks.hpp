// relay/doctor/host_checks.hpp — `signpost doctor`'s checks of the relay host itself.
//
//   check_fcrdns       forward-confirmed reverse DNS for [server] hostname (mode mx): every
//                      A/AAAA address of the name has a PTR naming the hostname back
//                      (receivers reject or score mail from hosts without it).
//   check_certificate  the submission listeners' [tls] cert: valid for [server] hostname,
//                      chain complete up to a trusted CA (the system store; SSL_CERT_FILE and
//                      SSL_CERT_DIR are honored), days until expiry (warn < 14, fail < 3).
//   check_port25       outbound TCP port 25: a bounded connect to a well-known MX and its
//                      220 greeting (an ISP that blocks port 25 gives a timeout or refusal).
//   check_smarthost    mode smarthost: connect, TLS as configured (certificate verified for
//                      the smarthost's name), AUTH with the configured credentials, QUIT.
//                      No message is sent.
//
// Every check returns Checks (relay/doctor/check.hpp) with the evidence and, for warn and
// fail, the fix. None throws for network or file trouble: that is a result.
// Threading: the coroutines run on the caller's executor; check_certificate is blocking
// file I/O plus OpenSSL, fine for the command line and the daemon's daily run.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "config/config.hpp"
#include "relay/doctor/check.hpp"
#include "relay/dns/resolver.hpp"

namespace signpost::doctor {

// One Check (id "fcrdns", subject = the address) per address of `hostname`, or one for the
// name when it has no address or the lookup failed.
boost::asio::awaitable<std::vector<Check>> check_fcrdns(dns::Resolver& resolver, std::string hostname);

// Checks with id "certificate" (subject = the file): one for the name match, one for the
// chain, one for the expiry. `now` is passed in so that tests can move it.
std::vector<Check> check_certificate(const std::filesystem::path& cert_file, const std::string& hostname,
                                     std::chrono::system_clock::time_point now);

// `host` is a name (resolved through `resolver`, A and AAAA) or an IP literal.
boost::asio::awaitable<Check> check_port25(dns::Resolver& resolver, std::string host, std::uint16_t port,
                                           std::chrono::milliseconds timeout);

struct SmarthostProbe {
    config::Endpoint endpoint;               // host name or IP literal, port
    config::TlsMode tls = config::TlsMode::starttls;
    std::optional<std::pair<std::string, std::string>> credentials;  // user, password
    std::filesystem::path extra_ca_file;     // trusted besides the system CAs
    std::string helo;                        // [server] hostname
    std::chrono::milliseconds timeout{std::chrono::seconds(15)};  // per step
};
// One Check with id "smarthost" (subject = host:port).
boost::asio::awaitable<Check> check_smarthost(dns::Resolver& resolver, SmarthostProbe probe);

}  // namespace signpost::doctor
