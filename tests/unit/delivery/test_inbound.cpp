// tests/unit/delivery/test_inbound.cpp — InboundDeliverer with a fake main deliverer and
// fake home-server deliverers: routing by domain, pass-through of single-destination
// jobs, the split and the merge in the job's order, progress forwarding, `done` exactly
// once (also with sub-results on other threads), the unreachable alert on an injected
// clock; and the factory's wrapping and its errors.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include "fake_server.hpp"
#include "relay/delivery/factory.hpp"
#include "relay/delivery/inbound.hpp"

namespace {

namespace asio = boost::asio;
using namespace signpost;
using namespace signpost::delivery;
using namespace signpost::delivery::test;
using namespace std::chrono_literals;

// Keeps every job it is given; the test answers them.
class FakeDeliverer final : public Deliverer {
public:
    struct Call {
        Job job;
        DoneHandler done;
    };
    void deliver(Job job, DoneHandler done) override {
        std::lock_guard lock(mutex);
        calls.push_back(Call{std::move(job), std::move(done)});
    }
    void stop() override { stopped = true; }

    std::mutex mutex;
    std::vector<Call> calls;
    std::atomic<bool> stopped{false};
};

RecipientResult result(const std::string& address, Outcome outcome, int code = 250, std::string enhanced = "2.0.0",
                       std::string text = "ok") {
    RecipientResult r;
    r.address = address;
    r.outcome = outcome;
    r.code = code;
    r.enhanced = std::move(enhanced);
    r.text = std::move(text);
    return r;
}

// Every recipient of a call with the same outcome (reverse order: the contract allows any).
std::vector<RecipientResult> answer(const Job& job, Outcome outcome, int code = 250, std::string enhanced = "2.0.0",
                                    std::string text = "ok") {
    std::vector<RecipientResult> out;
    for (auto it = job.recipients.rbegin(); it != job.recipients.rend(); ++it)
        out.push_back(result(*it, outcome, code, enhanced, text));
    return out;
}

config::InboundConfig entry(std::string domain, std::string home, config::Duration alert = config::Duration{3600}) {
    config::InboundConfig e;
    e.domain = std::move(domain);
    e.any_recipient = true;
    e.deliver_to = config::Endpoint{std::move(home), 25};
    e.unreachable_alert = alert;
    return e;
}

struct Harness {
    FakeDeliverer* main = nullptr;
    std::map<std::string, FakeDeliverer*> homes;  // by domain
    std::vector<std::pair<std::string, bool>> alerts;
    std::chrono::system_clock::time_point now = std::chrono::system_clock::from_time_t(1'800'000'000);
    std::ostringstream log_text;
    std::unique_ptr<InboundDeliverer> d;

    explicit Harness(std::vector<config::InboundConfig> inbound = {entry("home.example", "nas.home.example"),
                                                                   entry("other.example", "box.other.example")}) {
        auto m = std::make_unique<FakeDeliverer>();
        main = m.get();
        InboundOptions options;
        options.on_unreachable = [this](const std::string& domain, bool down) { alerts.emplace_back(domain, down); };
        options.now = [this] { return now; };
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text);
        auto logger = log::make_root(sink, config::LogFormat::text, config::LogLevel::info);
        d = std::make_unique<InboundDeliverer>(
            std::move(m), std::move(inbound),
            [this](const config::InboundConfig& e, std::size_t) -> std::unique_ptr<Deliverer> {
                auto h = std::make_unique<FakeDeliverer>();
                homes[e.domain] = h.get();
                return h;
            },
            std::move(options), logger);
    }
};

Job job_for(std::vector<std::string> recipients) {
    Job j;
    j.queue_id = "Q1";
    j.mail_from = "alice@example.test";
    j.recipients = std::move(recipients);
    j.message_file = "/spool/Q1";
    j.size = 1234;
    j.prepend = "DKIM-Signature: x\r\n";
    j.smtputf8 = true;
    j.body_8bit = true;
    j.requiretls = true;
    j.tls_required_no = true;
    return j;
}

std::vector<std::string> addresses(const std::vector<RecipientResult>& rs) {
    std::vector<std::string> out;
    for (const auto& r : rs) out.push_back(r.address);
    return out;
}

using V = std::vector<std::string>;

TEST(delivery_Inbound, RoutesByDomainCaseInsensitivelyAfterTheLastAt) {
    Harness h({entry("Home.Example.", "nas"), entry("other.example", "box")});
    EXPECT_EQ(h.d->route("bob@home.example"), 0u);
    EXPECT_EQ(h.d->route("Bob@HOME.Example"), 0u);
    EXPECT_EQ(h.d->route("bob@home.example."), 0u);
    EXPECT_EQ(h.d->route("\"a@b\"@home.example"), 0u);
    EXPECT_EQ(h.d->route("carol@other.example"), 1u);
    EXPECT_EQ(h.d->route("bob@sub.home.example"), InboundDeliverer::npos);  // exact domains only
    EXPECT_EQ(h.d->route("bob@home.example.org"), InboundDeliverer::npos);
    EXPECT_EQ(h.d->route("bob@elsewhere.example"), InboundDeliverer::npos);
    EXPECT_EQ(h.d->route("postmaster"), InboundDeliverer::npos);
    EXPECT_EQ(h.d->route("home.example@x.org"), InboundDeliverer::npos);
}

TEST(delivery_Inbound, JobForMainOnlyPassesThroughUnchanged) {
    Harness h;
    Job j = job_for({"a@x.org", "b@y.org"});
    int progress_calls = 0;
    j.progress = [&](std::vector<RecipientResult>) { ++progress_calls; };
    std::optional<std::vector<RecipientResult>> done;
    h.d->deliver(j, [&](std::vector<RecipientResult> r) { done = std::move(r); });
    ASSERT_EQ(h.main->calls.size(), 1u);
    EXPECT_TRUE(h.homes["home.example"]->calls.empty());
    const Job& got = h.main->calls[0].job;
    EXPECT_EQ(got.recipients, j.recipients);
    ASSERT_TRUE(got.progress);
    got.progress({});
    EXPECT_EQ(progress_calls, 1);
    h.main->calls[0].done(answer(got, Outcome::delivered));
    ASSERT_TRUE(done);
    EXPECT_EQ(addresses(*done), (V{"b@y.org", "a@x.org"}));  // untouched, in the deliverer's order
}

TEST(delivery_Inbound, JobForOneHomeServerPassesThroughUnchanged) {
    Harness h;
    Job j = job_for({"Bob@HOME.example", "carol@home.example"});
    std::optional<std::vector<RecipientResult>> done;
    h.d->deliver(j, [&](std::vector<RecipientResult> r) { done = std::move(r); });
    EXPECT_TRUE(h.main->calls.empty());
    FakeDeliverer* home = h.homes["home.example"];
    ASSERT_EQ(home->calls.size(), 1u);
    const Job& got = home->calls[0].job;
    EXPECT_EQ(got.recipients, j.recipients);
    EXPECT_EQ(got.message_file, j.message_file);
    EXPECT_EQ(got.prepend, j.prepend);
    home->calls[0].done(answer(got, Outcome::delivered));
    ASSERT_TRUE(done);
    EXPECT_EQ(done->size(), 2u);
}

TEST(delivery_Inbound, SplitKeepsTheJobAndMergesInTheJobsOrder) {
    Harness h;
    Job j = job_for({"a@x.org", "b@home.example", "c@y.org", "d@other.example", "e@HOME.example"});
    std::vector<std::vector<RecipientResult>> done;
    h.d->deliver(j, [&](std::vector<RecipientResult> r) { done.push_back(std::move(r)); });
    FakeDeliverer* home = h.homes["home.example"];
    FakeDeliverer* other = h.homes["other.example"];
    ASSERT_EQ(h.main->calls.size(), 1u);
    ASSERT_EQ(home->calls.size(), 1u);
    ASSERT_EQ(other->calls.size(), 1u);
    EXPECT_EQ(h.main->calls[0].job.recipients, (V{"a@x.org", "c@y.org"}));
    EXPECT_EQ(home->calls[0].job.recipients, (V{"b@home.example", "e@HOME.example"}));
    EXPECT_EQ(other->calls[0].job.recipients, (V{"d@other.example"}));
    for (FakeDeliverer* f : {h.main, home, other}) {
        const Job& s = f->calls[0].job;
        EXPECT_EQ(s.queue_id, j.queue_id);
        EXPECT_EQ(s.mail_from, j.mail_from);
        EXPECT_EQ(s.message_file, j.message_file);
        EXPECT_EQ(s.size, j.size);
        EXPECT_EQ(s.prepend, j.prepend);
        EXPECT_TRUE(s.smtputf8 && s.body_8bit && s.requiretls && s.tls_required_no);
    }
    // Out of order, each in reverse: the merge puts them back.
    home->calls[0].done(answer(home->calls[0].job, Outcome::delivered));
    EXPECT_TRUE(done.empty());
    other->calls[0].done(answer(other->calls[0].job, Outcome::permanent, 550, "5.1.1", "no such user"));
    EXPECT_TRUE(done.empty());
    h.main->calls[0].done(answer(h.main->calls[0].job, Outcome::temporary, 451, "4.3.0", "later"));
    ASSERT_EQ(done.size(), 1u);
    const auto& r = done[0];
    EXPECT_EQ(addresses(r), j.recipients);
    const std::vector<Outcome> outcomes{Outcome::temporary, Outcome::delivered, Outcome::temporary, Outcome::permanent,
                                        Outcome::delivered};
    for (std::size_t i = 0; i < r.size(); ++i) EXPECT_EQ(r[i].outcome, outcomes[i]) << r[i].address;
    EXPECT_EQ(r[3].code, 550);
    EXPECT_EQ(r[3].text, "no such user");
}

TEST(delivery_Inbound, ProgressIsForwardedAndFinishedSubJobsReportTheirDeliveries) {
    Harness h;
    Job j = job_for({"a@x.org", "b@home.example", "c@home.example", "d@other.example"});
    std::vector<std::string> events;  // "progress:<addresses>" and "done"
    j.progress = [&](std::vector<RecipientResult> r) {
        std::string e = "progress:";
        for (const auto& x : r) e += x.address + ",";
        events.push_back(e);
    };
    h.d->deliver(j, [&](std::vector<RecipientResult>) { events.push_back("done"); });
    FakeDeliverer* home = h.homes["home.example"];
    FakeDeliverer* other = h.homes["other.example"];
    // A sub-deliverer's own progress reaches the job's.
    ASSERT_TRUE(h.main->calls[0].job.progress);
    h.main->calls[0].job.progress({result("a@x.org", Outcome::delivered)});
    // The home server takes b, defers c: b is reported at once, others still being out.
    home->calls[0].done({result("c@home.example", Outcome::temporary, 421, "4.3.2", "busy"),
                         result("b@home.example", Outcome::delivered)});
    // Nothing delivered: no progress.
    other->calls[0].done(answer(other->calls[0].job, Outcome::temporary, 451));
    // The last one: `done`, no progress of its own.
    h.main->calls[0].done(answer(h.main->calls[0].job, Outcome::delivered));
    EXPECT_EQ(events, (V{"progress:a@x.org,", "progress:b@home.example,", "done"}));
}

TEST(delivery_Inbound, DoneOnceEvenWhenASubDelivererMisbehaves) {
    Harness h;
    Job j = job_for({"a@x.org", "b@home.example", "c@home.example"});
    int done_calls = 0;
    std::vector<RecipientResult> final;
    h.d->deliver(j, [&](std::vector<RecipientResult> r) {
        ++done_calls;
        final = std::move(r);
    });
    FakeDeliverer* home = h.homes["home.example"];
    // Leaves c out and adds a stranger; then calls done a second time.
    home->calls[0].done({result("b@home.example", Outcome::delivered), result("zz@home.example", Outcome::delivered)});
    home->calls[0].done(answer(home->calls[0].job, Outcome::permanent, 550));
    h.main->calls[0].done(answer(h.main->calls[0].job, Outcome::delivered));
    h.main->calls[0].done(answer(h.main->calls[0].job, Outcome::delivered));
    EXPECT_EQ(done_calls, 1);
    ASSERT_EQ(final.size(), 3u);
    EXPECT_EQ(addresses(final), j.recipients);
    EXPECT_EQ(final[1].outcome, Outcome::delivered);
    EXPECT_EQ(final[2].outcome, Outcome::temporary);  // no result: kept for a retry
    EXPECT_EQ(final[2].enhanced, "4.3.0");
}

TEST(delivery_Inbound, DuplicateRecipientsGetOneResultEach) {
    Harness h;
    Job j = job_for({"b@home.example", "a@x.org", "b@home.example"});
    std::vector<RecipientResult> final;
    h.d->deliver(j, [&](std::vector<RecipientResult> r) { final = std::move(r); });
    FakeDeliverer* home = h.homes["home.example"];
    home->calls[0].done({result("b@home.example", Outcome::delivered),
                         result("b@home.example", Outcome::permanent, 550, "5.1.1", "second")});
    h.main->calls[0].done(answer(h.main->calls[0].job, Outcome::delivered));
    ASSERT_EQ(final.size(), 3u);
    EXPECT_EQ(final[0].outcome, Outcome::delivered);
    EXPECT_EQ(final[2].outcome, Outcome::permanent);
    EXPECT_EQ(final[2].text, "second");
}

TEST(delivery_Inbound, SubResultsOnManyThreadsGiveOneDone) {
    for (int round = 0; round < 200; ++round) {
        Harness h;
        Job j = job_for({"a@x.org", "b@home.example", "c@other.example", "d@y.org"});
        std::atomic<int> progress_calls{0};
        std::atomic<int> done_calls{0};
        std::atomic<bool> progress_after_done{false};
        j.progress = [&](std::vector<RecipientResult>) {
            if (done_calls.load() > 0) progress_after_done = true;
            ++progress_calls;
        };
        std::vector<RecipientResult> final;
        h.d->deliver(j, [&](std::vector<RecipientResult> r) {
            final = std::move(r);
            ++done_calls;
        });
        std::vector<std::thread> threads;
        for (FakeDeliverer* f : {h.main, h.homes["home.example"], h.homes["other.example"]}) {
            threads.emplace_back([f] { f->calls[0].done(answer(f->calls[0].job, Outcome::delivered)); });
        }
        for (auto& t : threads) t.join();
        ASSERT_EQ(done_calls.load(), 1);
        EXPECT_FALSE(progress_after_done.load());
        EXPECT_LE(progress_calls.load(), 2);
        ASSERT_EQ(addresses(final), j.recipients);
        for (const auto& r : final) EXPECT_EQ(r.outcome, Outcome::delivered);
    }
}

TEST(delivery_Inbound, StopStopsEveryDeliverer) {
    Harness h;
    h.d->stop();
    EXPECT_TRUE(h.main->stopped);
    EXPECT_TRUE(h.homes["home.example"]->stopped);
    EXPECT_TRUE(h.homes["other.example"]->stopped);
}

// --- the unreachable alert ------------------------------------------------------------------

// One job to home.example answered with `results` for its one recipient.
void deliver_home(Harness& h, RecipientResult r) {
    h.d->deliver(job_for({"b@home.example"}), [](std::vector<RecipientResult>) {});
    FakeDeliverer* home = h.homes["home.example"];
    r.address = "b@home.example";
    home->calls.back().done({r});
}

RecipientResult not_reached() {
    return result("", Outcome::temporary, 0, "4.4.1", "Connection refused while connecting");
}

TEST(delivery_Inbound, UnreachableAlertAfterItsDurationOnceThenReset) {
    Harness h;
    deliver_home(h, not_reached());  // starts the clock
    h.now += 30min;
    deliver_home(h, result("", Outcome::temporary, 0, "4.7.5", "certificate does not match the pin"));
    h.now += 29min;
    deliver_home(h, not_reached());
    EXPECT_TRUE(h.alerts.empty());
    EXPECT_EQ(h.log_text.str().find("unreachable"), std::string::npos);
    h.now += 1min;  // 60 min since the first failure
    deliver_home(h, not_reached());
    ASSERT_EQ(h.alerts.size(), 1u);
    EXPECT_EQ(h.alerts[0], (std::pair<std::string, bool>{"home.example", true}));
    const std::string log = h.log_text.str();
    const std::string want = "home server nas.home.example:25 for domain home.example unreachable since "
                             "2027-01-15T08:00:00Z";
    EXPECT_NE(log.find(want), std::string::npos) << log;
    h.now += 2h;
    deliver_home(h, not_reached());
    EXPECT_EQ(h.alerts.size(), 1u);  // one warning, one call
    // The home server answers (a refusal counts: it was reached).
    deliver_home(h, result("", Outcome::temporary, 452, "4.2.2", "mailbox full"));
    ASSERT_EQ(h.alerts.size(), 2u);
    EXPECT_EQ(h.alerts[1], (std::pair<std::string, bool>{"home.example", false}));
    EXPECT_NE(h.log_text.str().find("reachable again"), std::string::npos);
    // A new failure starts a new clock.
    deliver_home(h, not_reached());
    h.now += 59min;
    deliver_home(h, not_reached());
    EXPECT_EQ(h.alerts.size(), 2u);
    h.now += 1min;
    deliver_home(h, not_reached());
    EXPECT_EQ(h.alerts.size(), 3u);
}

TEST(delivery_Inbound, ReachedBeforeTheAlertResetsTheClockSilently) {
    Harness h;
    deliver_home(h, not_reached());
    h.now += 50min;
    deliver_home(h, result("", Outcome::delivered));
    h.now += 50min;
    deliver_home(h, not_reached());  // a new clock: 0 min
    h.now += 50min;
    deliver_home(h, not_reached());
    EXPECT_TRUE(h.alerts.empty());  // no "false" without a "true" before it
}

TEST(delivery_Inbound, ResultsThatSayNothingAboutTheServerChangeNothing) {
    Harness h;
    // Local trouble (4.3.x), STARTTLS not offered (4.7.4), our own permanent verdict.
    deliver_home(h, result("", Outcome::temporary, 0, "4.3.0", "cannot read the message file"));
    h.now += 2h;
    deliver_home(h, result("", Outcome::temporary, 0, "4.7.4", "does not offer STARTTLS"));
    deliver_home(h, result("", Outcome::permanent, 0, "5.6.7", "needs SMTPUTF8"));
    EXPECT_TRUE(h.alerts.empty());
    // The clock starts at the first real failure, not at the first neutral result.
    deliver_home(h, not_reached());
    h.now += 59min;
    deliver_home(h, not_reached());
    EXPECT_TRUE(h.alerts.empty());
    // A neutral result does not reset it either.
    deliver_home(h, result("", Outcome::temporary, 0, "4.3.0", "cannot read the message file"));
    h.now += 1min;
    deliver_home(h, not_reached());
    EXPECT_EQ(h.alerts.size(), 1u);
}

TEST(delivery_Inbound, AlertCountsTheHomePartOfSplitJobsPerDomain) {
    Harness h;
    auto split = [&] {
        h.d->deliver(job_for({"a@x.org", "b@home.example", "c@other.example"}), [](std::vector<RecipientResult>) {});
        auto timeout = result("b@home.example", Outcome::temporary, 0, "4.4.2", "timeout");
        h.homes["home.example"]->calls.back().done({timeout});
        h.homes["other.example"]->calls.back().done({result("c@other.example", Outcome::delivered)});
        // The main deliverer's failures never count.
        h.main->calls.back().done({result("a@x.org", Outcome::temporary, 0, "4.4.1", "refused")});
    };
    split();
    h.now += 1h;
    split();
    EXPECT_EQ(h.alerts, (std::vector<std::pair<std::string, bool>>{{"home.example", true}}));
}

TEST(delivery_Inbound, ZeroDurationNeverAlertsAndStopMutesIt) {
    Harness zero({entry("home.example", "nas", config::Duration{0})});
    deliver_home(zero, not_reached());
    zero.now += 100h;
    deliver_home(zero, not_reached());
    EXPECT_TRUE(zero.alerts.empty());

    Harness h;
    deliver_home(h, not_reached());
    h.now += 2h;
    h.d->stop();
    deliver_home(h, result("", Outcome::temporary, 0, "4.4.2", "delivery stopped while connecting"));
    EXPECT_TRUE(h.alerts.empty());
}

// --- construction and the factory -----------------------------------------------------------

TEST(delivery_Inbound, HomeServerDeliveryConfigFromTheEntry) {
    config::InboundConfig e = entry("home.example", "nas.home.example");
    e.deliver_to.port = 465;
    e.deliver_tls = config::TlsMode::implicit;
    e.deliver_credentials_file = "/etc/signpost/home-creds";
    config::DeliveryConfig main;
    main.mode = config::DeliveryMode::mx;
    main.extra_ca_file = "/etc/signpost/ca.pem";
    main.smarthost_credentials_file = "/etc/signpost/other";
    main.smarthost_dane = true;
    const config::DeliveryConfig d = home_server_delivery_config(e, main);
    EXPECT_EQ(d.mode, config::DeliveryMode::smarthost);
    ASSERT_TRUE(d.smarthost);
    EXPECT_EQ(*d.smarthost, (config::Endpoint{"nas.home.example", 465}));
    EXPECT_EQ(d.smarthost_tls, config::TlsMode::implicit);
    EXPECT_EQ(d.smarthost_credentials_file, "/etc/signpost/home-creds");
    EXPECT_EQ(d.extra_ca_file, "/etc/signpost/ca.pem");
    EXPECT_FALSE(d.smarthost_dane);
}

struct FactoryFixture {
    TempDir dir;
    asio::io_context io;
    config::Config config;
    FactoryFixture() {
        config.server.hostname = "relay.example.net";
        config.delivery.mode = config::DeliveryMode::capture;
        config.delivery.capture_dir = dir.path() / "capture";
        config.inbound = {entry("home.example", "127.0.0.1"), entry("other.example", "127.0.0.1")};
    }
};

TEST(delivery_Inbound, FactoryWrapsTheModeDeliverer) {
    FactoryFixture f;
    std::string error;
    DeliveryEvents events;
    events.inbound_unreachable = [](const std::string&, bool) {};
    auto d = make_deliverer(f.config, f.io.get_executor(), f.io.get_executor(), nullptr, error, events);
    ASSERT_TRUE(d) << error;
    auto* inbound = dynamic_cast<InboundDeliverer*>(d.get());
    ASSERT_NE(inbound, nullptr);
    EXPECT_EQ(inbound->route("x@other.example"), 1u);

    f.config.inbound.clear();
    d = make_deliverer(f.config, f.io.get_executor(), f.io.get_executor(), nullptr, error);
    ASSERT_TRUE(d) << error;
    EXPECT_EQ(dynamic_cast<InboundDeliverer*>(d.get()), nullptr);
}

TEST(delivery_Inbound, FactoryErrorsNameTheInboundKey) {
    {
        FactoryFixture f;
        f.config.inbound[1].deliver_credentials_file = f.dir.path() / "missing";
        std::string error;
        auto d = make_deliverer(f.config, f.io.get_executor(), f.io.get_executor(), nullptr, error);
        EXPECT_FALSE(d);
        EXPECT_EQ(error.rfind("inbound[1].deliver_credentials_file: ", 0), 0u) << error;
    }
    {
        FactoryFixture f;
        const auto creds = f.dir.path() / "creds";
        write_file(creds, "no colon\n");
        ::chmod(creds.c_str(), 0600);
        f.config.inbound[0].deliver_credentials_file = creds;
        std::string error;
        EXPECT_FALSE(make_deliverer(f.config, f.io.get_executor(), f.io.get_executor(), nullptr, error));
        EXPECT_EQ(error.rfind("inbound[0].deliver_credentials_file: ", 0), 0u) << error;
    }
    {
        FactoryFixture f;
        f.config.inbound[1].deliver_fingerprint = "abcd";
        std::string error;
        EXPECT_FALSE(make_deliverer(f.config, f.io.get_executor(), f.io.get_executor(), nullptr, error));
        EXPECT_EQ(error.rfind("inbound[1].deliver_fingerprint: ", 0), 0u) << error;
    }
    {
        FactoryFixture f;
        f.config.delivery.extra_ca_file = f.dir.path() / "missing-ca.pem";
        f.config.delivery.mode = config::DeliveryMode::capture;
        std::string error;
        EXPECT_FALSE(make_deliverer(f.config, f.io.get_executor(), f.io.get_executor(), nullptr, error));
        EXPECT_EQ(error.rfind("delivery.extra_ca_file: ", 0), 0u) << error;
    }
}

}  // namespace
