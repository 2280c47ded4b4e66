// relay/submission/metrics.hpp — what the submission side counts, for Prometheus.
//
// One SubmissionMetrics per daemon, built by relay/app from the registry and the config,
// handed to the sessions through Services (a null pointer counts nothing). Every label value
// comes from a closed set: listener names and signing domains from the config (series
// created up front; anything else is not counted), the rest from closed enums (AuthMechanism
// below, Refusal in ingest.hpp, signer::KeyType). Nothing a
// client sends — user names, addresses, EHLO names, peer text — ever becomes a label.
//
// Threading: every method may be called from any thread (prometheus-cpp counters are
// atomic; the series maps are built once in the constructor and only read afterwards).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "config/config.hpp"
#include "relay/submission/ingest.hpp"
#include "signer/key.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

namespace signpost::submission {

// The SASL mechanisms the protocol implements (RFC 4616 PLAIN, LOGIN).
enum class AuthMechanism { plain, login };

class SubmissionMetrics {
public:
    SubmissionMetrics(prometheus::Registry& registry, const config::Config& config);

    void connection(const std::string& listener);  // a listener not in the config: not counted
    void auth(AuthMechanism mechanism, bool ok);
    void accepted();
    void rejected(Refusal reason);
    // `domain` is a configured signing domain (one added by a reload gets its series then).
    void signed_with(const std::string& domain, signer::KeyType type);
    void received(std::uint64_t bytes);
    // A message held back by flow control ([queue] in_flow_delay) for `waited`.
    void flow_delayed(std::chrono::steady_clock::duration waited);
    // The MX listener: a message committed for an [[inbound]] domain; a greylisting verdict
    // ("pass", "first", "too_early"); the result of one sender check ("spf", "dkim",
    // "dmarc" with the RFC 8601 result names; anything else is not counted).
    void inbound_accepted();
    // A client refused before the greeting on an MX listener: "pregreet", "dnsbl" or "rate".
    void inbound_refused(const char* reason);
    void greylist(const char* outcome);
    void sender_check(const char* method, const std::string& result);

private:
    std::map<std::string, prometheus::Counter*, std::less<>> connections_;
    std::array<prometheus::Counter*, 4> auth_{};  // mechanism * 2 + failed
    prometheus::Counter* accepted_ = nullptr;
    std::array<prometheus::Counter*, kRefusalCount> rejected_{};
    std::map<std::string, std::array<prometheus::Counter*, 2>, std::less<>> signed_;  // [rsa, ed25519]
    prometheus::Family<prometheus::Counter>* signed_family_ = nullptr;  // domains added by a reload
    prometheus::Counter* received_bytes_ = nullptr;
    prometheus::Counter* flow_delayed_ = nullptr;
    prometheus::Counter* flow_delay_seconds_ = nullptr;
    prometheus::Counter* inbound_accepted_ = nullptr;
    std::map<std::string, prometheus::Counter*, std::less<>> inbound_refused_;
    std::map<std::string, prometheus::Counter*, std::less<>> greylist_;
    std::map<std::string, prometheus::Counter*, std::less<>> sender_checks_;  // "method=result"
};

}  // namespace signpost::submission
