// relay/doctor/run.hpp — one `signpost doctor` run: every configured sending domain
// (domain_checks.hpp), then the relay host (host_checks.hpp), into one Report.
//
// Relay host checks by [delivery] mode:
//   mx         fcrdns for [server] hostname; port25 (the [doctor] port25_probe MX)
//   smarthost  smarthost (connect, TLS, AUTH; no message); fcrdns skipped (receivers see
//              the smarthost, not this host)
//   capture    neither
// certificate for [tls] cert whenever a listener is configured.
// `offline` skips the checks that connect out (port25, smarthost); `dns_only` (the
// daemon's daily run) also skips them — its checks are DNS and the certificate file.
//
// Threading: a coroutine on the caller's executor; reads the key store and the
// certificate file inline.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "config/config.hpp"
#include "keys/store.hpp"
#include "relay/doctor/check.hpp"
#include "relay/dns/resolver.hpp"

namespace signpost::doctor {

struct RunOptions {
    std::vector<std::string> domains;  // only these [[domain]]s (empty: all)
    bool offline = false;               // no connection out (port 25, smarthost)
    bool dns_only = false;              // the daemon's run: DNS checks and the certificate
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

boost::asio::awaitable<Report> run_doctor(dns::Resolver& resolver, const config::Config& cfg,
                                          const keys::KeyStore& store, RunOptions options);

}  // namespace signpost::doctor
