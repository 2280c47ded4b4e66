// relay/delivery/factory.hpp — picks the Deliverer for `[delivery] mode`.
//
// smarthost -> SmarthostDeliverer (io executor; [server] hostname for EHLO);
// capture   -> CaptureDeliverer (blocking executor for its file work);
// mx        -> MxDeliverer over the libunbound resolver ([dns]) and, when [mta_sts]
//              enabled, the MTA-STS policy store; the client TLS context trusts the system
//              CAs plus [delivery] extra_ca_file.
// Any construction error (credentials file, CA file, missing smarthost) gives nullptr and
// `error` naming the key or file.
//
// Untrusted input: none. Threading: call from the daemon's wiring.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "config/config.hpp"
#include "relay/delivery/deliverer.hpp"
#include "relay/delivery/mx.hpp"
#include "relay/log/log.hpp"

namespace signpost::delivery {

// `on_mx_attempt` (mode mx) is told about every session's policy and result (metrics).
std::unique_ptr<Deliverer> make_deliverer(const config::Config& config, boost::asio::any_io_executor io,
                                          boost::asio::any_io_executor blocking, log::Logger logger,
                                          std::string& error,
                                          std::function<void(const MxAttempt&)> on_mx_attempt = {});

}  // namespace signpost::delivery
