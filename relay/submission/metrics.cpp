// relay/submission/metrics.cpp — the submission metric families (see metrics.hpp).
#include "relay/submission/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <utility>
#include <vector>

namespace signpost::submission {

namespace {
const char* tls_label(config::TlsMode m) { return m == config::TlsMode::implicit ? "implicit" : "starttls"; }
std::size_t key_index(signer::KeyType t) { return t == signer::KeyType::ed25519 ? 1 : 0; }
}  // namespace

SubmissionMetrics::SubmissionMetrics(prometheus::Registry& registry, const config::Config& config) {
    // Metric families, declared where they are counted.
    auto& connections = prometheus::BuildCounter()
                            .Name("signpost_connections_total")
                            .Help("Submission connections accepted, by listener and its TLS mode")
                            .Register(registry);
    auto& auth = prometheus::BuildCounter()
                     .Name("signpost_auth_attempts_total")
                     .Help("SMTP AUTH password checks, by SASL mechanism and result")
                     .Register(registry);
    auto& accepted = prometheus::BuildCounter()
                         .Name("signpost_messages_accepted_total")
                         .Help("Messages committed to the queue (250 after DATA or the last BDAT)")
                         .Register(registry);
    auto& rejected = prometheus::BuildCounter()
                         .Name("signpost_messages_rejected_total")
                         .Help("Messages refused at MAIL FROM or at the end of the message, by reason")
                         .Register(registry);
    auto& signed_total = prometheus::BuildCounter()
                             .Name("signpost_messages_signed_total")
                             .Help("DKIM signatures added to accepted messages, by signing domain and key algorithm")
                             .Register(registry);
    auto& received = prometheus::BuildCounter()
                         .Name("signpost_received_bytes_total")
                         .Help("Message bytes received in DATA and BDAT (after dot-unstuffing), accepted or not")
                         .Register(registry);

    flow_delayed_ = &prometheus::BuildCounter()
                         .Name("signpost_submission_flow_delayed_total")
                         .Help("Messages held back before commit because delivery was not keeping pace ([queue] in_flow_delay)")
                         .Register(registry)
                         .Add({});
    flow_delay_seconds_ = &prometheus::BuildCounter()
                               .Name("signpost_submission_flow_delay_seconds_total")
                               .Help("Time messages were held back by flow control, in seconds")
                               .Register(registry)
                               .Add({});
    inbound_accepted_ = &prometheus::BuildCounter()
                             .Name("signpost_inbound_messages_total")
                             .Help("Messages committed on an MX listener for an [[inbound]] domain")
                             .Register(registry)
                             .Add({});
    auto& refused = prometheus::BuildCounter()
                        .Name("signpost_inbound_clients_refused_total")
                        .Help("Clients refused before the greeting on MX listeners: pregreet (talked first), "
                              "dnsbl (listed), rate (over client_connections_per_hour)")
                        .Register(registry);
    for (const char* r : {"pregreet", "dnsbl", "rate"}) inbound_refused_.emplace(r, &refused.Add({{"reason", r}}));
    auto& greylist = prometheus::BuildCounter()
                         .Name("signpost_inbound_greylist_total")
                         .Help("Greylisting verdicts at RCPT on MX listeners: pass, first (451, new triplet), "
                               "too_early (451, retried before the delay)")
                         .Register(registry);
    for (const char* o : {"pass", "first", "too_early"}) greylist_.emplace(o, &greylist.Add({{"outcome", o}}));
    auto& checks = prometheus::BuildCounter()
                       .Name("signpost_inbound_sender_checks_total")
                       .Help("Sender checks of messages on MX listeners, by method (spf, dkim per signature, "
                             "dmarc) and RFC 8601 result")
                       .Register(registry);
    const std::pair<const char*, std::vector<const char*>> methods[] = {
        {"spf", {"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"}},
        {"dkim", {"none", "pass", "fail", "neutral", "temperror", "permerror", "policy"}},
        {"dmarc", {"none", "pass", "fail", "temperror", "permerror"}}};
    for (const auto& [method, results] : methods)
        for (const char* r : results)
            sender_checks_.emplace(std::string(method) + "=" + r, &checks.Add({{"method", method}, {"result", r}}));
    for (const auto& l : config.listeners)
        connections_.emplace(l.name, &connections.Add({{"listener", l.name}, {"tls", tls_label(l.tls)}}));
    const char* mechanisms[] = {"PLAIN", "LOGIN"};
    for (std::size_t m = 0; m < 2; ++m) {
        auth_[m * 2] = &auth.Add({{"mechanism", mechanisms[m]}, {"result", "ok"}});
        auth_[m * 2 + 1] = &auth.Add({{"mechanism", mechanisms[m]}, {"result", "failed"}});
    }
    accepted_ = &accepted.Add({});
    for (std::size_t r = 0; r < kRefusalCount; ++r)
        rejected_[r] = &rejected.Add({{"reason", to_label(static_cast<Refusal>(r))}});
    for (const auto& d : config.domains)
        signed_.emplace(d.name, std::array<prometheus::Counter*, 2>{
                                    &signed_total.Add({{"domain", d.name}, {"algorithm", "rsa"}}),
                                    &signed_total.Add({{"domain", d.name}, {"algorithm", "ed25519"}})});
    received_bytes_ = &received.Add({});
    signed_family_ = &signed_total;
}

void SubmissionMetrics::connection(const std::string& listener) {
    if (auto it = connections_.find(listener); it != connections_.end()) it->second->Increment();
}

void SubmissionMetrics::auth(AuthMechanism mechanism, bool ok) {
    auth_[(mechanism == AuthMechanism::login ? 2 : 0) + (ok ? 0 : 1)]->Increment();
}

void SubmissionMetrics::accepted() { accepted_->Increment(); }

void SubmissionMetrics::flow_delayed(std::chrono::steady_clock::duration waited) {
    flow_delayed_->Increment();
    flow_delay_seconds_->Increment(std::chrono::duration<double>(waited).count());
}

void SubmissionMetrics::rejected(Refusal reason) { rejected_[static_cast<std::size_t>(reason)]->Increment(); }

void SubmissionMetrics::signed_with(const std::string& domain, signer::KeyType type) {
    if (auto it = signed_.find(domain); it != signed_.end()) {
        it->second[key_index(type)]->Increment();
        return;
    }
    // A signing domain added by a config reload: `domain` comes from the config, so the
    // label set stays bounded. Family::Add returns the existing series after the first.
    signed_family_->Add({{"domain", domain}, {"algorithm", key_index(type) == 0 ? "rsa" : "ed25519"}}).Increment();
}

void SubmissionMetrics::received(std::uint64_t bytes) { received_bytes_->Increment(static_cast<double>(bytes)); }

void SubmissionMetrics::inbound_accepted() { inbound_accepted_->Increment(); }

void SubmissionMetrics::inbound_refused(const char* reason) {
    if (auto it = inbound_refused_.find(std::string_view(reason)); it != inbound_refused_.end()) it->second->Increment();
}

void SubmissionMetrics::greylist(const char* outcome) {
    if (auto it = greylist_.find(std::string_view(outcome)); it != greylist_.end()) it->second->Increment();
}

void SubmissionMetrics::sender_check(const char* method, const std::string& result) {
    if (auto it = sender_checks_.find(std::string(method) + "=" + result); it != sender_checks_.end()) it->second->Increment();
}

}  // namespace signpost::submission
