// tests/unit/mtasts/test_store.cpp — the PolicyStore over a scripted resolver, a scripted
// fetcher and a clock the test moves: discovery (§3.1), fetch / cache / re-fetch on a new
// id, the cached policy after failures (§5.1), mode none, the disabled store, the cache
// files (restart, damage), shared fetches, background refresh.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include "relay/mtasts/store.hpp"
#include "tests/unit/mtasts/scripted.hpp"

namespace signpost::mtasts {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Source = Lookup::Source;
using SysClock = std::chrono::system_clock;
using test::ScriptedFetcher;
using test::ScriptedResolver;

const std::string kDomain = "example.test";
const std::string kTxtName = "_mta-sts.example.test";
const std::string kPolicyA = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmax_age: 864000\r\n";
const std::string kPolicyB = "version: STSv1\r\nmode: testing\r\nmx: *.example.test\r\nmax_age: 604800\r\n";

class mtasts_store : public ::testing::Test {
protected:
    mtasts_store() {
        resolver = std::make_shared<ScriptedResolver>();
        fetcher = std::make_shared<ScriptedFetcher>();
        cfg.mta_sts.cache_dir = dir.path() / "mta-sts";
        logger = log::make_root(std::make_shared<spdlog::sinks::ostream_sink_mt>(*log_text), config::LogFormat::text,
                                config::LogLevel::debug);
    }

    std::shared_ptr<PolicyStore> make_store(std::shared_ptr<Fetcher> f = nullptr) {
        StoreOptions o;
        o.fetcher = f ? f : fetcher;
        o.clock = [this] { return now; };
        o.logger = logger;
        return make_policy_store(io.get_executor(), resolver, cfg, std::move(o));
    }
    Lookup lookup(const std::shared_ptr<PolicyStore>& store, const std::string& domain = kDomain) {
        return test::run(io, store->lookup(domain));
    }
    std::string logged() {
        logger->flush();
        return log_text->str();
    }

    boost::asio::io_context io;
    test::TempDir dir;
    config::Config cfg;
    std::shared_ptr<ScriptedResolver> resolver;
    std::shared_ptr<ScriptedFetcher> fetcher;
    SysClock::time_point now = SysClock::time_point(1'700'000'000s);
    std::shared_ptr<std::ostringstream> log_text = std::make_shared<std::ostringstream>();
    log::Logger logger;
};

TEST_F(mtasts_store, NoTxtRecordMeansNoPolicyAndNoFetch) {
    auto store = make_store();
    const Lookup r = lookup(store);
    EXPECT_EQ(r.source, Source::none);
    EXPECT_FALSE(r.policy);
    EXPECT_THAT(r.detail, HasSubstr("NXDOMAIN"));
    EXPECT_TRUE(fetcher->calls.empty());
    EXPECT_EQ(resolver->txt_queries, 1);
}

TEST_F(mtasts_store, FetchesOnceThenAnswersFromTheCache) {
    resolver->set_txt(kTxtName, {"v=STSv1; id=20240101;"});
    fetcher->serve(kDomain, kPolicyA);
    auto store = make_store();
    Lookup r = lookup(store);
    EXPECT_EQ(r.source, Source::fetched) << r.detail;
    ASSERT_TRUE(r.policy);
    EXPECT_EQ(r.policy->mode, Mode::enforce);
    EXPECT_EQ(r.policy->mx, std::vector<std::string>{"mx1.example.test"});
    EXPECT_EQ(r.policy->id, "20240101");
    EXPECT_EQ(r.policy->fetched, now);
    EXPECT_EQ(r.detail, "");

    now += 1h;
    r = lookup(store);
    EXPECT_EQ(r.source, Source::cached) << r.detail;
    ASSERT_TRUE(r.policy);
    EXPECT_EQ(r.policy->fetched, now - 1h);
    EXPECT_EQ(fetcher->calls.size(), 1u);
    EXPECT_EQ(resolver->txt_queries, 2);  // the TXT record is asked every time

    const auto held = store->cached(kDomain);
    ASSERT_TRUE(held);
    EXPECT_EQ(held->id, "20240101");
    EXPECT_TRUE(store->cached("EXAMPLE.test."));  // normalized like lookup()
    EXPECT_FALSE(store->cached("other.test"));
    EXPECT_THAT(logged(), HasSubstr("policy fetched (mode enforce, 1 mx, max_age 864000, id 20240101)"));
}

TEST_F(mtasts_store, EventsCountFetchesByOutcomeAndPoliciesHeld) {
    std::map<std::string, int> fetches;
    std::vector<std::size_t> held;
    auto make = [&] {
        StoreOptions o;
        o.fetcher = fetcher;
        o.clock = [this] { return now; };
        o.logger = logger;
        o.events.fetch = [&](const char* outcome) { ++fetches[outcome]; };
        o.events.cached = [&](std::size_t n) { held.push_back(n); };
        return make_policy_store(io.get_executor(), resolver, cfg, std::move(o));
    };
    auto store = make();
    EXPECT_EQ(held, std::vector<std::size_t>{0});  // the (empty) cache directory was read

    resolver->set_txt(kTxtName, {"v=STSv1; id=1"});
    fetcher->fail(kDomain, "connection refused");
    lookup(store);
    fetcher->serve(kDomain, "version: STSv1\r\nmode: sometimes\r\n");
    lookup(store);
    fetcher->serve(kDomain, kPolicyA);
    lookup(store);
    lookup(store);  // from the cache: no fetch
    resolver->set_txt("_mta-sts.other.test", {"v=STSv1; id=7"});
    fetcher->serve("other.test", kPolicyB);
    lookup(store, "other.test");
    EXPECT_EQ(fetches, (std::map<std::string, int>{{"fetch_failed", 1}, {"invalid_policy", 1}, {"fetched", 2}}));
    EXPECT_EQ(held, (std::vector<std::size_t>{0, 1, 2}));

    held.clear();
    auto restarted = make();  // both policies come back from the cache files
    EXPECT_EQ(held, std::vector<std::size_t>{2});
}

TEST_F(mtasts_store, DomainIsNormalizedAndValidated) {
    resolver->set_txt(kTxtName, {"v=STSv1; id=1"});
    fetcher->serve(kDomain, kPolicyA);
    auto store = make_store();
    EXPECT_EQ(lookup(store, "Example.TEST.").source, Source::fetched);
    for (const char* bad : {"", "../etc", "a/b.test", "exa mple.test", "-x.test", "a..test", "*.test"}) {
        const Lookup r = lookup(store, bad);
        EXPECT_EQ(r.source, Source::none) << bad;
        EXPECT_THAT(r.detail, HasSubstr("not a valid domain")) << bad;
    }
    EXPECT_EQ(resolver->txt_queries, 1);
    EXPECT_EQ(fetcher->calls.size(), 1u);
}

TEST_F(mtasts_store, NewIdIsFetched) {
    resolver->set_txt(kTxtName, {"v=STSv1; id=1"});
    fetcher->serve(kDomain, kPolicyA);
    auto store = make_store();
    ASSERT_EQ(lookup(store).source, Source::fetched);
    resolver->set_txt(kTxtName, {"v=STSv1; id=2"});
    fetcher->serve(kDomain, kPolicyB);
    now += 10min;
    const Lookup r = lookup(store);
    EXPECT_EQ(r.source, Source::fetched) << r.detail;
    ASSERT_TRUE(r.policy);
    EXPECT_EQ(r.policy->id, "2");
    EXPECT_EQ(r.policy->mode, Mode::testing);
    EXPECT_EQ(r.policy->fetched, now);
    EXPECT_EQ(fetcher->calls.size(), 2u);
    EXPECT_EQ(store->cached(kDomain)->id, "2");
}

TEST_F(mtasts_store, FailedFetchKeepsTheUnexpiredCachedPolicy) {
    resolver->set_txt(kTxtName, {"v=STSv1; id=1"});
    fetcher->serve(kDomain, kPolicyA);
    auto store = make_store();
    ASSERT_EQ(lookup(store).source, Source::fetched);

    resolver->set_txt(kTxtName, {"v=STSv1; id=2"});
    fetcher->fail(kDomain, "https://mta-sts.example.test/.well-known/mta-sts.txt: HTTP 404 (only 200 is a policy)");
    Lookup r = lookup(store);
    EXPECT_EQ(r.source, Source::cached_after_failure);
    ASSERT_TRUE(r.policy);
    EXPECT_EQ(r.policy->id, "1");
    EXPECT_THAT(r.detail, HasSubstr("fetch: https://mta-sts.example.test/.well-known/mta-sts.txt: HTTP 404"));
    EXPECT_THAT(logged(), HasSubstr("the cached policy (id 1) stays in force"));

    // An invalid body is a failure too.
    fetcher->serve(kDomain, "version: STSv1\r\nmode: enforce\r\nmax_age: 86400\r\n");
    r = lookup(store);
    EXPECT_EQ(r.source, Source::cached_after_failure);
    EXPECT_THAT(r.detail, HasSubstr("policy: missing field \"mx\""));
    EXPECT_EQ(store->cached(kDomain)->id, "1");

    // Once the cached policy has expired, a failure leaves no policy.
    now += 864000s;
    r = lookup(store);
    EXPECT_EQ(r.source, Source::none);
    EXPECT_FALSE(r.policy);
    EXPECT_THAT(r.detail, HasSubstr("policy: missing field \"mx\""));
}

TEST_F(mtasts_store, FailedFetchWithoutCacheIsNoPolicy) {
    resolver->set_txt(kTxtName, {"v=STSv1; id=1"});
    fetcher->fail(kDomain, "https://mta-sts.example.test/.well-known/mta-sts.txt: Content-Type is not text/plain");
    auto store = make_store();
    const Lookup r = lookup(store);
    EXPECT_EQ(r.source, Source::none);
    EXPECT_FALSE(r.policy);
    EXPECT_THAT(r.detail, HasSubstr("fetch: https://mta-sts.example.test/.well-known/mta-sts.txt: Content-Type"));
    EXPECT_FALSE(store->cached(kDomain));
}

TEST_F(mtasts_store, TxtFailureOrRemovalKeepsTheCachedPolicyUntilItExpires) {
    resolver->set_txt(kTxtName, {"v=STSv1; id=1"});
    fetcher->serve(kDomain, kPolicyA);
    auto store = make_store();
    ASSERT_EQ(lookup(store).source, Source::fetched);

    resolver->set_txt_status(kTxtName, dns::Status::servfail, "SERVFAIL");
    Lookup r = lookup(store);
    EXPECT_EQ(r.source, Source::cached);
    ASSERT_TRUE(r.policy);
    EXPECT_THAT(r.detail, HasSubstr("TXT lookup of _mta-sts.example.test failed: SERVFAIL; using the cached policy"));

    resolver->set_txt_status(kTxtName, dns::Status::timeout);
    r = lookup(store);
    EXPECT_EQ(r.source, Source::cached);
    EXPECT_THAT(r.detail, HasSubstr("timeout"));

    resolver->txt_answers.erase(kTxtName);  // NXDOMAIN
    r = lookup(store);
    EXPECT_EQ(r.source, Source::cached);
    EXPECT_THAT(r.detail, HasSubstr("NXDOMAIN"));
    EXPECT_EQ(fetcher->calls.size(), 1u);

    now += 864000s;  // max_age
    r = lookup(store);
    EXPECT_EQ(r.source, Source::none);
    EXPECT_FALSE(r.policy);
    EXPECT_THAT(r.detail, HasSubstr("(the cached policy has expired)"));
}

TEST_F(mtasts_store, ExpiredPolicyIsFetchedAgainUnderTheSameId) {
    resolver->set_txt(kTxtName, {"v=STSv1; id=1"});
    fetcher->serve(kDomain, kPolicyA);
    auto store = make_store();
    ASSERT_EQ(lookup(store).source, Source::fetched);
    now += 864000s;
    const Lookup r = lookup(store);
    EXPECT_EQ(r.source, Source::fetched);
    EXPECT_EQ(r.policy->fetched, now);
    EXPECT_EQ(fetcher->calls.size(), 2u);
}

TEST_F(mtasts_store, OnlyOneRecordBeginningWithVersionCounts) {
    fetcher->serve(kDomain, kPolicyA);
    auto store = make_store();
    // Other TXT records (SPF, verification tokens, "v=STSv10") are discarded.
    resolver->set_txt(kTxtName, {"v=spf1 -all", "v=STSv10; id=9", "v=STSv1; id=7", "google-site-verification=x"});
    Lookup r = lookup(store);
    EXPECT_EQ(r.source, Source::fetched) << r.detail;
    EXPECT_EQ(r.policy->id, "7");

    // Two records beginning with "v=STSv1": no valid record (§3.1). The cached policy stays.
    resolver->set_txt(kTxtName, {"v=STSv1; id=7", "v=STSv1; id=8"});
    r = lookup(store);
    EXPECT_EQ(r.source, Source::cached);
    EXPECT_THAT(r.detail, HasSubstr("2 TXT records at _mta-sts.example.test begin with \"v=STSv1\""));

    // Without a cache: no policy. The same for a single invalid record and for none.
    auto fresh_dir = test::TempDir();
    cfg.mta_sts.cache_dir = fresh_dir.path();
    auto store2 = make_store();
    r = lookup(store2);
    EXPECT_EQ(r.source, Source::none);
    EXPECT_THAT(r.detail, HasSubstr("2 TXT records"));
    resolver->set_txt(kTxtName, {"v=STSv1; id=; x=1"});
    r = lookup(store2);
    EXPECT_EQ(r.source, Source::none);
    EXPECT_THAT(r.detail, HasSubstr("invalid TXT record at _mta-sts.example.test: id must be"));
    resolver->set_txt(kTxtName, {"v=spf1 -all"});
    r = lookup(store2);
    EXPECT_EQ(r.source, Source::none);
    EXPECT_THAT(r.detail, HasSubstr("no _mta-sts.example.test TXT record beginning with \"v=STSv1\""));
    resolver->set_txt(kTxtName, {});
    EXPECT_EQ(lookup(store2).source, Source::none);
    EXPECT_EQ(fetcher->calls.size(), 1u);
}

TEST_F(mtasts_store, ModeNoneIsStoredButPutsNoPolicyInForce) {
    resolver->set_txt(kTxtName, {"v=STSv1; id=1"});
    fetcher->serve(kDomain, kPolicyA);
    auto store = make_store();
    ASSERT_TRUE(lookup(store).policy);

    resolver->set_txt(kTxtName, {"v=STSv1; id=2"});
    fetcher->serve(kDomain, "version: STSv1\nmode: none\nmax_age: 86400\n");
    Lookup r = lookup(store);
    EXPECT_EQ(r.source, Source::fetched);
    EXPECT_FALSE(r.policy);
    EXPECT_THAT(r.detail, HasSubstr("policy mode none"));
    r = lookup(store);
    EXPECT_EQ(r.source, Source::cached);
    EXPECT_FALSE(r.policy);
    const auto held = store->cached(kDomain);
    ASSERT_TRUE(held);
    EXPECT_EQ(held->mode, Mode::none);
    EXPECT_EQ(held->id, "2");
}

TEST_F(mtasts_store, DisabledStoreAnswersNoneWithoutAskingAnything) {
    cfg.mta_sts.enabled = false;
    resolver->set_txt(kTxtName, {"v=STSv1; id=1"});
    fetcher->serve(kDomain, kPolicyA);
    auto store = make_store();
    const Lookup r = lookup(store);
    EXPECT_EQ(r.source, Source::none);
    EXPECT_FALSE(r.policy);
    EXPECT_THAT(r.detail, HasSubstr("disabled"));
    EXPECT_FALSE(store->cached(kDomain));
    EXPECT_EQ(resolver->txt_queries, 0);
    EXPECT_TRUE(fetcher->calls.empty());
    EXPECT_FALSE(fs::exists(cfg.mta_sts.cache_dir));
    // The daemon's factory too.
    auto daemon_store = make_policy_store(io.get_executor(), resolver, cfg);
    EXPECT_EQ(test::run(io, daemon_store->lookup(kDomain)).source, Source::none);
}

TEST_F(mtasts_store, PoliciesSurviveARestart) {
    resolver->set_txt(kTxtName, {"v=STSv1; id=1"});
    fetcher->serve(kDomain, kPolicyA);
    {
        auto store = make_store();
        ASSERT_EQ(lookup(store).source, Source::fetched);
    }
    const fs::path file = cfg.mta_sts.cache_dir / "example.test.policy";
    ASSERT_TRUE(fs::exists(file));
    EXPECT_EQ((fs::status(file).permissions() & fs::perms::others_all), fs::perms::none);
    std::size_t entries = 0;
    for (const auto& e : fs::directory_iterator(cfg.mta_sts.cache_dir)) {
        (void)e;
        ++entries;
    }
    EXPECT_EQ(entries, 1u);  // no temp file left behind

    auto failing = std::make_shared<ScriptedFetcher>();
    now += 2h;
    auto store = make_store(failing);
    const auto held = store->cached(kDomain);
    ASSERT_TRUE(held);
    EXPECT_EQ(held->fetched, now - 2h);
    EXPECT_EQ(held->id, "1");
    const Lookup r = lookup(store);
    EXPECT_EQ(r.source, Source::cached) << r.detail;
    ASSERT_TRUE(r.policy);
    EXPECT_EQ(r.policy->mx, std::vector<std::string>{"mx1.example.test"});
    EXPECT_TRUE(failing->calls.empty());
}

TEST_F(mtasts_store, DamagedCacheFilesAreIgnoredWithALogLine) {
    Policy p;
    p.mode = Mode::enforce;
    p.mx = {"mx1.example.test"};
    p.max_age = 864000;
    p.id = "1";
    p.fetched = now;
    const std::string good = format_cache_file("good.test", p, kPolicyA);
    fs::create_directories(cfg.mta_sts.cache_dir);
    const auto write = [&](const std::string& name, const std::string& text) {
        std::ofstream(cfg.mta_sts.cache_dir / name, std::ios::binary) << text;
    };
    write("good.test.policy", good);
    write("garbage.test.policy", "hello\n");
    write("torn.test.policy", format_cache_file("torn.test", p, kPolicyA).substr(0, 60));
    write("moved.test.policy", format_cache_file("elsewhere.test", p, kPolicyA));
    write("README", "not a cache file");
    write(".x.policy.tmp.1.2", "a temp file");

    auto store = make_store();
    EXPECT_TRUE(store->cached("good.test"));
    EXPECT_FALSE(store->cached("garbage.test"));
    EXPECT_FALSE(store->cached("torn.test"));
    EXPECT_FALSE(store->cached("moved.test"));
    const std::string log = logged();
    EXPECT_THAT(log, HasSubstr("garbage.test.policy ignored: line 1: expected \"signpost-mta-sts-cache 1...\""));
    EXPECT_THAT(log, HasSubstr("torn.test.policy ignored"));
    EXPECT_THAT(log, HasSubstr("moved.test.policy ignored: written for another domain"));
    EXPECT_THAT(log, ::testing::Not(HasSubstr("README")));
    EXPECT_TRUE(fs::exists(cfg.mta_sts.cache_dir / ".x.policy.tmp.1.2"));  // recent: may be in use

    // A damaged file is replaced by the next fetch.
    resolver->set_txt("_mta-sts.torn.test", {"v=STSv1; id=5"});
    fetcher->serve("torn.test", kPolicyB);
    EXPECT_EQ(lookup(store, "torn.test").source, Source::fetched);
    auto again = make_store();
    ASSERT_TRUE(again->cached("torn.test"));
    EXPECT_EQ(again->cached("torn.test")->id, "5");
}

TEST(mtasts_cache_file, RoundTripsAndRejectsEveryDamage) {
    const auto now = SysClock::time_point(1'700'000'000s);
    Policy p;
    p.mode = Mode::testing;
    p.mx = {"*.example.test"};
    p.max_age = 604800;
    p.id = "abc123";
    p.fetched = now - 5s;
    const std::string text = format_cache_file("example.test", p, kPolicyB);
    EXPECT_EQ(text.substr(0, 25), "signpost-mta-sts-cache 1\n");
    std::string error;
    const auto back = parse_cache_file(text, "example.test", now, error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(back->mode, p.mode);
    EXPECT_EQ(back->mx, p.mx);
    EXPECT_EQ(back->max_age, p.max_age);
    EXPECT_EQ(back->id, p.id);
    EXPECT_EQ(back->fetched, p.fetched);

    // Every truncation and every extension is refused.
    for (std::size_t n = 0; n < text.size(); ++n)
        EXPECT_FALSE(parse_cache_file(text.substr(0, n), "example.test", now, error)) << n;
    EXPECT_FALSE(parse_cache_file(text + "x", "example.test", now, error));
    EXPECT_FALSE(parse_cache_file(text, "other.test", now, error));
    EXPECT_EQ(error, "written for another domain");
    // A fetch time more than a day ahead of the clock.
    EXPECT_FALSE(parse_cache_file(text, "example.test", now - 25h, error));
    EXPECT_EQ(error, "fetch time is in the future");
    // A body that no longer parses.
    std::string bad = text;
    bad.replace(bad.find("mode: testing"), 13, "mode: Testing");
    EXPECT_FALSE(parse_cache_file(bad, "example.test", now, error));
    EXPECT_THAT(error, HasSubstr("body: line 2: mode must be"));
    // A wrong id.
    bad = text;
    bad.replace(bad.find("id abc123"), 9, "id abc-12");
    EXPECT_FALSE(parse_cache_file(bad, "example.test", now, error));
    EXPECT_EQ(error, "invalid id");
}

TEST_F(mtasts_store, ConcurrentLookupsShareOneFetch) {
    resolver->set_txt(kTxtName, {"v=STSv1; id=1"});
    resolver->set_txt("_mta-sts.other.test", {"v=STSv1; id=1"});
    fetcher->serve(kDomain, kPolicyA);
    fetcher->serve("other.test", kPolicyB);
    fetcher->delay = 50ms;
    auto store = make_store();
    std::vector<Lookup> results;
    for (int i = 0; i < 5; ++i) {
        boost::asio::co_spawn(io, store->lookup(i == 2 ? "other.test" : kDomain),
                              [&](std::exception_ptr e, Lookup r) {
                                  ASSERT_FALSE(e);
                                  results.push_back(std::move(r));
                              });
    }
    io.run();
    ASSERT_EQ(results.size(), 5u);
    for (const auto& r : results) EXPECT_EQ(r.source, Source::fetched) << r.detail;
    EXPECT_EQ(fetcher->calls.size(), 2u);  // one per domain
    EXPECT_EQ(resolver->txt_queries, 2);
}

TEST_F(mtasts_store, ACancelledLookupDoesNotFailOthersSharingItsFetch) {
    using namespace boost::asio::experimental::awaitable_operators;
    resolver->set_txt(kTxtName, {"v=STSv1; id=1"});
    fetcher->serve(kDomain, kPolicyA);
    fetcher->delay = 100ms;
    auto store = make_store();
    // The first lookup gives up after 10 ms (it starts the fetch); the second waits.
    std::optional<std::size_t> first_winner;
    std::optional<Lookup> second;
    auto impatient = [&]() -> boost::asio::awaitable<void> {
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, 10ms);
        auto v = co_await (store->lookup(kDomain) || t.async_wait(boost::asio::use_awaitable));
        first_winner = v.index();
    };
    boost::asio::co_spawn(io, impatient(), [](std::exception_ptr e) { ASSERT_FALSE(e); });
    boost::asio::co_spawn(io, store->lookup(kDomain), [&](std::exception_ptr e, Lookup r) {
        ASSERT_FALSE(e);
        second = std::move(r);
    });
    io.run();
    EXPECT_EQ(first_winner, 1u);  // the timer
    ASSERT_TRUE(second);
    EXPECT_EQ(second->source, Source::fetched) << second->detail;
    EXPECT_EQ(fetcher->calls.size(), 1u);
    EXPECT_EQ(lookup(store).source, Source::cached);
}

TEST_F(mtasts_store, RefreshesAPolicyNearExpiryInTheBackground) {
    resolver->set_txt(kTxtName, {"v=STSv1; id=1"});
    fetcher->serve(kDomain, kPolicyA);  // max_age 10 days: refreshed in its last day
    auto store = make_store();
    ASSERT_EQ(lookup(store).source, Source::fetched);
    const auto first = now;

    now = first + 864000s - 86400s - 1s;  // just outside the window
    EXPECT_EQ(lookup(store).source, Source::cached);
    EXPECT_EQ(fetcher->calls.size(), 1u);

    now = first + 864000s - 3600s;  // inside: the lookup answers from the cache at once...
    Lookup r = lookup(store);
    EXPECT_EQ(r.source, Source::cached);
    EXPECT_EQ(r.policy->fetched, first);
    // ...and a background fetch renewed the policy (test::run ran it to the end).
    EXPECT_EQ(fetcher->calls.size(), 2u);
    ASSERT_TRUE(store->cached(kDomain));
    EXPECT_EQ(store->cached(kDomain)->fetched, now);
    EXPECT_THAT(logged(), HasSubstr("policy refreshed"));

    // A failed refresh keeps the policy and is not retried at once.
    now += 864000s - 3600s;
    fetcher->fail(kDomain, "HTTP 500");
    r = lookup(store);
    EXPECT_EQ(r.source, Source::cached);
    EXPECT_EQ(fetcher->calls.size(), 3u);
    EXPECT_THAT(logged(), HasSubstr("background refresh failed: fetch: HTTP 500"));
    r = lookup(store);
    EXPECT_EQ(r.source, Source::cached);
    EXPECT_EQ(fetcher->calls.size(), 3u);  // refresh_retry (5 min of steady time) not over
    // The refreshed policy reached the file too.
    auto again = make_store();
    EXPECT_EQ(again->cached(kDomain)->fetched, now - (864000s - 3600s));
}

TEST(mtasts_refresh_window, TenthOfMaxAgeAtLeastADayAtMostHalf) {
    EXPECT_EQ(refresh_window(31557600), std::chrono::seconds(3155760));
    EXPECT_EQ(refresh_window(604800), std::chrono::seconds(86400));
    EXPECT_EQ(refresh_window(864000), std::chrono::seconds(86400));
    EXPECT_EQ(refresh_window(86400), std::chrono::seconds(43200));
    EXPECT_EQ(refresh_window(0), std::chrono::seconds(0));
}

TEST_F(mtasts_store, UnusableCacheDirThrowsNamingIt) {
    fs::create_directories(dir.path());
    std::ofstream(dir.path() / "file") << "x";
    cfg.mta_sts.cache_dir = dir.path() / "file" / "mta-sts";
    try {
        make_store();
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("mta_sts.cache_dir"));
        EXPECT_THAT(e.what(), HasSubstr((dir.path() / "file" / "mta-sts").string()));
    }
}

TEST_F(mtasts_store, UnreadableExtraCaFileThrowsNamingIt) {
    cfg.delivery.extra_ca_file = dir.path() / "missing-ca.pem";
    try {
        make_policy_store(io.get_executor(), resolver, cfg);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("delivery.extra_ca_file"));
        EXPECT_THAT(e.what(), HasSubstr("missing-ca.pem"));
    }
}

}  // namespace
}  // namespace signpost::mtasts
