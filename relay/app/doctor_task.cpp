// relay/app/doctor_task.cpp — the daemon's daily doctor run (see doctor_task.hpp).
#if defined(__GNUC__) && !defined(__clang__)
// A false positive of GCC 12 on awaitable frames (see relay/delivery/mx.cpp).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "relay/app/doctor_task.hpp"

#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "relay/doctor/render.hpp"
#include "relay/doctor/run.hpp"

namespace signpost::app {

namespace asio = boost::asio;

DoctorTask::DoctorTask(asio::any_io_executor io, std::shared_ptr<const config::Config> cfg,
                       std::shared_ptr<keys::KeyStore> store, prometheus::Registry& registry, log::Logger logger)
    : strand_(asio::make_strand(io)),
      cfg_(cfg),
      store_(std::move(store)),
      resolver_(dns::make_unbound_resolver(io, cfg->dns)),
      checks_(prometheus::BuildGauge()
                  .Name("signpost_doctor_check")
                  .Help("Worst status of each `signpost doctor` check at the last daily run, per check and sending "
                        "domain (\"\" = the relay host): 0 ok, 1 warn, 2 fail, -1 skipped")
                  .Register(registry)),
      last_run_(prometheus::BuildGauge()
                    .Name("signpost_doctor_last_run_timestamp_seconds")
                    .Help("When the daemon last ran the doctor checks, in seconds since the Unix epoch")
                    .Register(registry)
                    .Add({})),
      log_(std::move(logger)),
      timer_(strand_) {}

void DoctorTask::start() {
    asio::co_spawn(strand_, [self = shared_from_this()]() { return self->loop(); }, [](std::exception_ptr) {});
}

void DoctorTask::set_config(std::shared_ptr<const config::Config> cfg) { cfg_.store(std::move(cfg)); }

void DoctorTask::stop() {
    stopped_ = true;
    asio::post(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
}

asio::awaitable<void> DoctorTask::loop() {
    while (!stopped_) {
        std::shared_ptr<const config::Config> cfg = cfg_.load();
        doctor::RunOptions options;
        options.dns_only = true;
        options.now = std::chrono::system_clock::now();
        doctor::Report report = co_await doctor::run_doctor(*resolver_, *cfg, *store_, options);
        if (stopped_) break;
        publish(report.checks);
        if (cfg->doctor.interval.count() <= 0) break;
        timer_.expires_after(cfg->doctor.interval);
        boost::system::error_code ec;
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

void DoctorTask::publish(const std::vector<doctor::Check>& checks) {
    doctor::Report report;
    report.checks = checks;
    auto worst = doctor::worst_by_check(report);
    // Logs: every (check, domain) whose status changed, each with the checks behind it.
    int bad = 0;
    for (const auto& [key, status] : worst) {
        auto prev = last_.find(key);
        const bool bad_now = status == doctor::Status::warn || status == doctor::Status::fail;
        // New pairs are news when they are bad (at the first run: every bad one).
        const bool changed = prev == last_.end() ? bad_now : prev->second != status;
        if (bad_now) ++bad;
        if (!changed) continue;
        for (const auto& c : checks) {
            if (c.id != key.first || c.domain != key.second || c.status != status) continue;
            std::string where = c.domain.empty() ? std::string("relay host") : c.domain;
            std::string was = prev == last_.end() ? std::string() : std::string(" (was ") + to_string(prev->second) + ")";
            std::string fix = c.fix;
            for (auto& ch : fix)
                if (ch == '\n') ch = ' ';
            if (!bad_now)
                log_->info("doctor: {} {}{}: {}{}: {}", where, c.id, c.subject.empty() ? "" : " " + c.subject,
                           to_string(status), was, c.evidence);
            else
                log_->warn("doctor: {} {}{}: {}{}: {}{}", where, c.id, c.subject.empty() ? "" : " " + c.subject,
                           to_string(status), was, c.evidence, fix.empty() ? "" : " — fix: " + fix);
        }
    }
    if (first_run_)
        log_->info("doctor: {} check{} with warnings or failures ({} checked); `signpost doctor` shows every fix", bad,
                   bad == 1 ? "" : "s", worst.size());
    // Metrics: set what was checked, drop what no longer is.
    for (auto it = gauges_.begin(); it != gauges_.end();) {
        if (!worst.count(it->first)) {
            checks_.Remove(it->second);
            it = gauges_.erase(it);
        } else {
            ++it;
        }
    }
    for (const auto& [key, status] : worst) {
        auto it = gauges_.find(key);
        if (it == gauges_.end())
            it = gauges_.emplace(key, &checks_.Add({{"check", key.first}, {"domain", key.second}})).first;
        it->second->Set(doctor::metric_value(status));
    }
    last_run_.Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    last_ = std::move(worst);
    first_run_ = false;
}

}  // namespace signpost::app
