// relay/delivery/mx.hpp — direct delivery to each recipient domain's MX hosts
// ([delivery] mode = "mx").
//
// Per job, recipients are grouped by domain; each domain gets one transaction (several
// recipients of one domain share it). For a domain:
//   1. its MTA-STS policy (relay/mtasts), when [mta_sts] enabled;
//   2. MX lookup (RFC 5321 §5.1): hosts in preference order, random among equal
//      preference; no MX records (NODATA) -> the domain itself (implicit MX); a null MX
//      (RFC 7505, "MX 0 .") -> permanent 5.1.10; NXDOMAIN -> permanent 5.1.2; SERVFAIL or
//      timeout -> temporary 4.4.3;
//   3. per MX host, its addresses (AAAA then A) and, when the MX answer was DNSSEC-secure
//      (or the host is a [[route]]'s) and [dns] dnssec is on, its TLSA records
//      (dane_lookup.hpp);
//   4. the TLS decision (tls_policy.hpp): DANE first; under MTA-STS enforce an unlisted
//      host without DANE is skipped, and a host whose DANE lookup failed is skipped; when
//      none is left the domain is deferred (4.7.5), never sent elsewhere;
//   5. each address tried in turn (at most max_addresses per domain) until a session
//      gives answers of its own (SessionResult::try_next false);
//   6. under MTA-STS testing, what enforce would have refused is logged and counted.
// Every attempt logs the policy that applied, the TLS version and the certificate check
// (for DANE, the TLSA record that matched).
//
// A job's recipient domains are delivered at once (at most 8 at a time), each as above, so
// a slow or stalled domain does not hold back the others; what one accepted is reported
// through Job::progress while others are still being tried, and the results come in domain
// order. stop() reaches every domain's session.
//
// Bounds: at most max_per_domain sessions to one domain at once (others wait); at most 8
// domains of one job at once; the queue manager bounds the jobs in flight.
//
// Connections are kept for further messages to the same MX host (connection_pool.hpp:
// keyed by address, host name and TLS policy, RSET before reuse, 30 s idle).
//
// A [[route]] for the domain replaces the MX lookup by its host (when set) and its tls
// setting outranks MTA-STS (tls_policy.hpp).
//
// Untrusted input: DNS answers and MTA-STS policies (parsed by their modules), the remote
// SMTP servers (relay/delivery/smtp_session).
// Threading: deliver()/stop() from any thread; each job runs as a coroutine on its own
// strand; `done` is called on that strand.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include "relay/delivery/deliverer.hpp"
#include "relay/delivery/smtp_session.hpp"
#include "relay/dns/dnssec_probe.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/log/log.hpp"
#include "relay/mtasts/mtasts.hpp"
#include "relay/tlsrpt/tlsrpt.hpp"

namespace signpost::delivery {

// The MX hosts to try for a domain, in order (pure; the random source orders equal
// preferences).
struct MxPlan {
    bool null_mx = false;             // RFC 7505: the domain accepts no mail
    bool implicit = false;            // no MX records: the domain itself (RFC 5321 §5.1)
    std::vector<std::string> hosts;
};
MxPlan plan_mx(const std::vector<dns::MxRecord>& records, const std::string& domain, std::mt19937_64& rng);

// The domain part of an address, lower-cased ("" when there is none).
std::string recipient_domain(const std::string& address);

struct MxOptions {
    std::string helo_name;
    std::uint16_t port = 25;             // [delivery] mx_port (tests use another)
    std::size_t max_per_domain = 10;
    std::size_t max_addresses = 10;      // per domain and attempt
    SessionTimeouts timeouts;
    std::vector<config::RouteConfig> routes;  // [[route]]: next hop and/or TLS per domain
    bool dane = false;  // [dns] dnssec: answers are validated, so TLSA records can be used
    bool honor_tls_required = true;  // [delivery] honor_tls_required ("TLS-Required: No")
    // With dane: the trust anchor's zone, probed at start and every 10 minutes
    // (relay/dns/dnssec_probe.hpp); the state is logged when it changes and reported here.
    std::string dnssec_probe_zone;
    std::function<void(const dns::DnssecProbe&)> on_dnssec_probe;  // may be empty
    // Every session and policy refusal, for TLS reports (tls_report_events.hpp); may be
    // empty; called on job strands.
    std::function<void(const tlsrpt::SessionEvent&)> on_tls_report;
    std::function<void(const SessionAttempt&)> on_attempt;  // may be empty; called on job strands
};

struct MxCounters {
    std::atomic<std::uint64_t> sessions{0};
    std::atomic<std::uint64_t> dane_refusals{0};       // hosts not contacted or refused for DANE
    std::atomic<std::uint64_t> testing_violations{0};  // MTA-STS testing: enforce would refuse
    std::atomic<std::uint64_t> enforce_refusals{0};    // enforce: deferred for policy reasons
};

class MxDeliverer final : public Deliverer {
public:
    // `policies` may be null (MTA-STS disabled). `tls` is the client context (system CAs
    // plus [delivery] extra_ca_file) for verified sessions; `tls_opportunistic` (null: `tls`)
    // is the broader one for opportunistic sessions: TLS 1.2/1.3 at OpenSSL security level
    // 1, so the older key sizes and cipher suites public MX hosts still offer do not make a
    // handshake fail (which would defer the mail: it is never resent in plaintext).
    MxDeliverer(boost::asio::any_io_executor io, std::shared_ptr<dns::Resolver> resolver,
                std::shared_ptr<mtasts::PolicyStore> policies, std::shared_ptr<boost::asio::ssl::context> tls,
                MxOptions options, log::Logger logger,
                std::shared_ptr<boost::asio::ssl::context> tls_opportunistic = nullptr);
    ~MxDeliverer() override;

    void deliver(Job job, DoneHandler done) override;
    void stop() override;
    const MxCounters& counters() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace signpost::delivery
