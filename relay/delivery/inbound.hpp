// relay/delivery/inbound.hpp — mail for [[inbound]] domains goes to their home servers,
// whatever [delivery] mode carries everything else.
//
// What it does: InboundDeliverer wraps the deliverer made for [delivery] mode (the "main"
// one) and owns one deliverer per [[inbound]] entry — in the daemon a SmarthostDeliverer to
// the entry's `deliver_to` (make_home_server_deliverer()), so STARTTLS or implicit TLS is
// required, AUTH is used when `deliver_credentials_file` is set, and the certificate is
// either pinned (`deliver_fingerprint`, self-signed home servers) or verified against the
// CAs and the host name. Per job, each recipient is routed by its domain (the part after
// the last '@', case-insensitive, a trailing dot ignored; exact match, no subdomains): an
// inbound domain's recipients to that domain's deliverer, all others to the main one. A
// job that goes to one deliverer only is handed on unchanged; otherwise it is split into
// sub-jobs (same message file, size, prepend and flags), and `done` gets one result per
// recipient in the job's order once every sub-job is done. Each sub-job gets the job's
// `progress`; when a sub-job finishes while others are still out, what it delivered is
// reported through `progress` at once (as MxDeliverer does per domain).
//
// Unreachable alert, per inbound domain (checked whenever a delivery to its home server
// ends; there is no timer: with nothing to deliver nobody waits):
//   - a delivery "reached" the home server when some recipient was delivered or has a
//     reply code (code != 0: the server answered a command of ours, 4xx/5xx included);
//   - it "did not reach" it when every recipient is temporary, with code 0 and one of our
//     own enhanced codes 4.4.x (no address, connection refused or timed out, connection
//     lost before a reply) or 4.7.5 (TLS handshake failed, certificate or pin refused);
//   - anything else (4.3.x local trouble such as an unreadable message file, 4.7.4 no
//     STARTTLS, our own permanent verdicts) and every result after stop() changes nothing.
// The first delivery that does not reach the server starts the clock; when one ends at
// least `unreachable_alert` later (0 = never), one warning is logged ("home server X for
// domain D unreachable since T") and on_unreachable(D, true) is called, once. The next
// delivery that reaches the server logs one info line and calls on_unreachable(D, false)
// (after an alert only) and starts over.
//
// Deliberately not done: MX lookup or MTA-STS for inbound domains (deliver_to is the
// operator's own server); recipient checks (the MX listener did them at RCPT).
//
// Untrusted input: none here; remote text in results is passed on, never parsed (the
// alert looks only at outcomes, reply codes and our own enhanced codes when code is 0).
// Threading: deliver() and stop() from any thread. Sub-jobs' `done` and `progress` may
// come on different threads: the merge and the alert state are behind mutexes; `done` is
// called exactly once, on the thread of the last sub-job to finish, after every
// `progress` call. on_unreachable is called with the alert state's lock held, so that
// true and false for a domain arrive in order: it must not call back into the deliverer.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "config/config.hpp"
#include "relay/delivery/deliverer.hpp"
#include "relay/delivery/smarthost.hpp"
#include "relay/log/log.hpp"

namespace signpost::delivery {

struct InboundOptions {
    // See the header: (domain, true) after unreachable_alert without reaching its home
    // server, (domain, false) when it is reached again. Optional.
    std::function<void(const std::string& domain, bool unreachable)> on_unreachable;
    // The wall clock for the alert (tests inject one); default system_clock::now.
    std::function<std::chrono::system_clock::time_point()> now;
};

class InboundDeliverer final : public Deliverer {
public:
    // Makes the deliverer for entry `index` of the [[inbound]] list.
    using DomainFactory =
        std::function<std::unique_ptr<Deliverer>(const config::InboundConfig& entry, std::size_t index)>;

    // `main` carries every recipient of no inbound domain. `make_domain` is called once per
    // entry, in order (what it throws propagates); a null result throws
    // std::runtime_error. Entries whose domain appeared before are ignored.
    InboundDeliverer(std::unique_ptr<Deliverer> main, std::vector<config::InboundConfig> inbound,
                     const DomainFactory& make_domain, InboundOptions options = {}, log::Logger logger = nullptr);
    ~InboundDeliverer() override;

    void deliver(Job job, DoneHandler done) override;
    // Stops the main deliverer and every home server's; results after this do not move
    // the unreachable alert.
    void stop() override;

    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    // The [[inbound]] entry that takes `recipient` (index into the list given), or npos.
    std::size_t route(const std::string& recipient) const;

private:
    struct Alerts;
    std::unique_ptr<Deliverer> main_;
    std::vector<config::InboundConfig> inbound_;
    std::vector<std::unique_ptr<Deliverer>> domains_;  // one per inbound_ entry; null for duplicates
    std::shared_ptr<Alerts> alerts_;  // shared with results still to come after destruction
    log::Logger log_;
};

// The DeliveryConfig of the SmarthostDeliverer for an [[inbound]] entry: mode smarthost,
// smarthost = deliver_to, smarthost_tls = deliver_tls, smarthost_credentials_file =
// deliver_credentials_file, extra_ca_file = [delivery] extra_ca_file; the rest default.
config::DeliveryConfig home_server_delivery_config(const config::InboundConfig& entry,
                                                   const config::DeliveryConfig& delivery);

// The SmarthostDeliverer for entry `index` of config.inbound ([server] hostname for EHLO;
// deliver_fingerprint, when set, pinned). Throws std::runtime_error naming the key:
// "inbound[N].deliver_credentials_file: ...", "inbound[N].deliver_fingerprint: ...",
// "delivery.extra_ca_file: ...".
std::unique_ptr<SmarthostDeliverer> make_home_server_deliverer(const config::Config& config, std::size_t index,
                                                               boost::asio::any_io_executor io,
                                                               log::Logger logger = nullptr);

}  // namespace signpost::delivery
