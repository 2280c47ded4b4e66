// relay/queue/manager.cpp — scheduling and outcome handling (see manager.hpp).
#include "relay/queue/manager.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "relay/queue/dsn.hpp"

namespace signpost::queue {
namespace asio = boost::asio;
using delivery::Outcome;

// Metric families, declared where they are counted. Label values: a closed set.
struct QueueMetrics {
    explicit QueueMetrics(prometheus::Registry& r)
        : messages(prometheus::BuildGauge()
                       .Name("signpost_queue_messages")
                       .Help("Messages in the queue (waiting, held or being delivered)")
                       .Register(r)
                       .Add({})),
          oldest_age(prometheus::BuildGauge()
                         .Name("signpost_queue_oldest_message_age_seconds")
                         .Help("Seconds since the oldest message in the queue arrived; 0 when the queue is empty")
                         .Register(r)
                         .Add({})),
          recipients(prometheus::BuildCounter()
                         .Name("signpost_delivery_recipients_total")
                         .Help("Recipient delivery outcomes: delivered, deferred (a temporary failure, retried) or "
                               "bounced (failed permanently, expired or returned by the administrator)")
                         .Register(r)),
          delivered(recipients.Add({{"result", "delivered"}})),
          deferred(recipients.Add({{"result", "deferred"}})),
          bounced(recipients.Add({{"result", "bounced"}})),
          latency(prometheus::BuildHistogram()
                      .Name("signpost_delivery_latency_seconds")
                      .Help("Seconds from a message's acceptance to its delivery, per delivered recipient")
                      .Register(r)
                      .Add({}, prometheus::Histogram::BucketBoundaries{0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600,
                                                                       12 * 3600, 86400})) {}
    prometheus::Gauge& messages;
    prometheus::Gauge& oldest_age;
    prometheus::Family<prometheus::Counter>& recipients;
    prometheus::Counter& delivered;
    prometheus::Counter& deferred;
    prometheus::Counter& bounced;
    prometheus::Histogram& latency;
};

namespace {

constexpr Clock::time_point kNow{};  // next_attempt at the epoch: as soon as possible
constexpr std::chrono::seconds kClockStep{2};  // a change of the system clock this large is a step

std::string describe(const Recipient& r) {
    std::string out;
    if (r.reply_code) out += std::to_string(r.reply_code) + ' ';
    if (!r.enhanced.empty()) out += r.enhanced + ' ';
    out += r.reply_text;
    return out;
}

}  // namespace

// What the disk side of settle() did, carried back to the strand.
struct SettleOutcome {
    Envelope env;
    bool removed = false;
    bool unreported = false;  // a failure DSN is still owed (could not be queued)
    int failure_dsns = 0;
    int delay_dsns = 0;
    std::vector<Envelope> new_messages;
};

Manager::Manager(asio::any_io_executor io, asio::any_io_executor blocking, std::shared_ptr<Spool> spool,
                 std::shared_ptr<delivery::Deliverer> deliverer, ManagerOptions options, log::Logger logger)
    : strand_(asio::make_strand(io)),
      blocking_(std::move(blocking)),
      spool_(std::move(spool)),
      deliverer_(std::move(deliverer)),
      options_(std::move(options)),
      log_(std::move(logger)),
      timer_(strand_),
      removal_timer_(strand_) {
    if (options_.registry) metrics_ = std::make_unique<QueueMetrics>(*options_.registry);
}

Manager::~Manager() = default;

std::optional<Clock::time_point> Manager::oldest_arrival() const {
    Clock::rep v = oldest_arrival_.load();
    if (v == 0) return std::nullopt;
    return Clock::time_point(Clock::duration(v));
}

void Manager::refresh_gauges() const {
    if (!metrics_) return;
    metrics_->messages.Set(static_cast<double>(size_.load()));
    double age = 0;
    if (auto oldest = oldest_arrival())
        age = std::max(0.0, std::chrono::duration<double>(options_.now() - *oldest).count());
    metrics_->oldest_age.Set(age);
}

void Manager::count_result(Outcome outcome, bool expired, Clock::time_point arrival, Clock::time_point now) {
    if (!metrics_) return;
    if (outcome == Outcome::delivered) {
        metrics_->delivered.Increment();
        metrics_->latency.Observe(std::max(0.0, std::chrono::duration<double>(now - arrival).count()));
    } else if (outcome == Outcome::permanent || expired) {
        metrics_->bounced.Increment();
    } else {
        metrics_->deferred.Increment();
    }
}

void Manager::start(std::vector<Envelope> recovered) {
    asio::post(strand_, [self = shared_from_this(), recovered = std::move(recovered)]() mutable {
        for (auto& e : recovered) self->add(std::move(e));
        self->pump();
    });
}

void Manager::enqueue(Envelope e) {
    fresh_waiting_.fetch_add(1);  // counted at once: the post below may wait behind others
    asio::post(strand_, [self = shared_from_this(), e = std::move(e)]() mutable {
        self->add(std::move(e), true);
        self->pump();
    });
}

void Manager::clear_fresh(Entry& entry) {
    if (!entry.fresh) return;
    entry.fresh = false;
    fresh_waiting_.fetch_sub(1);
}

void Manager::stop() {
    asio::post(strand_, [self = shared_from_this()] {
        self->stopped_ = true;
        self->timer_.cancel();
        self->schedule_removals();  // removals gathering for a batch go now: the exit waits for them
    });
}

void Manager::add(Envelope e, bool fresh) {
    std::string id = e.id;
    auto [it, inserted] = entries_.try_emplace(id);
    if (!inserted) {  // already known (recovered and enqueued twice cannot happen)
        if (fresh) fresh_waiting_.fetch_sub(1);
        return;
    }
    it->second.env = std::move(e);
    it->second.fresh = fresh;
    size_.store(entries_.size());
    arrivals_.insert(it->second.env.arrival);
    oldest_arrival_.store(arrivals_.begin()->time_since_epoch().count());
    refresh_gauges();
    schedule(it->second);
}

std::optional<Clock::time_point> Manager::next_due(const Entry& entry) const {
    const Envelope& env = entry.env;
    if (env.held) return std::nullopt;
    std::optional<Clock::time_point> due;
    for (const auto& r : env.recipients) {
        Clock::time_point t;
        if (r.state == RcptState::pending) t = r.next_attempt;
        else if (r.state == RcptState::failed && !r.reported) t = entry.retry_settle_at;
        else continue;
        if (!due || t < *due) due = t;
    }
    return due;
}

void Manager::schedule(Entry& entry) {
    unschedule(entry);
    if (entry.in_flight) return;
    auto due = next_due(entry);
    if (!due) {
        clear_fresh(entry);  // held: not waiting for delivery
        return;
    }
    entry.due = *due;
    entry.scheduled = true;
    due_.emplace(entry.due, entry.env.id);
}

void Manager::erase(std::map<std::string, Entry>::iterator it) {
    clear_fresh(it->second);
    if (auto a = arrivals_.find(it->second.env.arrival); a != arrivals_.end()) arrivals_.erase(a);
    entries_.erase(it);
    size_.store(entries_.size());
    oldest_arrival_.store(arrivals_.empty() ? 0 : arrivals_.begin()->time_since_epoch().count());
    refresh_gauges();
}

void Manager::unschedule(Entry& entry) {
    if (!entry.scheduled) return;
    due_.erase({entry.due, entry.env.id});
    entry.scheduled = false;
}

void Manager::arm_timer() {
    if (stopped_ || due_.empty() || active_ >= options_.max_in_flight) {
        timer_.cancel();
        return;
    }
    auto wait = due_.begin()->first - options_.now();
    timer_.expires_after(std::max(std::chrono::duration_cast<Clock::duration>(wait), Clock::duration::zero()));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->pump();
    });
}

// Next-attempt times are system-clock times (they are saved, and must mean the same after a
// restart). When the system clock is stepped (NTP correcting a wrong clock, an operator's
// `date`), every waiting attempt moves by the same step, so each still waits as long as its
// retry step said: a clock set back by an hour does not hold deferred mail an hour longer,
// and one set forward does not send it all at once. Slow corrections (slewing, at most
// 0.5 ms per second) stay below the threshold.
void Manager::follow_clock() {
    using std::chrono::nanoseconds;
    const nanoseconds offset = std::chrono::duration_cast<nanoseconds>(options_.now().time_since_epoch()) -
                               std::chrono::duration_cast<nanoseconds>(std::chrono::steady_clock::now().time_since_epoch());
    if (!clock_offset_) {
        clock_offset_ = offset;
        return;
    }
    const nanoseconds step = offset - *clock_offset_;
    if (step > -kClockStep && step < kClockStep) return;
    clock_offset_ = offset;
    const auto shift = std::chrono::duration_cast<Clock::duration>(step);
    log_->warn("the system clock was stepped by {:+.0f} s; deferred attempts keep their waits",
               std::chrono::duration<double>(step).count());
    for (auto& [id, entry] : entries_) {
        for (auto& r : entry.env.recipients)
            if (r.state == RcptState::pending && r.next_attempt != kNow) r.next_attempt += shift;
        if (entry.retry_settle_at != kNow) entry.retry_settle_at += shift;
        if (entry.scheduled) schedule(entry);
    }
}

void Manager::pump() {
    if (stopped_) return;
    follow_clock();
    const auto now = options_.now();
    while (active_ < options_.max_in_flight && !due_.empty() && due_.begin()->first <= now) {
        std::string id = due_.begin()->second;
        Entry& entry = entries_.at(id);
        unschedule(entry);
        dispatch(entry, now);
    }
    arm_timer();
}

void Manager::dispatch(Entry& entry, Clock::time_point now) {
    Envelope& env = entry.env;
    clear_fresh(entry);
    delivery::Job job;
    for (const auto& r : env.recipients)
        if (r.state == RcptState::pending && r.next_attempt <= now) job.recipients.push_back(r.address);
    entry.in_flight = true;
    in_flight_count_.fetch_add(1);
    if (job.recipients.empty()) {
        settle(env.id);  // only a DSN owed, or a warning due
        return;
    }
    ++active_;
    job.queue_id = env.id;
    job.mail_from = env.mail_from;
    job.message_file = spool_->message_path(env.id);
    job.size = env.size;
    job.prepend = env.prepend;
    job.smtputf8 = env.smtputf8;
    job.body_8bit = env.body_8bit;
    job.requiretls = env.requiretls;
    job.tls_required_no = env.tls_required_no;
    // Weak: a Deliverer may keep the job (and so this function) after the Manager is gone.
    job.progress = [weak = weak_from_this(), id = env.id](std::vector<delivery::RecipientResult> delivered) {
        auto self = weak.lock();
        if (!self) return;
        asio::post(self->strand_, [self, id, delivered = std::move(delivered)]() mutable {
            self->on_progress(id, std::move(delivered));
        });
    };
    deliverer_->deliver(std::move(job), [self = shared_from_this(), id = env.id](std::vector<delivery::RecipientResult> results) {
        asio::post(self->strand_, [self, id, results = std::move(results)]() mutable {
            self->on_results(id, std::move(results));
        });
    });
}

void Manager::apply_result(Recipient& r, const delivery::RecipientResult& res, Clock::time_point now,
                           const Envelope& env) {
    r.attempts += 1;
    r.last_attempt = now;
    r.reply_code = res.code;
    r.enhanced = res.enhanced;
    r.reply_text = res.text;
    r.remote_host = res.remote_host;
    switch (res.outcome) {
        case Outcome::delivered:
            r.state = RcptState::delivered;
            ++counters_.delivered;
            count_result(Outcome::delivered, false, env.arrival, now);
            log_->info("{}: delivered to <{}> via {} ({}): {}", env.id, r.address,
                       r.remote_host.empty() ? "-" : r.remote_host, res.tls.empty() ? "-" : res.tls, describe(r));
            return;
        case Outcome::permanent:
            r.state = RcptState::failed;
            ++counters_.failed;
            count_result(Outcome::permanent, false, env.arrival, now);
            log_->warn("{}: failed for <{}> via {}: {}", env.id, r.address,
                       r.remote_host.empty() ? "-" : r.remote_host, describe(r));
            return;
        case Outcome::temporary:
            break;
    }
    auto next = next_attempt(env.arrival, r.attempts, now, options_.retry, jitter_seed(env.id, r.address));
    if (next) {
        r.next_attempt = *next;
        ++counters_.deferred;
        count_result(Outcome::temporary, false, env.arrival, now);
        log_->info("{}: deferred <{}> (attempt {}) via {}: {}; next attempt in {}s", env.id, r.address,
                   r.attempts, r.remote_host.empty() ? "-" : r.remote_host, describe(r),
                   std::chrono::duration_cast<std::chrono::seconds>(*next - now).count());
        return;
    }
    // Out of time (RFC 5321 §4.5.4.1): the last reply stays as the diagnostic.
    r.state = RcptState::failed;
    r.enhanced = "5.4.7";  // RFC 3463: delivery time expired
    ++counters_.failed;
    count_result(Outcome::temporary, true, env.arrival, now);
    log_->warn("{}: expired for <{}> after {} attempts; last: {}", env.id, r.address, r.attempts, describe(r));
}

void Manager::on_results(const std::string& id, std::vector<delivery::RecipientResult> results) {
    --active_;
    auto it = entries_.find(id);
    if (it == entries_.end()) {
        pump();
        return;
    }
    Entry& entry = it->second;
    const auto now = options_.now();
    std::vector<bool> applied(entry.env.recipients.size(), false);
    for (const auto& res : results) {
        for (std::size_t i = 0; i < entry.env.recipients.size(); ++i) {
            Recipient& r = entry.env.recipients[i];
            if (applied[i] || r.state != RcptState::pending || r.address != res.address) continue;
            // Cut short by our own stop: not the destination's fault, not an attempt; it
            // is tried again as soon as the daemon is back.
            if (!(stopped_ && res.outcome == Outcome::temporary)) apply_result(r, res, now, entry.env);
            applied[i] = true;
            break;
        }
    }
    // A recipient that was in the job but got no result is treated as a temporary failure.
    for (std::size_t i = 0; i < entry.env.recipients.size(); ++i) {
        Recipient& r = entry.env.recipients[i];
        if (applied[i] || stopped_ || r.state != RcptState::pending || r.next_attempt > now) continue;
        delivery::RecipientResult missing;
        missing.address = r.address;
        missing.outcome = Outcome::temporary;
        missing.enhanced = "4.3.0";
        missing.text = "delivery ended without a result for this recipient";
        apply_result(r, missing, now, entry.env);
    }
    apply_requests(entry);
    if (entry.progress_saving) {
        entry.settle_after_saves = true;  // save_progress() settles once they are on disk
    } else {
        settle(id);
    }
    pump();
}

void Manager::on_progress(const std::string& id, std::vector<delivery::RecipientResult> delivered) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    Entry& entry = it->second;
    const auto now = options_.now();
    bool changed = false;
    for (const auto& res : delivered) {
        if (res.outcome != Outcome::delivered) continue;
        for (auto& r : entry.env.recipients) {
            if (r.state != RcptState::pending || r.address != res.address) continue;
            apply_result(r, res, now, entry.env);
            changed = true;
            break;
        }
    }
    if (!changed) return;
    if (entry.progress_saving) {
        entry.progress_dirty = true;  // saved when the save in progress ends
        return;
    }
    save_progress(entry);
}

void Manager::save_progress(Entry& entry) {
    entry.progress_saving = true;
    entry.progress_dirty = false;
    asio::post(blocking_, [self = shared_from_this(), env = entry.env]() {
        if (auto ec = self->spool_->save_state(env))
            self->log_->error("{}: cannot save the queue state: {} (kept in memory)", env.id, ec.message());
        asio::post(self->strand_, [self, id = env.id] {
            auto found = self->entries_.find(id);
            if (found == self->entries_.end()) return;
            Entry& e = found->second;
            e.progress_saving = false;
            if (e.progress_dirty) {
                self->save_progress(e);
            } else if (e.settle_after_saves) {
                e.settle_after_saves = false;
                self->settle(id);
            }
        });
    });
}

bool Manager::apply_requests(Entry& entry) {
    bool changed = false;
    if (entry.bounce_requested) {
        bounce_now(entry.env, options_.now());
        entry.bounce_requested = false;
        changed = true;
    }
    if (entry.hold_requested) {
        entry.env.held = *entry.hold_requested;
        entry.hold_requested.reset();
        changed = true;
    }
    if (entry.flush_requested) {
        for (auto& r : entry.env.recipients)
            if (r.state == RcptState::pending) r.next_attempt = kNow;
        entry.retry_settle_at = kNow;
        entry.flush_requested = false;
        changed = true;
    }
    return changed || entry.remove_requested;
}

std::size_t mark_bounced(Envelope& env, Clock::time_point now) {
    std::size_t n = 0;
    for (auto& r : env.recipients) {
        if (r.state != RcptState::pending) continue;
        r.state = RcptState::failed;
        r.reported = false;
        r.last_attempt = now;
        r.reply_code = 0;
        r.enhanced = "5.0.0";
        r.reply_text = "returned to the sender by the queue administrator";
        r.remote_host.clear();
        ++n;
    }
    return n;
}

void Manager::bounce_now(Envelope& env, Clock::time_point now) {
    std::size_t n = mark_bounced(env, now);
    counters_.failed += n;
    for (std::size_t i = 0; i < n; ++i) count_result(Outcome::permanent, false, env.arrival, now);
    log_->warn("{}: bounced by the administrator", env.id);
}

void Manager::settle(const std::string& id) {
    Entry& entry = entries_.at(id);
    unschedule(entry);
    if (!entry.in_flight) {
        entry.in_flight = true;
        in_flight_count_.fetch_add(1);
    }
    entry.settling = true;
    const bool remove = entry.remove_requested;
    const bool all_delivered = std::all_of(entry.env.recipients.begin(), entry.env.recipients.end(),
                                           [](const Recipient& r) { return r.state == RcptState::delivered; });
    if (!remove && all_delivered) {
        queue_removal(entry.env);
        return;
    }
    asio::post(blocking_, [self = shared_from_this(), env = entry.env, remove]() mutable {
        SettleOutcome out = self->settle_on_disk(std::move(env), remove);
        asio::post(self->strand_, [self, out = std::move(out)]() mutable { self->finish_settle(std::move(out)); });
    });
}

namespace {
// How long a removal batch waits for more delivered messages, and how many make it go at once.
constexpr auto kRemovalGather = std::chrono::milliseconds(5);
constexpr std::size_t kRemovalBatch = 64;
}  // namespace

void Manager::queue_removal(Envelope env) {
    removals_.push_back(std::move(env));
    schedule_removals();
}

void Manager::schedule_removals() {
    if (removing_ || removals_.empty()) return;  // finish_removals() calls again
    if (stopped_ || removals_.size() >= kRemovalBatch) {
        if (removal_armed_) {
            removal_armed_ = false;
            removal_timer_.cancel();
        }
        start_removals();
        return;
    }
    if (removal_armed_) return;
    removal_armed_ = true;
    removal_timer_.expires_after(kRemovalGather);
    removal_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || !self->removal_armed_) return;
        self->removal_armed_ = false;
        if (!self->removing_ && !self->removals_.empty()) self->start_removals();
    });
}

void Manager::start_removals() {
    removing_ = true;
    std::vector<Envelope> batch;
    batch.swap(removals_);
    asio::post(blocking_, [self = shared_from_this(), batch = std::move(batch)]() mutable {
        std::vector<std::string> ids;
        ids.reserve(batch.size());
        for (const auto& e : batch) ids.push_back(e.id);
        auto results = self->spool_->remove_all(ids);
        asio::post(self->strand_, [self, batch = std::move(batch), results = std::move(results)]() mutable {
            self->finish_removals(std::move(batch), std::move(results));
        });
    });
}

void Manager::finish_removals(std::vector<Envelope> batch, std::vector<std::error_code> results) {
    // removing_ stays set meanwhile: what finish_settle() makes due for removal waits for
    // the next batch, started below.
    for (std::size_t i = 0; i < batch.size(); ++i) {
        SettleOutcome out;
        if (results[i]) {
            // Kept: its state is saved like any unfinished settle's, and it is tried again.
            log_->error("{}: cannot remove the finished message: {}", batch[i].id, results[i].message());
            asio::post(blocking_, [self = shared_from_this(), env = std::move(batch[i])]() mutable {
                SettleOutcome kept = self->settle_on_disk(std::move(env), false);
                asio::post(self->strand_, [self, kept = std::move(kept)]() mutable { self->finish_settle(std::move(kept)); });
            });
            continue;
        }
        out.removed = true;
        out.env = std::move(batch[i]);
        finish_settle(std::move(out));
    }
    removing_ = false;
    schedule_removals();
}

SettleOutcome Manager::settle_on_disk(Envelope env, bool remove) {
    SettleOutcome out;
    const auto now = options_.now();
    if (remove) {
        if (auto ec = spool_->remove(env.id)) log_->error("{}: cannot remove: {}", env.id, ec.message());
        log_->info("{}: deleted by the administrator", env.id);
        out.removed = true;
        out.env = std::move(env);
        return out;
    }
    auto queue_dsn = [&](DsnKind kind, const std::vector<const Recipient*>& about) {
        DsnInput in;
        in.reporting_host = options_.hostname;
        in.queue_id = env.id;
        in.envelope_sender = env.mail_from;
        in.arrival = env.arrival;
        in.now = now;
        in.kind = kind;
        in.retry_until = env.arrival + options_.retry.max_lifetime;
        in.original_headers = spool_->read_headers(env.id).value_or("");
        // RFC 6533: a message that needed SMTPUTF8, or a UTF-8 address, gets the global form.
        auto utf8 = [](const std::string& a) {
            return std::any_of(a.begin(), a.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
        };
        in.international = env.smtputf8 || utf8(env.mail_from) ||
                           std::any_of(about.begin(), about.end(), [&](const Recipient* r) { return utf8(r->address); });
        for (const Recipient* r : about) {
            DsnRecipient d;
            d.address = r->address;
            d.status = r->enhanced;
            if (d.status.empty() && r->reply_code >= 400 && r->reply_code < 600)
                d.status = r->reply_code >= 500 ? "5.0.0" : "4.0.0";
            if (!r->remote_host.empty()) d.remote_host = r->remote_host;
            d.diagnostic = describe(*r);
            d.remote = r->reply_code != 0;  // 0: no server replied, the decision was ours
            d.last_attempt = r->last_attempt;
            in.recipients.push_back(std::move(d));
        }
        auto bytes = build_dsn(in);
        if (!bytes) return std::error_code{};  // nothing may be sent (null sender): none owed
        Envelope dsn;
        dsn.mail_from = "";
        dsn.set_recipients({env.mail_from});
        dsn.client = "local";
        dsn.arrival = now;
        // SMTPUTF8 is needed only when the DSN's own envelope or header holds UTF-8: a UTF-8
        // sender (its To). UTF-8 in the report's parts is 8-bit content, as for any message.
        dsn.smtputf8 = utf8(env.mail_from);
        dsn.body_8bit = dsn_needs_8bit(*bytes);
        dsn.dsn_of = env.id;
        dsn.dsn_kind = kind == DsnKind::failure ? "failure" : "delay";
        for (const Recipient* r : about) dsn.dsn_rcpts.push_back(r->address);
        if (options_.sign_dsn) dsn.prepend = options_.sign_dsn(*bytes, now);
        if (auto ec = spool_->commit_message(dsn, *bytes)) return ec;
        log_->info("{}: {} DSN queued as {} to <{}>", env.id, kind == DsnKind::failure ? "failure" : "delay",
                   dsn.id, env.mail_from);
        out.new_messages.push_back(std::move(dsn));
        return std::error_code{};
    };

    std::vector<const Recipient*> unreported;
    for (const auto& r : env.recipients)
        if (r.state == RcptState::failed && !r.reported) unreported.push_back(&r);
    if (!unreported.empty()) {
        std::error_code ec;
        if (env.mail_from.empty())
            log_->warn("{}: a delivery status notification failed; it is not bounced (null sender)", env.id);
        else
            ec = queue_dsn(DsnKind::failure, unreported);
        if (ec) {
            log_->error("{}: cannot queue the failure DSN: {}; trying again later", env.id, ec.message());
            out.unreported = true;
        } else {
            for (auto& r : env.recipients)
                if (r.state == RcptState::failed) r.reported = true;
            if (!env.mail_from.empty()) ++out.failure_dsns;
        }
    }

    if (!env.warned && !env.mail_from.empty() && should_warn(env.arrival, now, options_.warn_after, false)) {
        std::vector<const Recipient*> waiting;
        for (const auto& r : env.recipients)
            if (r.state == RcptState::pending && r.attempts > 0) waiting.push_back(&r);
        if (!waiting.empty()) {
            if (auto ec = queue_dsn(DsnKind::delay, waiting)) {
                log_->error("{}: cannot queue the delay DSN: {}", env.id, ec.message());
            } else {
                env.warned = true;
                ++out.delay_dsns;
            }
        }
    }

    if (env.all_final() && !out.unreported) {
        if (auto ec = spool_->remove(env.id)) {
            log_->error("{}: cannot remove the finished message: {}", env.id, ec.message());
        } else {
            out.removed = true;
        }
    }
    if (!out.removed) {
        if (auto ec = spool_->save_state(env))
            log_->error("{}: cannot save the queue state: {} (kept in memory)", env.id, ec.message());
    }
    out.env = std::move(env);
    return out;
}

void Manager::finish_settle(SettleOutcome out) {
    const std::string id = out.env.id;
    counters_.dsn_failure += static_cast<std::uint64_t>(out.failure_dsns);
    counters_.dsn_delay += static_cast<std::uint64_t>(out.delay_dsns);
    for (auto& m : out.new_messages) add(std::move(m));
    auto it = entries_.find(id);
    if (it != entries_.end()) {
        Entry& entry = it->second;
        entry.in_flight = false;
        entry.settling = false;
        in_flight_count_.fetch_sub(1);
        std::vector<Done> waiters;
        waiters.swap(entry.waiters);
        if (out.removed) {
            erase(it);
            ++counters_.removed;
            for (auto& w : waiters) w(ControlResult::ok, "");
        } else {
            entry.env = std::move(out.env);
            if (out.unreported)
                entry.retry_settle_at = options_.now() + unreported_step(options_.retry, options_.retry_unreported);
            if (apply_requests(entry)) {
                // A control request arrived meanwhile: persist it too, then answer.
                entry.waiters = std::move(waiters);
                settle(id);
            } else {
                schedule(entry);
                for (auto& w : waiters) w(ControlResult::ok, "");
            }
        }
    }
    pump();
}

void Manager::snapshot(std::function<void(QueueSnapshot)> done) {
    asio::post(strand_, [self = shared_from_this(), done = std::move(done)] {
        QueueSnapshot s;
        for (const auto& [id, entry] : self->entries_) {
            s.messages.push_back(entry.env);
            if (entry.in_flight) s.in_flight.insert(id);
        }
        done(std::move(s));
    });
}

void Manager::for_each_message(std::function<void(const Envelope&)> each, std::function<void()> done) {
    asio::post(strand_, [self = shared_from_this(), each = std::move(each), done = std::move(done)] {
        for (const auto& [id, entry] : self->entries_) each(entry.env);
        done();
    });
}

void Manager::control(std::string id, std::function<void(Entry&)> request, Done done) {
    asio::post(strand_, [self = shared_from_this(), id = std::move(id), request = std::move(request),
                         done = std::move(done)]() mutable {
        auto it = self->entries_.find(id);
        if (it == self->entries_.end()) {
            done(ControlResult::not_found, "no message " + id + " in the queue");
            return;
        }
        Entry& entry = it->second;
        request(entry);
        entry.waiters.push_back(std::move(done));
        if (entry.in_flight) return;  // applied when its delivery or save comes back
        self->apply_requests(entry);
        self->settle(id);
    });
}

void Manager::flush(std::optional<std::string> id, Done done) {
    if (id) {
        control(*id, [](Entry& e) { e.flush_requested = true; }, std::move(done));
        return;
    }
    asio::post(strand_, [self = shared_from_this(), done = std::move(done)] {
        std::size_t n = 0;
        for (auto& [mid, entry] : self->entries_) {
            if (entry.env.held) continue;
            entry.flush_requested = true;
            if (entry.in_flight) continue;
            self->apply_requests(entry);
            self->schedule(entry);
            ++n;
        }
        self->log_->info("queue flush: {} message(s) due now", n);
        self->pump();
        done(ControlResult::ok, std::to_string(n) + " message(s) due now");
    });
}

void Manager::hold(const std::string& id, Done done) {
    control(id, [](Entry& e) { e.hold_requested = true; }, std::move(done));
}

void Manager::release(const std::string& id, Done done) {
    control(id, [](Entry& e) { e.hold_requested = false; }, std::move(done));
}

void Manager::remove(const std::string& id, Done done) {
    control(id, [](Entry& e) { e.remove_requested = true; }, std::move(done));
}

void Manager::bounce(const std::string& id, Done done) {
    control(id, [](Entry& e) { e.bounce_requested = true; }, std::move(done));
}

}  // namespace signpost::queue
