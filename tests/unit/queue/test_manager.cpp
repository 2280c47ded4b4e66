// Unit tests for relay/queue/manager: a real spool in a temp directory, a scripted Deliverer.
// Delivered messages leave the spool; temporary failures are saved and retried on the
// schedule; permanent failures and expiry queue one failure DSN (null sender, to the
// original sender) that is itself delivered through the queue; a DSN is never bounced;
// delay warnings are sent once; recovered messages are delivered; hold / release / flush /
// delete / bounce act and are persisted.
#include <algorithm>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <fstream>
#include <mutex>
#include <unistd.h>

#include "relay/queue/manager.hpp"

using namespace signpost;
using namespace signpost::queue;
using delivery::Outcome;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Answers every job with script(job, recipient) and records the jobs and the message bytes
// it could read at the time.
class ScriptedDeliverer : public delivery::Deliverer {
public:
    std::function<delivery::RecipientResult(const delivery::Job&, const std::string&)> script;
    std::vector<delivery::Job> jobs;
    std::vector<std::string> bytes;  // prepend + message as read from the file

    void deliver(delivery::Job job, delivery::DoneHandler done) override {
        std::string content = job.prepend;
        {
            std::ifstream in(job.message_file, std::ios::binary);
            std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            content += all.substr(0, job.size);
        }
        bytes.push_back(content);
        std::vector<delivery::RecipientResult> results;
        for (const auto& r : job.recipients) {
            auto res = script(job, r);
            res.address = r;
            results.push_back(res);
        }
        jobs.push_back(std::move(job));
        done(std::move(results));
    }
};

delivery::RecipientResult result(Outcome o, int code, std::string enhanced, std::string text) {
    delivery::RecipientResult r;
    r.outcome = o;
    r.code = code;
    r.enhanced = std::move(enhanced);
    r.text = std::move(text);
    r.remote_host = "sink.test[127.0.0.1]:2525";
    return r;
}

delivery::RecipientResult ok() { return result(Outcome::delivered, 250, "2.0.0", "Ok"); }

class ManagerTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("sp-mgr-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        spool_ = std::make_shared<Spool>(dir_);
        std::string detail;
        ASSERT_FALSE(spool_->open(detail)) << detail;
        deliverer_ = std::make_shared<ScriptedDeliverer>();
        deliverer_->script = [](const delivery::Job&, const std::string&) { return ok(); };
        options_.hostname = "relay.example.test";
        options_.retry.schedule = {1s};
        options_.warn_after = 0s;
        logger_ = log::make_root(config::LogFormat::text, std::getenv("TEST_LOG") ? config::LogLevel::debug : config::LogLevel::off);
    }
    void TearDown() override {
        if (manager_) manager_->stop();
        io_.run_for(50ms);
        fs::remove_all(dir_);
    }

    void make_manager(std::vector<Envelope> recovered = {}) {
        manager_ = std::make_shared<Manager>(io_.get_executor(), io_.get_executor(), spool_, deliverer_, options_, logger_);
        manager_->start(std::move(recovered));
    }

    Envelope commit(std::vector<std::string> rcpts, std::string from = "alice@example.test",
                    Clock::time_point arrival = Clock::now()) {
        Envelope e;
        e.mail_from = std::move(from);
        e.set_recipients(rcpts);
        e.user = "dev";
        e.prepend = "DKIM-Signature: v=1; b=x\r\n";
        e.arrival = arrival;
        EXPECT_FALSE(spool_->commit_message(e, "Subject: hello\r\nMessage-ID: <m1@example.test>\r\n\r\nbody\r\n"));
        return e;
    }

    // Runs the io_context until pred holds (or the time runs out).
    bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5000ms) {
        auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            if (pred()) return true;
            io_.run_for(5ms);
            io_.restart();
        }
        return pred();
    }

    // Every message handed out and finished: `jobs` jobs so far, nothing left.
    bool drained(std::size_t jobs) {
        return deliverer_->jobs.size() >= jobs && manager_->size() == 0 && manager_->in_flight() == 0;
    }

    QueueSnapshot snapshot() {
        std::optional<QueueSnapshot> s;
        manager_->snapshot([&](QueueSnapshot v) { s = std::move(v); });
        run_until([&] { return s.has_value(); });
        return s.value_or(QueueSnapshot{});
    }

    ControlResult control(const std::function<void(Manager::Done)>& op) {
        std::optional<ControlResult> r;
        op([&](ControlResult v, std::string) { r = v; });
        run_until([&] { return r.has_value(); });
        return r.value_or(ControlResult::failed);
    }

    fs::path dir_;
    boost::asio::io_context io_;
    std::shared_ptr<Spool> spool_;
    std::shared_ptr<ScriptedDeliverer> deliverer_;
    ManagerOptions options_;
    log::Logger logger_;
    std::shared_ptr<Manager> manager_;
};

TEST_F(ManagerTest, DeliveredMessagesLeaveTheSpool) {
    make_manager();
    Envelope e = commit({"bob@example.org", "carol@example.net"});
    manager_->enqueue(e);
    ASSERT_TRUE(run_until([&] { return drained(1); }));
    ASSERT_EQ(deliverer_->jobs.size(), 1u);
    const auto& job = deliverer_->jobs[0];
    EXPECT_EQ(job.queue_id, e.id);
    EXPECT_EQ(job.mail_from, "alice@example.test");
    EXPECT_EQ(job.recipients, (std::vector<std::string>{"bob@example.org", "carol@example.net"}));
    // The deliverer saw exactly prepend + message: nothing of the envelope trailer.
    EXPECT_EQ(deliverer_->bytes[0],
              "DKIM-Signature: v=1; b=x\r\nSubject: hello\r\nMessage-ID: <m1@example.test>\r\n\r\nbody\r\n");
    EXPECT_TRUE(spool_->list().empty());
    EXPECT_EQ(manager_->counters().delivered, 2u);
    EXPECT_EQ(manager_->counters().removed, 1u);
}

TEST_F(ManagerTest, TemporaryFailureIsSavedAndRetriedForThatRecipientOnly) {
    int calls = 0;
    deliverer_->script = [&](const delivery::Job&, const std::string& rcpt) {
        ++calls;
        if (rcpt == "carol@example.net" && calls <= 2) return result(Outcome::temporary, 451, "4.7.1", "greylisted");
        return ok();
    };
    make_manager();
    Envelope e = commit({"bob@example.org", "carol@example.net"});
    manager_->enqueue(e);
    // After the first round: bob delivered, carol pending with the reply and attempt 1, on disk.
    ASSERT_TRUE(run_until([&] {
        auto s = spool_->load(e.id);
        return s && s->recipients[1].attempts == 1;
    }));
    auto saved = spool_->load(e.id);
    EXPECT_EQ(saved->recipients[0].state, RcptState::delivered);
    EXPECT_EQ(saved->recipients[1].state, RcptState::pending);
    EXPECT_EQ(saved->recipients[1].reply_code, 451);
    EXPECT_EQ(saved->recipients[1].enhanced, "4.7.1");
    EXPECT_EQ(saved->recipients[1].reply_text, "greylisted");
    auto step = saved->recipients[1].next_attempt - saved->recipients[1].last_attempt;
    EXPECT_GE(step, 900ms);
    EXPECT_LE(step, 1100ms);
    // The timer brings carol back (alone) about a second later; then the message is done.
    ASSERT_TRUE(run_until([&] { return manager_->size() == 0; }, 4000ms));
    ASSERT_EQ(deliverer_->jobs.size(), 2u);
    EXPECT_EQ(deliverer_->jobs[1].recipients, std::vector<std::string>{"carol@example.net"});
    EXPECT_EQ(manager_->counters().deferred, 1u);
    EXPECT_TRUE(spool_->list().empty());
}

// The system clock set back an hour while a recipient waits for its retry (2 s): the retry
// still comes after about 2 s, not an hour later.
TEST_F(ManagerTest, AClockSetBackDoesNotHoldADeferredAttempt) {
    auto shift = std::make_shared<std::atomic<std::int64_t>>(0);  // seconds added to the clock
    options_.now = [shift] { return Clock::now() + std::chrono::seconds(shift->load()); };
    options_.retry.schedule = {2s};
    deliverer_->script = [this](const delivery::Job&, const std::string&) {
        if (deliverer_->jobs.empty()) return result(Outcome::temporary, 451, "4.3.0", "try later");
        return ok();
    };
    make_manager();
    Envelope e = commit({"bob@example.org"});
    manager_->enqueue(e);
    ASSERT_TRUE(run_until([&] { return deliverer_->jobs.size() == 1 && manager_->in_flight() == 0; }));
    const auto saved = spool_->load(e.id);
    ASSERT_TRUE(saved);
    const auto wait = saved->recipients[0].next_attempt - Clock::now();
    EXPECT_GT(wait, 1s);
    EXPECT_LT(wait, 3s);
    shift->store(-3600);
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(run_until([&] { return drained(2); }, 6000ms));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
}

TEST_F(ManagerTest, PermanentFailuresMakeOneDsnThatIsDeliveredThroughTheQueue) {
    deliverer_->script = [](const delivery::Job& job, const std::string&) {
        if (job.mail_from.empty()) return ok();  // the DSN itself goes through
        return result(Outcome::permanent, 550, "5.1.1", "no such user here");
    };
    make_manager();
    Envelope e = commit({"bob@example.org", "carol@example.net"});
    manager_->enqueue(e);
    ASSERT_TRUE(run_until([&] { return manager_->size() == 0 && deliverer_->jobs.size() == 2; }));
    const auto& dsn_job = deliverer_->jobs[1];
    EXPECT_EQ(dsn_job.mail_from, "");  // null reverse-path
    EXPECT_EQ(dsn_job.recipients, std::vector<std::string>{"alice@example.test"});
    const std::string& dsn = deliverer_->bytes[1];
    EXPECT_NE(dsn.find("report-type=delivery-status"), std::string::npos);
    EXPECT_NE(dsn.find("Final-Recipient: rfc822; bob@example.org"), std::string::npos) << dsn;
    EXPECT_NE(dsn.find("Final-Recipient: rfc822; carol@example.net"), std::string::npos);
    EXPECT_NE(dsn.find("Status: 5.1.1"), std::string::npos);
    EXPECT_NE(dsn.find("no such user here"), std::string::npos);
    EXPECT_NE(dsn.find("Message-ID: <m1@example.test>"), std::string::npos);  // original headers
    EXPECT_EQ(manager_->counters().dsn_failure, 1u);
    EXPECT_TRUE(spool_->list().empty());
}

TEST_F(ManagerTest, AFailureDsnThatCannotBeWrittenIsTriedAgainAfterTheFirstRetryStep) {
    // The DSN's commit fails (spare/ is gone, so no new queue file can be made) and the
    // bounce stays owed; once the spool works again, the DSN is written after the retry
    // schedule's first step (1 s here), not after the 300-s cap.
    deliverer_->script = [](const delivery::Job& job, const std::string&) {
        if (job.mail_from.empty()) return ok();
        return result(Outcome::permanent, 550, "5.1.1", "no such user here");
    };
    ASSERT_EQ(options_.retry_unreported, 300s);
    make_manager();
    Envelope e = commit({"bob@example.org"});
    fs::rename(dir_ / "spare", dir_ / "spare.away");
    manager_->enqueue(e);
    ASSERT_TRUE(run_until([&] { return deliverer_->jobs.size() == 1 && manager_->in_flight() == 0; }));
    io_.run_for(100ms);
    io_.restart();
    EXPECT_EQ(manager_->counters().dsn_failure, 0u);
    EXPECT_EQ(manager_->size(), 1u);  // the bounce is still owed
    fs::rename(dir_ / "spare.away", dir_ / "spare");
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(run_until([&] { return manager_->size() == 0 && deliverer_->jobs.size() == 2; }, 4000ms));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2500ms);
    EXPECT_EQ(deliverer_->jobs[1].mail_from, "");
    EXPECT_EQ(manager_->counters().dsn_failure, 1u);
    EXPECT_EQ(deliverer_->jobs.size(), 2u);  // the original was not delivered again
}

TEST_F(ManagerTest, ADsnThatFailsIsNotBounced) {
    deliverer_->script = [](const delivery::Job&, const std::string&) {
        return result(Outcome::permanent, 550, "5.1.1", "gone");
    };
    make_manager();
    Envelope e = commit({"alice@example.test"}, "");
    manager_->enqueue(e);
    ASSERT_TRUE(run_until([&] { return drained(1); }));
    EXPECT_EQ(deliverer_->jobs.size(), 1u);
    EXPECT_EQ(manager_->counters().dsn_failure, 0u);
    EXPECT_TRUE(spool_->list().empty());
}

TEST_F(ManagerTest, ExpiryFailsWith547AndKeepsTheLastReply) {
    deliverer_->script = [](const delivery::Job& job, const std::string&) {
        if (job.mail_from.empty()) return ok();
        return result(Outcome::temporary, 421, "4.4.2", "connection dropped");
    };
    options_.retry.max_lifetime = 5 * 24h;
    make_manager();
    Envelope e = commit({"bob@example.org"}, "alice@example.test", Clock::now() - 5 * 24h - 1s);
    manager_->enqueue(e);
    ASSERT_TRUE(run_until([&] { return manager_->size() == 0 && deliverer_->jobs.size() == 2; }));
    const std::string& dsn = deliverer_->bytes[1];
    EXPECT_NE(dsn.find("Status: 5.4.7"), std::string::npos) << dsn;
    EXPECT_NE(dsn.find("connection dropped"), std::string::npos);
    EXPECT_EQ(manager_->counters().failed, 1u);
}

TEST_F(ManagerTest, DelayWarningIsSentOnce) {
    deliverer_->script = [](const delivery::Job& job, const std::string&) {
        if (job.mail_from.empty()) return ok();
        return result(Outcome::temporary, 451, "4.3.0", "try later");
    };
    options_.warn_after = 1h;
    options_.retry.schedule = {1h};
    make_manager();
    Envelope e = commit({"bob@example.org"}, "alice@example.test", Clock::now() - 2h);
    manager_->enqueue(e);
    ASSERT_TRUE(run_until([&] { return deliverer_->jobs.size() == 2; }));
    EXPECT_EQ(deliverer_->jobs[1].mail_from, "");
    EXPECT_NE(deliverer_->bytes[1].find("Action: delayed"), std::string::npos);
    ASSERT_TRUE(run_until([&] { return manager_->size() == 1; }));
    auto saved = spool_->load(e.id);
    ASSERT_TRUE(saved);
    EXPECT_TRUE(saved->warned);
    // Another failed round does not warn again.
    EXPECT_EQ(control([&](Manager::Done d) { manager_->flush(e.id, d); }), ControlResult::ok);
    ASSERT_TRUE(run_until([&] { return deliverer_->jobs.size() == 3; }));
    io_.run_for(100ms);
    EXPECT_EQ(deliverer_->jobs.size(), 3u);
    EXPECT_EQ(manager_->counters().dsn_delay, 1u);
}

TEST_F(ManagerTest, RecoveredMessagesAreDeliveredAfterARestart) {
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) ids.push_back(commit({"bob@example.org"}).id);
    Envelope partly = commit({"bob@example.org", "carol@example.net"});
    partly.recipients[0].state = RcptState::delivered;
    ASSERT_FALSE(spool_->save_state(partly));

    Spool again(dir_);
    std::string detail;
    ASSERT_FALSE(again.open(detail));
    Recovered r = again.recover();
    ASSERT_EQ(r.messages.size(), 4u);
    make_manager(std::move(r.messages));
    ASSERT_TRUE(run_until([&] { return drained(4); }));
    ASSERT_EQ(deliverer_->jobs.size(), 4u);
    EXPECT_EQ(deliverer_->jobs[3].recipients, std::vector<std::string>{"carol@example.net"});
    EXPECT_TRUE(spool_->list().empty());
}

TEST_F(ManagerTest, ForEachMessageVisitsEveryQueuedMessageThenDone) {
    deliverer_->script = [&](const delivery::Job&, const std::string&) {
        return result(Outcome::temporary, 451, "4.3.0", "later");
    };
    options_.retry.schedule = {1h};
    make_manager();
    Envelope a = commit({"bob@example.org"});
    Envelope b = commit({"carol@example.org", "dave@example.org"});
    manager_->enqueue(a);
    manager_->enqueue(b);
    ASSERT_TRUE(run_until([&] { return deliverer_->jobs.size() == 2 && manager_->in_flight() == 0; }));
    std::vector<std::string> seen;
    std::size_t recipients = 0;
    bool done = false;
    manager_->for_each_message(
        [&](const Envelope& e) {
            EXPECT_FALSE(done);
            seen.push_back(e.id);
            recipients += e.recipients.size();
        },
        [&] { done = true; });
    ASSERT_TRUE(run_until([&] { return done; }));
    std::sort(seen.begin(), seen.end());
    std::vector<std::string> want{a.id, b.id};
    std::sort(want.begin(), want.end());
    EXPECT_EQ(seen, want);
    EXPECT_EQ(recipients, 3u);
}

TEST_F(ManagerTest, HoldReleaseFlushDeleteAndBounce) {
    bool refuse = true;
    deliverer_->script = [&](const delivery::Job& job, const std::string&) {
        if (job.mail_from.empty() || !refuse) return ok();
        return result(Outcome::temporary, 451, "4.3.0", "later");
    };
    options_.retry.schedule = {1h};
    make_manager();
    Envelope a = commit({"bob@example.org"});
    Envelope b = commit({"bob@example.org"});
    manager_->enqueue(a);
    manager_->enqueue(b);
    ASSERT_TRUE(run_until([&] { return deliverer_->jobs.size() == 2 && manager_->in_flight() == 0; }));

    EXPECT_EQ(control([&](Manager::Done d) { manager_->hold(a.id, d); }), ControlResult::ok);
    EXPECT_TRUE(spool_->load(a.id)->held);
    EXPECT_EQ(control([&](Manager::Done d) { manager_->hold("00HOFGO6F3U700000000", d); }), ControlResult::not_found);
    // A held message is not flushed.
    refuse = false;
    EXPECT_EQ(control([&](Manager::Done d) { manager_->flush(std::nullopt, d); }), ControlResult::ok);
    ASSERT_TRUE(run_until([&] { return manager_->size() == 1; }));
    EXPECT_EQ(snapshot().messages.at(0).id, a.id);
    io_.run_for(50ms);
    EXPECT_EQ(deliverer_->jobs.size(), 3u);  // b only

    EXPECT_EQ(control([&](Manager::Done d) { manager_->release(a.id, d); }), ControlResult::ok);
    EXPECT_FALSE(spool_->load(a.id)->held);
    refuse = true;
    EXPECT_EQ(control([&](Manager::Done d) { manager_->bounce(a.id, d); }), ControlResult::ok);
    ASSERT_TRUE(run_until([&] { return manager_->size() == 0; }));
    // a was bounced: one failure DSN, delivered.
    EXPECT_EQ(manager_->counters().dsn_failure, 1u);
    EXPECT_NE(deliverer_->bytes.back().find("Status: 5.0.0"), std::string::npos);

    Envelope c = commit({"bob@example.org"});
    manager_->enqueue(c);
    ASSERT_TRUE(run_until([&] { return manager_->in_flight() == 0 && spool_->load(c.id) && spool_->load(c.id)->recipients[0].attempts == 1; }));
    EXPECT_EQ(control([&](Manager::Done d) { manager_->remove(c.id, d); }), ControlResult::ok);
    EXPECT_EQ(manager_->size(), 0u);
    EXPECT_TRUE(spool_->list().empty());
}

}  // namespace

// Issue 15: the failure DSN is committed before the message's state is saved. A crash in
// between (here: the saved state is taken back) must not report bob a second time after
// the restart: the DSN's envelope names the message and recipients it covers.
TEST_F(ManagerTest, ACrashBetweenTheDsnAndTheStateSaveDoesNotReportTwice) {
    bool dsn_waits = true;
    deliverer_->script = [&](const delivery::Job& job, const std::string& rcpt) {
        if (job.mail_from.empty()) return dsn_waits ? result(Outcome::temporary, 451, "4.3.0", "later") : ok();
        if (rcpt == "bob@example.org") return result(Outcome::permanent, 550, "5.1.1", "no such user here");
        return result(Outcome::temporary, 451, "4.7.1", "greylisted");
    };
    options_.retry.schedule = {1h};
    make_manager();
    Envelope e = commit({"bob@example.org", "carol@example.net"});
    manager_->enqueue(e);
    ASSERT_TRUE(run_until([&] { return spool_->list().size() == 2 && deliverer_->jobs.size() == 2; }));
    ASSERT_TRUE(run_until([&] { return manager_->in_flight() == 0; }));
    manager_->stop();
    io_.run_for(50ms);
    manager_.reset();
    auto ids = spool_->list();
    std::string dsn_id = ids[0] == e.id ? ids[1] : ids[0];
    auto dsn = spool_->load(dsn_id);
    ASSERT_TRUE(dsn);
    EXPECT_EQ(dsn->dsn_of, e.id);
    EXPECT_EQ(dsn->dsn_kind, "failure");
    EXPECT_EQ(dsn->dsn_rcpts, std::vector<std::string>{"bob@example.org"});
    fs::remove(dir_ / "queue" / (e.id + ".state"));  // the crash: the state save never happened

    Spool again(dir_);
    std::string detail;
    ASSERT_FALSE(again.open(detail));
    Recovered r = again.recover();
    EXPECT_EQ(r.reconciled, 1u);
    ASSERT_EQ(r.messages.size(), 2u);
    dsn_waits = false;
    deliverer_->jobs.clear();
    deliverer_->script = [&](const delivery::Job& job, const std::string& rcpt) {
        if (!job.mail_from.empty() && rcpt == "bob@example.org") return result(Outcome::permanent, 550, "5.1.1", "gone");
        return ok();
    };
    for (auto& m : r.messages)
        if (m.id == dsn_id) m.recipients[0].next_attempt = {};  // as `queue flush` would
    make_manager(std::move(r.messages));
    ASSERT_TRUE(run_until([&] { return drained(2); }));
    // carol (and the one DSN) went out; bob was not tried again and no second DSN was made.
    ASSERT_EQ(deliverer_->jobs.size(), 2u);
    for (const auto& job : deliverer_->jobs) {
        if (job.mail_from.empty()) EXPECT_EQ(job.queue_id, dsn_id);
        else EXPECT_EQ(job.recipients, std::vector<std::string>{"carol@example.net"});
    }
    EXPECT_EQ(manager_->counters().dsn_failure, 0u);
    EXPECT_TRUE(spool_->list().empty());
}

// Issue 15: a job spanning several domains reports what one destination accepted before the
// others are tried (Job::progress); the queue saves it at once, so a crash while the slow
// domain is still being tried does not deliver to the first one again.
class SlowSecondDomain : public delivery::Deliverer {
public:
    std::vector<delivery::Job> jobs;
    delivery::DoneHandler pending;  // never called: the second domain is still "being tried"
    void deliver(delivery::Job job, delivery::DoneHandler done) override {
        delivery::RecipientResult bob = ok();
        bob.address = "bob@example.org";
        if (job.progress) job.progress({bob});
        jobs.push_back(std::move(job));
        pending = std::move(done);
    }
};

TEST_F(ManagerTest, WhatOneDomainAcceptedIsSavedBeforeTheOthersAreDone) {
    auto slow = std::make_shared<SlowSecondDomain>();
    manager_ = std::make_shared<Manager>(io_.get_executor(), io_.get_executor(), spool_, slow, options_, logger_);
    manager_->start({});
    Envelope e = commit({"bob@example.org", "carol@example.net"});
    manager_->enqueue(e);
    ASSERT_TRUE(run_until([&] {
        auto s = spool_->load(e.id);
        return s && s->recipients[0].state == RcptState::delivered;
    }));
    EXPECT_EQ(spool_->load(e.id)->recipients[1].state, RcptState::pending);
    ASSERT_EQ(slow->jobs.size(), 1u);
    manager_->stop();  // the crash: the job never ends
    io_.run_for(50ms);
    manager_.reset();
    slow->pending = nullptr;  // its handler holds the old Manager
    slow->jobs.clear();

    Spool again(dir_);
    std::string detail;
    ASSERT_FALSE(again.open(detail));
    Recovered r = again.recover();
    ASSERT_EQ(r.messages.size(), 1u);
    make_manager(std::move(r.messages));
    ASSERT_TRUE(run_until([&] { return drained(1); }));
    ASSERT_EQ(deliverer_->jobs.size(), 1u);
    EXPECT_EQ(deliverer_->jobs[0].recipients, std::vector<std::string>{"carol@example.net"});  // not bob again
    EXPECT_TRUE(spool_->list().empty());
}

// The job's own results after progress: counted once, saved once, the message finished.
TEST_F(ManagerTest, ProgressThenDoneCountsEachRecipientOnce) {
    class ProgressThenDone : public delivery::Deliverer {
    public:
        void deliver(delivery::Job job, delivery::DoneHandler done) override {
            delivery::RecipientResult bob = ok(), carol = ok();
            bob.address = "bob@example.org";
            carol.address = "carol@example.net";
            if (job.progress) job.progress({bob});
            done({bob, carol});
        }
    };
    manager_ = std::make_shared<Manager>(io_.get_executor(), io_.get_executor(), spool_,
                                         std::make_shared<ProgressThenDone>(), options_, logger_);
    manager_->start({});
    manager_->enqueue(commit({"bob@example.org", "carol@example.net"}));
    ASSERT_TRUE(run_until([&] { return manager_->counters().removed == 1 && manager_->in_flight() == 0; }));
    EXPECT_EQ(manager_->counters().delivered, 2u);
    EXPECT_EQ(manager_->counters().removed, 1u);
    EXPECT_TRUE(spool_->list().empty());
}

// Two domains' progress reported while the first save is still on the disk pool: one save
// runs at a time (two would share tmp/ID.state, and an older state could land last), and
// the progress that came meanwhile is saved after it, as the latest state.
TEST_F(ManagerTest, ProgressSavesOfOneMessageNeverOverlap) {
    class TwoProgresses : public delivery::Deliverer {
    public:
        delivery::DoneHandler done;
        void deliver(delivery::Job job, delivery::DoneHandler d) override {
            delivery::RecipientResult bob = ok(), carol = ok();
            bob.address = "bob@example.org";
            carol.address = "carol@example.net";
            job.progress({bob});
            job.progress({carol});
            done = std::move(d);
        }
    };
    auto deliverer = std::make_shared<TwoProgresses>();
    boost::asio::io_context blocking;  // the disk pool, run by hand
    manager_ = std::make_shared<Manager>(io_.get_executor(), blocking.get_executor(), spool_, deliverer, options_, logger_);
    manager_->start({});
    Envelope e = commit({"bob@example.org", "carol@example.net", "dave@example.com"});
    manager_->enqueue(e);
    ASSERT_TRUE(run_until([&] { return manager_->counters().delivered == 2; }));
    io_.run_for(20ms);
    io_.restart();
    EXPECT_EQ(blocking.poll(), 1u);  // one save, not two
    blocking.restart();
    auto on_disk = spool_->load(e.id);
    ASSERT_TRUE(on_disk);
    EXPECT_EQ(on_disk->recipients[0].state, RcptState::delivered);
    io_.run_for(20ms);  // the first save's end: the second starts
    io_.restart();
    EXPECT_EQ(blocking.poll(), 1u);
    blocking.restart();
    on_disk = spool_->load(e.id);
    ASSERT_TRUE(on_disk);
    EXPECT_EQ(on_disk->recipients[0].state, RcptState::delivered);
    EXPECT_EQ(on_disk->recipients[1].state, RcptState::delivered);
    EXPECT_EQ(on_disk->recipients[2].state, RcptState::pending);
    // The job ends; its settle waited for nothing more and goes to the disk pool too.
    delivery::RecipientResult dave = ok();
    dave.address = "dave@example.com";
    deliverer->done({dave});
    ASSERT_TRUE(run_until([&] {
        blocking.poll();
        blocking.restart();
        return manager_->counters().removed == 1 && manager_->in_flight() == 0;
    }));
    EXPECT_EQ(manager_->counters().delivered, 3u);
    manager_->stop();
    for (int i = 0; i < 5; ++i) {
        io_.run_for(10ms);
        io_.restart();
        blocking.poll();
        blocking.restart();
    }
    manager_.reset();
    deliverer->done = nullptr;
}

// Flow control: backlog() counts enqueued messages not yet handed to delivery, so
// submission can tell when delivery is not keeping pace; held or deleted ones leave it.
TEST_F(ManagerTest, BacklogCountsNewMessagesUntilDeliveryTakesThem) {
    class Parked : public delivery::Deliverer {
    public:
        std::vector<std::function<void()>> pending;
        void deliver(delivery::Job job, delivery::DoneHandler done) override {
            std::vector<delivery::RecipientResult> results;
            for (const auto& r : job.recipients) {
                auto res = ok();
                res.address = r;
                results.push_back(res);
            }
            pending.push_back([done = std::move(done), results] { done(results); });
        }
    };
    auto parked = std::make_shared<Parked>();
    options_.max_in_flight = 2;
    manager_ = std::make_shared<Manager>(io_.get_executor(), io_.get_executor(), spool_, parked, options_, logger_);
    manager_->start({});
    EXPECT_EQ(manager_->max_in_flight(), 2u);
    std::vector<Envelope> msgs;
    for (int i = 0; i < 5; ++i) msgs.push_back(commit({"bob@example.org"}));
    for (const auto& e : msgs) manager_->enqueue(e);
    EXPECT_EQ(manager_->backlog(), 5u);  // counted as soon as they are handed over
    ASSERT_TRUE(run_until([&] { return parked->pending.size() == 2; }));
    EXPECT_EQ(manager_->backlog(), 3u);  // two in delivery, three waiting for a slot
    // A held message is not waiting for delivery.
    EXPECT_EQ(control([&](Manager::Done d) { manager_->hold(msgs[4].id, std::move(d)); }), ControlResult::ok);
    EXPECT_EQ(manager_->backlog(), 2u);
    // Delivery finishing frees slots: the waiting ones are taken, the backlog drains.
    for (int round = 0; round < 3 && manager_->backlog() > 0; ++round) {
        auto done = std::move(parked->pending);
        parked->pending.clear();
        for (auto& d : done) d();
        ASSERT_TRUE(run_until([&] { return manager_->backlog() == 0 || parked->pending.size() == 2; }));
    }
    EXPECT_EQ(manager_->backlog(), 0u);
    for (auto& d : parked->pending) d();
    parked->pending.clear();  // its handlers hold the Manager, which holds the deliverer
    ASSERT_TRUE(run_until([&] { return manager_->size() == 1 && manager_->in_flight() == 0; }));
}
