// relay/delivery/inbound.cpp — [[inbound]] domains' mail to their home servers (see
// inbound.hpp).
#include "relay/delivery/inbound.hpp"

#include <ctime>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include <spdlog/sinks/null_sink.h>

#include "relay/delivery/mx.hpp"

namespace signpost::delivery {
namespace {

using SystemClock = std::chrono::system_clock;

std::string lower_domain(std::string d) {
    for (char& c : d)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    while (!d.empty() && d.back() == '.') d.pop_back();
    return d;
}

// "2026-11-23T11:00:00Z"
std::string utc(SystemClock::time_point t) {
    const std::time_t tt = SystemClock::to_time_t(t);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char buf[32];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(buf, n);
}

// Whether a finished delivery reached the home server (the rule is in inbound.hpp).
enum class Reach { reached, not_reached, unknown };

Reach classify(const std::vector<RecipientResult>& results) {
    if (results.empty()) return Reach::unknown;
    bool none_reached = true;
    for (const auto& r : results) {
        if (r.outcome == Outcome::delivered || r.code != 0) return Reach::reached;
        // With code 0 the enhanced code is ours (smtp_session.hpp, smarthost.cpp).
        const bool network = r.enhanced.rfind("4.4.", 0) == 0 || r.enhanced == "4.7.5";
        if (r.outcome != Outcome::temporary || !network) none_reached = false;
    }
    return none_reached ? Reach::not_reached : Reach::unknown;
}

// One split job: the results of its sub-jobs, put back in the job's recipient order.
struct Merge {
    std::mutex mutex;
    std::vector<std::string> recipients;             // the job's, in order
    std::vector<std::vector<std::size_t>> members;   // per sub-job: its recipients' indexes
    std::vector<RecipientResult> results;            // per recipient
    std::vector<bool> filled;                        // per recipient
    std::vector<bool> finished;                      // per sub-job: its `done` came
    std::size_t unfinished = 0;                      // sub-jobs whose results are not in yet
    std::size_t pending = 0;                         // sub-jobs whose `done` has not returned here
    std::function<void(std::vector<RecipientResult>)> progress;
    DoneHandler done;
    log::Logger log;

    void finish(std::size_t sub, std::vector<RecipientResult> got) {
        std::vector<RecipientResult> delivered;
        {
            std::lock_guard lock(mutex);
            if (finished[sub]) {
                log->error("a deliverer called done twice for one job; the second call is ignored");
                return;
            }
            finished[sub] = true;
            const auto& mine = members[sub];
            for (auto& r : got) {
                bool placed = false;
                for (std::size_t i : mine) {
                    if (filled[i] || recipients[i] != r.address) continue;
                    results[i] = std::move(r);
                    filled[i] = true;
                    placed = true;
                    break;
                }
                if (!placed) log->error("a deliverer reported <{}>, which is not in its job", r.address);
            }
            for (std::size_t i : mine) {
                if (filled[i]) continue;
                // A deliverer bug; keep the message: temporary.
                log->error("a deliverer gave no result for <{}>", recipients[i]);
                RecipientResult r;
                r.address = recipients[i];
                r.outcome = Outcome::temporary;
                r.enhanced = "4.3.0";
                r.text = "internal error: no result from the deliverer";
                results[i] = std::move(r);
                filled[i] = true;
            }
            // Other sub-jobs may take minutes: what this one delivered is made durable now.
            if (--unfinished > 0 && progress)
                for (std::size_t i : mine)
                    if (results[i].outcome == Outcome::delivered) delivered.push_back(results[i]);
        }
        // Before `pending` counts this sub-job done, so `done` never overtakes it.
        if (!delivered.empty()) progress(std::move(delivered));
        std::vector<RecipientResult> out;
        DoneHandler handler;
        {
            std::lock_guard lock(mutex);
            if (--pending != 0) return;
            out = std::move(results);
            handler = std::move(done);
        }
        handler(std::move(out));
    }
};

// Maps the SmarthostDeliverer's key names to the [[inbound]] entry's.
std::string rename_key(std::string what, const std::string& entry) {
    static const std::pair<std::string_view, std::string_view> renames[] = {
        {"delivery.smarthost_credentials_file:", ".deliver_credentials_file:"},
        {"delivery.smarthost:", ".deliver_to:"},
    };
    for (const auto& [from, to] : renames)
        if (what.rfind(from, 0) == 0) return entry + std::string(to) + what.substr(from.size());
    return what;
}

}  // namespace

// The unreachable alert's state (inbound.hpp); outlives the deliverer while results come.
struct InboundDeliverer::Alerts {
    struct Domain {
        std::string name;
        std::string home;  // deliver_to, for the log
        config::Duration alert{0};
        std::optional<SystemClock::time_point> since;  // first delivery that did not reach it
        bool alerted = false;
    };

    std::mutex mutex;
    std::vector<Domain> domains;  // parallel to inbound_
    bool stopping = false;
    InboundOptions options;
    log::Logger log;

    void observe(std::size_t index, const std::vector<RecipientResult>& results) {
        const Reach reach = classify(results);
        if (reach == Reach::unknown) return;
        std::lock_guard lock(mutex);
        if (stopping) return;  // "delivery stopped" says nothing about the server
        Domain& d = domains[index];
        const SystemClock::time_point now = options.now();
        if (reach == Reach::reached) {
            if (d.alerted) {
                log->info("home server {} for domain {} reachable again (unreachable since {})", d.home, d.name,
                          utc(*d.since));
                if (options.on_unreachable) options.on_unreachable(d.name, false);
            }
            d.since.reset();
            d.alerted = false;
            return;
        }
        if (!d.since) d.since = now;
        if (d.alerted || d.alert.count() == 0 || now - *d.since < d.alert) return;
        d.alerted = true;
        log->warn("home server {} for domain {} unreachable since {} (unreachable_alert {}): {}", d.home, d.name,
                  utc(*d.since), config::format_duration(d.alert), results.front().text);
        if (options.on_unreachable) options.on_unreachable(d.name, true);
    }
};

InboundDeliverer::InboundDeliverer(std::unique_ptr<Deliverer> main, std::vector<config::InboundConfig> inbound,
                                   const DomainFactory& make_domain, InboundOptions options, log::Logger logger)
    : main_(std::move(main)), inbound_(std::move(inbound)), alerts_(std::make_shared<Alerts>()) {
    if (!main_) throw std::runtime_error("inbound: no deliverer for [delivery]");
    log_ = logger ? std::move(logger)
                  : log::make_root(std::make_shared<spdlog::sinks::null_sink_mt>(), config::LogFormat::text,
                                   config::LogLevel::off);
    if (!options.now) options.now = [] { return SystemClock::now(); };
    alerts_->options = std::move(options);
    alerts_->log = log_;
    for (std::size_t i = 0; i < inbound_.size(); ++i) {
        config::InboundConfig& entry = inbound_[i];
        entry.domain = lower_domain(entry.domain);
        bool duplicate = false;
        for (std::size_t j = 0; j < i; ++j) duplicate = duplicate || inbound_[j].domain == entry.domain;
        alerts_->domains.push_back(Alerts::Domain{entry.domain, entry.deliver_to.to_string(), entry.unreachable_alert,
                                                  std::nullopt, false});
        if (duplicate || entry.domain.empty()) {
            domains_.push_back(nullptr);
            continue;
        }
        auto d = make_domain(entry, i);
        if (!d) throw std::runtime_error("inbound[" + std::to_string(i) + "]: no deliverer for " + entry.domain);
        domains_.push_back(std::move(d));
    }
}

InboundDeliverer::~InboundDeliverer() = default;

std::size_t InboundDeliverer::route(const std::string& recipient) const {
    const std::string domain = recipient_domain(recipient);
    if (domain.empty()) return npos;
    for (std::size_t i = 0; i < inbound_.size(); ++i)
        if (domains_[i] && inbound_[i].domain == domain) return i;
    return npos;
}

void InboundDeliverer::deliver(Job job, DoneHandler done) {
    // The route of each recipient: an inbound_ index, or inbound_.size() for main_.
    const std::size_t main_route = inbound_.size();
    std::vector<std::size_t> routes;   // per recipient
    std::vector<std::size_t> targets;  // distinct routes, in order of first appearance
    for (const auto& r : job.recipients) {
        std::size_t t = route(r);
        if (t == npos) t = main_route;
        routes.push_back(t);
        bool seen = false;
        for (std::size_t x : targets) seen = seen || x == t;
        if (!seen) targets.push_back(t);
    }

    if (targets.size() <= 1) {
        const std::size_t t = targets.empty() ? main_route : targets.front();
        if (t == main_route) {
            main_->deliver(std::move(job), std::move(done));
            return;
        }
        auto observed = [alerts = alerts_, t, done = std::move(done)](std::vector<RecipientResult> r) {
            alerts->observe(t, r);
            done(std::move(r));
        };
        domains_[t]->deliver(std::move(job), std::move(observed));
        return;
    }

    auto merge = std::make_shared<Merge>();
    merge->recipients = job.recipients;
    merge->results.resize(job.recipients.size());
    merge->filled.assign(job.recipients.size(), false);
    merge->members.resize(targets.size());
    merge->finished.assign(targets.size(), false);
    merge->unfinished = targets.size();
    merge->pending = targets.size();
    merge->progress = job.progress;
    merge->done = std::move(done);
    merge->log = log::with_id(log_, job.queue_id.empty() ? "-" : job.queue_id);
    std::vector<Job> subs;
    for (std::size_t k = 0; k < targets.size(); ++k) {
        Job sub = job;  // same message file, size, prepend, flags and progress
        sub.recipients.clear();
        for (std::size_t i = 0; i < routes.size(); ++i) {
            if (routes[i] != targets[k]) continue;
            merge->members[k].push_back(i);
            sub.recipients.push_back(job.recipients[i]);
        }
        if (targets[k] == main_route)
            merge->log->debug("{} recipient(s) to [delivery]", sub.recipients.size());
        else
            merge->log->debug("{} recipient(s) to home server {} of {}", sub.recipients.size(),
                              inbound_[targets[k]].deliver_to.to_string(), inbound_[targets[k]].domain);
        subs.push_back(std::move(sub));
    }
    // Every sub-job is set up before the first goes out: one may finish inside deliver().
    for (std::size_t k = 0; k < targets.size(); ++k) {
        const std::size_t t = targets[k];
        Deliverer& d = t == main_route ? *main_ : *domains_[t];
        d.deliver(std::move(subs[k]), [merge, alerts = alerts_, k, t, main_route](std::vector<RecipientResult> r) {
            if (t != main_route) alerts->observe(t, r);
            merge->finish(k, std::move(r));
        });
    }
}

void InboundDeliverer::stop() {
    {
        std::lock_guard lock(alerts_->mutex);
        alerts_->stopping = true;
    }
    main_->stop();
    for (auto& d : domains_)
        if (d) d->stop();
}

config::DeliveryConfig home_server_delivery_config(const config::InboundConfig& entry,
                                                   const config::DeliveryConfig& delivery) {
    config::DeliveryConfig d;
    d.mode = config::DeliveryMode::smarthost;
    d.smarthost = entry.deliver_to;
    d.smarthost_tls = entry.deliver_tls;
    d.smarthost_credentials_file = entry.deliver_credentials_file;
    d.extra_ca_file = delivery.extra_ca_file;
    return d;
}

std::unique_ptr<SmarthostDeliverer> make_home_server_deliverer(const config::Config& config, std::size_t index,
                                                               boost::asio::any_io_executor io, log::Logger logger) {
    const std::string key = "inbound[" + std::to_string(index) + "]";
    if (index >= config.inbound.size()) throw std::runtime_error(key + ": no such entry");
    const config::InboundConfig& entry = config.inbound[index];
    std::unique_ptr<SmarthostDeliverer> d;
    try {
        d = std::make_unique<SmarthostDeliverer>(home_server_delivery_config(entry, config.delivery),
                                                 config.server.hostname, std::move(io), std::move(logger));
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(rename_key(e.what(), key));
    }
    if (!entry.deliver_fingerprint.empty()) {
        try {
            d->pin_certificate(entry.deliver_fingerprint);
        } catch (const std::runtime_error&) {
            throw std::runtime_error(key + ".deliver_fingerprint: not a SHA-256 fingerprint (64 hex digits)");
        }
    }
    return d;
}

}  // namespace signpost::delivery
