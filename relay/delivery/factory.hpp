// relay/delivery/factory.hpp — picks the Deliverer for `[delivery] mode`.
//
// smarthost -> SmarthostDeliverer (io executor; [server] hostname for EHLO);
// capture   -> CaptureDeliverer (blocking executor for its file work);
// mx        -> MxDeliverer over the libunbound resolver ([dns]) and, when [mta_sts]
//              enabled, the MTA-STS policy store; the client TLS context trusts the system
//              CAs plus [delivery] extra_ca_file.
// With [[inbound]] entries, that deliverer is wrapped in an InboundDeliverer (inbound.hpp):
// each inbound domain's recipients go to its home server (deliver_to) through a
// SmarthostDeliverer of its own, whatever the mode; their sessions are reported to
// `events.session` too (policy "smarthost").
// Any construction error (credentials file, CA file, missing smarthost, an inbound entry's
// deliver_credentials_file or deliver_fingerprint) gives nullptr and `error` naming the key
// or file ("inbound[N].deliver_credentials_file: ...").
//
// Untrusted input: none. Threading: call from the daemon's wiring.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "config/config.hpp"
#include "relay/delivery/deliverer.hpp"
#include "relay/delivery/mx.hpp"
#include "relay/log/log.hpp"
#include "relay/mtasts/mtasts.hpp"

namespace signpost::delivery {

// What the deliverers tell the daemon (metrics); any of it may be empty.
struct DeliveryEvents {
    // Every outbound session (modes mx and smarthost): the TLS policy and the result.
    std::function<void(const SessionAttempt&)> session;
    mtasts::StoreEvents mta_sts;  // mode mx with [mta_sts] enabled
    // Mode mx with [dns] dnssec: each DNSSEC path probe (relay/dns/dnssec_probe.hpp).
    std::function<void(const dns::DnssecProbe&)> dnssec;
    // Mode mx: every session and policy refusal, for TLS reports ([tls_rpt] enabled).
    std::function<void(const tlsrpt::SessionEvent&)> tls_report;
    // [[inbound]]: (domain, true) when its home server has not been reached for its
    // unreachable_alert, (domain, false) when it is reached again (inbound.hpp).
    std::function<void(const std::string&, bool)> inbound_unreachable;
};

std::unique_ptr<Deliverer> make_deliverer(const config::Config& config, boost::asio::any_io_executor io,
                                          boost::asio::any_io_executor blocking, log::Logger logger,
                                          std::string& error, DeliveryEvents events = {});

}  // namespace signpost::delivery
