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
// Untrusted input: DNS answers, certificate files, everything a server sends (replies go
// through relay/smtp's bounded ReplyParser; peer and certificate text in evidence is cut
// to 200 octets, control characters blanked). Passwords are never put in a Check.
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

// One Check (id "fcrdns", subject = the address) per address of `hostname` (A and AAAA,
// at most 8; an IPv4-mapped address counts as its IPv4 address), or one for the name when
// it has no address or the lookup failed (subject = the name).
// Per address: ok when a PTR name is `hostname` (case-insensitive; `hostname`'s own A/AAAA
// answer confirms it). fail when there is no PTR, or the PTR names another host (the fix
// also offers that name as [server] hostname when it resolves back to the address), or
// the PTR name does not resolve back to the address. warn when a lookup failed for now
// (SERVFAIL, timeout), with the DNS's reason. At most 4 PTR names are followed forward.
boost::asio::awaitable<std::vector<Check>> check_fcrdns(dns::Resolver& resolver, std::string hostname);

// Checks with id "certificate" (subject = the file), from the file's first certificate
// (the one a server sends) and the others in it (intermediates):
//   - the name: X509_check_host against `hostname` (no partial wildcards);
//   - the chain: verified up to the default trust store (SSL_CERT_FILE/SSL_CERT_DIR) at
//     `now`, for a TLS server, the leaf's dates left to the next check. Self-signed: warn
//     (fine for clients that trust it); issuer missing: fail, append the intermediates;
//     an untrusted root in the file, an expired intermediate, the wrong key usage: fail;
//   - the expiry: fail when expired, not yet valid or under 3 days left, warn under 14.
// A file that cannot be read or holds no PEM certificate (at most 1 MiB is read): one fail
// check naming it. `now` is passed in so that tests can move it.
std::vector<Check> check_certificate(const std::filesystem::path& cert_file, const std::string& hostname,
                                     std::chrono::system_clock::time_point now);

// One Check with id "port25" (subject = host:port). `host` is a name (resolved through
// `resolver`, A then AAAA, each address tried in turn) or an IP literal. `timeout` bounds
// the connects and the greeting together (DNS has its own [dns] timeout). ok: a 220
// greeting (then QUIT); fail: connect timeout or refusal ("appears blocked"), no
// greeting; warn: another greeting (port 25 is open, the peer refused us), or the host
// did not resolve.
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
// One Check with id "smarthost" (subject = host:port): connect (each address in turn),
// implicit TLS or greeting + EHLO + STARTTLS (RFC 3207; not offered: fail), the handshake
// verifying the certificate for endpoint.host (system CAs plus extra_ca_file; SNI for a
// name), EHLO again, then AUTH PLAIN, else LOGIN (RFC 4954), when credentials are given:
// refused (535...): fail with the server's reply; AUTH not offered: warn. Without
// credentials no AUTH is tried (ok; the evidence says what the server offers). QUIT; no
// MAIL, nothing sent. Each step is bounded by probe.timeout. Not probed: smarthost_dane.
boost::asio::awaitable<Check> check_smarthost(dns::Resolver& resolver, SmarthostProbe probe);

}  // namespace signpost::doctor
