// relay/queue/manager.hpp — the queue manager: what is due, handing it to delivery, and what
// each recipient's outcome does to the message.
//
// The Manager holds every committed message's envelope in memory (the spool on disk is the
// truth; the Manager is rebuilt from it by Spool::recover() at start). One timer, set to the
// earliest next attempt among messages that are not held and not in flight, drives all
// scheduling: nothing scans the directory in a loop. When it fires, due messages are handed
// to the Deliverer (at most `max_in_flight` at once, oldest due first) with the recipients
// that are due.
//
// Outcomes, per recipient (DESIGN.md durability contract):
//   delivered  -> done with it
//   permanent  -> failed; reported in one failure DSN (RFC 3464) per message and round
//   temporary  -> attempts+1, next attempt from retry.hpp (backoff with jitter); past
//                 max_lifetime it expires: failed with 5.4.7 and its last reply, reported
//   when a recipient has been pending for warn_after, one delay DSN (Action: delayed).
// DSNs go to the original envelope sender with the null reverse-path, and are committed to
// the same spool (then delivered like any other message) BEFORE the original's state moves
// on. A message whose sender is null (a DSN) is never bounced: its failures are logged.
// When every recipient is final and reported, the message's files are removed. Otherwise
// its envelope (.state) is saved before it is rescheduled. A crash between a delivery and
// the state save at worst delivers that recipient again.
//
// A DSN that cannot be committed (disk full) leaves the failures unreported; the message is
// looked at again after the retry schedule's first step, at most `retry_unreported`
// (queue::unreported_step), and the DSN retried.
//
// Metrics (when ManagerOptions::registry is set; declared in manager.cpp):
//   signpost_queue_messages, signpost_queue_oldest_message_age_seconds (gauges; the age is
//   brought up to date by refresh_gauges(), which relay/app calls every few seconds),
//   signpost_delivery_recipients_total{result=delivered|deferred|bounced} and
//   signpost_delivery_latency_seconds (arrival to delivery, per delivered recipient).
//
// Control (the CLI through relay/app's control socket): snapshot, flush (now), hold,
// release, delete, bounce. Each runs on the manager's strand and answers with a result.
// Operations on a message in flight take effect when its delivery returns.
//
// Untrusted input: delivery results carry remote text (stored and reported, never parsed).
// Threading: all state lives on one strand; public methods may be called from any thread.
// Disk work (state saves, DSN commits, removals) runs on the `blocking` executor.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "relay/delivery/deliverer.hpp"
#include "relay/log/log.hpp"
#include "relay/queue/retry.hpp"
#include "relay/queue/spool.hpp"

namespace prometheus {
class Registry;
}

namespace signpost::queue {

struct QueueMetrics;

struct ManagerOptions {
    RetryPolicy retry;
    std::chrono::seconds warn_after{4 * 3600};  // 0 = no delay DSNs
    std::string hostname = "localhost";         // Reporting-MTA and DSN From
    std::size_t max_in_flight = 64;             // messages handed to delivery at once
    std::chrono::seconds retry_unreported{300}; // at most this before a DSN that could not be queued is retried
    std::function<Clock::time_point()> now = [] { return Clock::now(); };
    prometheus::Registry* registry = nullptr;   // where to declare the queue metrics; null: none
    // DKIM-Signature field(s) for a DSN (the whole message, From MAILER-DAEMON@hostname),
    // or "" when its domain is not one Signpost signs for; unset: DSNs go unsigned.
    std::function<std::string(std::string_view message, std::chrono::system_clock::time_point now)> sign_dsn;
};

// Counted outcomes (for metrics and tests).
struct ManagerCounters {
    std::uint64_t delivered = 0;   // recipients
    std::uint64_t deferred = 0;    // recipient attempts that failed temporarily
    std::uint64_t failed = 0;      // recipients failed permanently or expired
    std::uint64_t dsn_failure = 0; // failure DSNs queued
    std::uint64_t dsn_delay = 0;   // delay DSNs queued
    std::uint64_t removed = 0;     // messages finished and removed
};

struct QueueSnapshot {
    std::vector<Envelope> messages;  // oldest first
    std::set<std::string> in_flight;
};

enum class ControlResult { ok, not_found, failed };

struct SettleOutcome;

// Marks every pending recipient failed (5.0.0, returned by the administrator), unreported so
// that a failure DSN follows. Returns how many were marked.
std::size_t mark_bounced(Envelope& env, Clock::time_point now);

class Manager : public std::enable_shared_from_this<Manager> {
public:
    Manager(boost::asio::any_io_executor io, boost::asio::any_io_executor blocking,
            std::shared_ptr<Spool> spool, std::shared_ptr<delivery::Deliverer> deliverer,
            ManagerOptions options, log::Logger logger);
    ~Manager();

    // Takes the recovered messages and starts scheduling.
    void start(std::vector<Envelope> recovered);
    // A newly committed message (from submission); it is due now.
    void enqueue(Envelope e);
    // Stops the timer and hands out no more work; deliveries in flight still report.
    void stop();

    using Done = std::function<void(ControlResult, std::string)>;
    void snapshot(std::function<void(QueueSnapshot)> done);
    // Calls `each` for every queued message, in id order, then `done`, on the queue's strand
    // and without copying the messages (gauges that need a pass over the queue). Neither may
    // call back into the Manager. Any thread.
    void for_each_message(std::function<void(const Envelope&)> each, std::function<void()> done);
    void flush(std::optional<std::string> id, Done done);  // nullopt: every message
    void hold(const std::string& id, Done done);
    void release(const std::string& id, Done done);
    void remove(const std::string& id, Done done);
    void bounce(const std::string& id, Done done);

    // Read on the strand or after stop(); approximate elsewhere.
    ManagerCounters counters() const { return counters_; }
    std::size_t size() const { return size_.load(); }
    std::size_t in_flight() const { return in_flight_count_.load(); }
    // Newly committed messages not yet handed to delivery (submission's flow control:
    // while this is at least max_in_flight, delivery is not keeping pace). Any thread.
    std::size_t backlog() const { return fresh_waiting_.load(); }
    std::size_t max_in_flight() const { return options_.max_in_flight; }
    // The arrival time of the oldest message in the queue; nullopt when it is empty.
    // Thread-safe.
    std::optional<Clock::time_point> oldest_arrival() const;
    // Sets the queue gauges (size, oldest message's age) to their values now. Thread-safe.
    void refresh_gauges() const;

private:
    struct Entry {
        Envelope env;
        bool in_flight = false;      // with the Deliverer, or its state being saved
        bool settling = false;       // its state being saved
        bool scheduled = false;
        Clock::time_point due{};     // its key in due_ while scheduled
        Clock::time_point retry_settle_at{};  // when an owed DSN is tried again
        // Control requests, applied when the message is not in flight.
        bool remove_requested = false;
        bool bounce_requested = false;
        bool flush_requested = false;
        std::optional<bool> hold_requested;
        std::vector<Done> waiters;   // answered once the request is on disk
        // Saves of recipients a job reported delivered before it ended (Job::progress): one
        // at a time (two saves of one state would share its temporary file, and an older
        // state could land last); progress while one runs is saved, the latest state only,
        // when it ends. The job's settle waits for them.
        bool progress_saving = false;
        bool progress_dirty = false;
        bool settle_after_saves = false;
        bool fresh = false;          // enqueue()d and never dispatched: counted in backlog()
    };

    void add(Envelope e, bool fresh = false);
    void clear_fresh(Entry& entry);
    void erase(std::map<std::string, Entry>::iterator it);  // forgets a finished message
    void count_result(delivery::Outcome outcome, bool expired, Clock::time_point arrival, Clock::time_point now);
    std::optional<Clock::time_point> next_due(const Entry& entry) const;
    void schedule(Entry& entry);
    void unschedule(Entry& entry);
    void arm_timer();
    void pump();
    void follow_clock();
    void dispatch(Entry& entry, Clock::time_point now);
    void on_results(const std::string& id, std::vector<delivery::RecipientResult> results);
    void on_progress(const std::string& id, std::vector<delivery::RecipientResult> delivered);
    void save_progress(Entry& entry);
    void apply_result(Recipient& r, const delivery::RecipientResult& res, Clock::time_point now,
                      const Envelope& env);
    bool apply_requests(Entry& entry);  // true when something must be saved
    void bounce_now(Envelope& env, Clock::time_point now);
    void control(std::string id, std::function<void(Entry&)> request, Done done);
    // The disk side of a message's new state, on the blocking executor: DSNs, then save or
    // remove; finish_settle() takes the outcome back on the strand.
    void settle(const std::string& id);
    SettleOutcome settle_on_disk(Envelope env, bool remove);
    void finish_settle(SettleOutcome out);
    // The common case, a message delivered to every recipient, is only removed: such
    // removals are batched (one task on the blocking executor and one fsync of queue/ for
    // all that finished meanwhile) instead of one task per message. A batch waits up to
    // kRemovalGather for company (or until kRemovalBatch are waiting, or the queue stops),
    // so a steady trickle of deliveries does not cost one directory fsync each.
    void queue_removal(Envelope env);
    void schedule_removals();
    void start_removals();
    void finish_removals(std::vector<Envelope> batch, std::vector<std::error_code> results);

    boost::asio::strand<boost::asio::any_io_executor> strand_;
    boost::asio::any_io_executor blocking_;
    std::shared_ptr<Spool> spool_;
    std::shared_ptr<delivery::Deliverer> deliverer_;
    ManagerOptions options_;
    log::Logger log_;
    // Steady: a wait set for a deferred attempt lasts as long as it says, whatever the
    // system clock does meanwhile (follow_clock() moves the attempts with a step).
    boost::asio::steady_timer timer_;
    std::optional<std::chrono::nanoseconds> clock_offset_;  // system clock minus steady clock
    std::map<std::string, Entry> entries_;
    std::set<std::pair<Clock::time_point, std::string>> due_;
    std::size_t active_ = 0;
    bool stopped_ = false;
    ManagerCounters counters_;
    std::atomic<std::size_t> size_{0};
    std::atomic<std::size_t> in_flight_count_{0};
    std::atomic<std::size_t> fresh_waiting_{0};
    std::vector<Envelope> removals_;  // delivered messages waiting for the next removal batch
    bool removing_ = false;           // a removal batch is running
    boost::asio::steady_timer removal_timer_;  // armed while removals_ gathers
    bool removal_armed_ = false;
    std::multiset<Clock::time_point> arrivals_;       // of every entry, on the strand
    std::atomic<Clock::rep> oldest_arrival_{0};        // arrivals_.begin() since the epoch; 0: none
    std::unique_ptr<QueueMetrics> metrics_;
};

}  // namespace signpost::queue
