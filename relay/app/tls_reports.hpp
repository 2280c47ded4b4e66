// relay/app/tls_reports.hpp — the daemon's TLS reporting ([tls_rpt], RFC 8460): the event
// store delivery writes to, and the daily sender whose mailto: reports go through the
// queue like Signpost's own DSNs (DKIM-signed for the From domain, committed, enqueued).
//
// Threading: make_tls_report_sender's queue_mail runs on the sender's strand; the spool
// and the manager are thread-safe.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "config/config.hpp"
#include "keys/store.hpp"
#include "relay/log/log.hpp"
#include "relay/queue/manager.hpp"
#include "relay/queue/spool.hpp"
#include "relay/tlsrpt/sender.hpp"
#include "relay/tlsrpt/store.hpp"

namespace signpost::app {

// The sender, started; throws std::runtime_error when the resolver or the TLS context for
// https: reports cannot be set up.
std::shared_ptr<tlsrpt::Sender> start_tls_report_sender(boost::asio::any_io_executor io,
                                                         std::shared_ptr<const config::Config> cfg,
                                                         std::shared_ptr<tlsrpt::Store> store,
                                                         std::shared_ptr<keys::KeyStore> keys,
                                                         std::shared_ptr<queue::Spool> spool,
                                                         std::shared_ptr<queue::Manager> manager, log::Logger logger);

}  // namespace signpost::app
