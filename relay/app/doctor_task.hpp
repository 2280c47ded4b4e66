// relay/app/doctor_task.hpp — the daemon's daily doctor run ([doctor] interval).
//
// At start and then every interval, runs the DNS checks of `signpost doctor` (DKIM, SPF,
// DMARC, posture of every [[domain]], FCrDNS) and the certificate check — never the ones
// that connect out — and:
//   - sets signpost_doctor_check{check,domain} to the worst status of each check id per
//     domain ("" for the relay host): 0 ok, 1 warn, 2 fail, -1 skipped; pairs that are no
//     longer checked are removed;
//   - sets signpost_doctor_last_run_timestamp_seconds;
//   - logs every check whose status changed (at the first run: every warn and fail), with
//     its evidence and fix, so that a record that disappears is noticed before mail bounces.
// A SIGHUP's new configuration (new domains, addresses) is used from the next run.
//
// Threading: runs on its own strand of the daemon's io_context; set_config and stop from
// any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "config/config.hpp"
#include "keys/store.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/doctor/check.hpp"
#include "relay/log/log.hpp"

namespace signpost::app {

class DoctorTask : public std::enable_shared_from_this<DoctorTask> {
public:
    // Throws std::runtime_error when the resolver cannot be set up.
    DoctorTask(boost::asio::any_io_executor io, std::shared_ptr<const config::Config> cfg,
               std::shared_ptr<keys::KeyStore> store, prometheus::Registry& registry, log::Logger logger);

    void start();
    void set_config(std::shared_ptr<const config::Config> cfg);
    void stop();

private:
    boost::asio::awaitable<void> loop();
    void publish(const std::vector<doctor::Check>& checks);

    boost::asio::strand<boost::asio::any_io_executor> strand_;
    std::atomic<std::shared_ptr<const config::Config>> cfg_;
    std::shared_ptr<keys::KeyStore> store_;
    std::shared_ptr<dns::Resolver> resolver_;
    prometheus::Family<prometheus::Gauge>& checks_;
    prometheus::Gauge& last_run_;
    log::Logger log_;
    boost::asio::steady_timer timer_;
    std::atomic<bool> stopped_{false};
    // Strand only: the last run's worst status per (check, domain), and the gauges set.
    bool first_run_ = true;
    std::map<std::pair<std::string, std::string>, doctor::Status> last_;
    std::map<std::pair<std::string, std::string>, prometheus::Gauge*> gauges_;
};

}  // namespace signpost::app
