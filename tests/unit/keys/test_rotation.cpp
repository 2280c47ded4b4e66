// Unit tests for keys/state and keys/rotation: the state file format and the pure rotation
// planner, driven by a controllable clock and a fake DNS.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "keys/rotation.hpp"
#include "keys/state.hpp"

using namespace signpost;
using namespace signpost::keys;
using config::DkimAlgorithm;
using std::chrono::days;
using std::chrono::hours;

namespace {

const Time kT0 = Time{std::chrono::seconds{1763856000}};  // 2025-11-23T00:00:00Z

RotationPolicy policy(std::vector<DkimAlgorithm> algs = {DkimAlgorithm::ed25519}) {
    RotationPolicy p;
    p.algorithms = std::move(algs);
    p.rotate_every = days(90);
    p.publish_lead = days(7);
    p.retire_after = days(12);
    return p;
}

// A fake DNS: selectors whose record is published (with the right key) or wrong.
struct FakeDns {
    std::set<std::string> published, wrong, failing;
    std::vector<std::string> asked;
    DnsStatus operator()(const KeyEntry& k) {
        asked.push_back(k.selector);
        if (failing.count(k.selector)) return DnsStatus::error;
        if (wrong.count(k.selector)) return DnsStatus::mismatch;
        return published.count(k.selector) ? DnsStatus::published : DnsStatus::missing;
    }
};

std::vector<EventKind> kinds(const Plan& p) {
    std::vector<EventKind> out;
    for (const auto& e : p.events) out.push_back(e.kind);
    return out;
}

// ---- state file -----------------------------------------------------------------------

TEST(StateFile, RoundTripsEveryField) {
    DomainKeys s{"example.com", {}};
    KeyEntry a{"sp2025-11a", DkimAlgorithm::ed25519, KeyState::retired, kT0, kT0 + days(1),
               kT0 + days(91), kT0 + days(103), false};
    KeyEntry b{"sp2026-02a", DkimAlgorithm::rsa2048, KeyState::active, kT0 + days(80), kT0 + days(91), {}, {}, false};
    KeyEntry c{"sp2026-05a", DkimAlgorithm::rsa2048, KeyState::pending, kT0 + days(170), {}, {}, {}, true};
    s.keys = {a, b, c};
    std::string text = serialize_state(s);
    EXPECT_EQ(text, "signpost-keys 1\n"
                    "key sp2025-11a ed25519 retired created=1763856000 activated=1763942400 "
                    "retiring=1771718400 retired=1772755200\n"
                    "key sp2026-02a rsa2048 active created=1770768000 activated=1771718400\n"
                    "key sp2026-05a rsa2048 pending created=1778544000 asap\n"
                    "end\n");
    ParsedState back = parse_state(text, "example.com");
    ASSERT_FALSE(back.error) << back.error->message;
    EXPECT_EQ(back.state, s);
}

// Found by tests/fuzz/keys/fuzz_keys_state (corpus file regression-asap-on-active-key):
// `asap` marks a pending key only; serialize_state never writes it for another state, so a
// parsed (hand-edited) file with it on an active key did not survive a write and re-read.
TEST(StateFile, AsapOnANonPendingKeyIsIgnored) {
    const std::string text = "signpost-keys 1\n"
                             "key sel1 ed25519 active created=1 activated=2 asap\n"
                             "key sel2 rsa2048 pending created=3 asap\n"
                             "end\n";
    ParsedState p = parse_state(text, "example.com");
    ASSERT_FALSE(p.error) << p.error->message;
    ASSERT_EQ(p.state.keys.size(), 2u);
    EXPECT_FALSE(p.state.keys[0].asap);
    EXPECT_TRUE(p.state.keys[1].asap);
    ParsedState back = parse_state(serialize_state(p.state), "example.com");
    ASSERT_FALSE(back.error) << back.error->message;
    EXPECT_EQ(back.state, p.state);
}

TEST(StateFile, DamageIsDetectedWithTheLine) {
    struct Case {
        std::string text;
        std::uint32_t line;
        std::string needle;
    };
    const std::string head = "signpost-keys 1\n";
    const std::string ok = "key sel1 ed25519 active created=1 activated=2\n";
    std::vector<Case> cases = {
        {"", 0, "empty"},
        {"signpost-keys 2\nend\n", 1, "not a Signpost key state file"},
        {head + ok, 0, "truncated"},
        {head + ok + "en", 3, "truncated"},
        {head + "key sel1 ed25519 active created=1\nend\n", 2, "activated"},
        {head + "key sel1 ed448 active created=1 activated=1\nend\n", 2, "unknown algorithm"},
        {head + "key sel1 ed25519 shiny created=1\nend\n", 2, "unknown state"},
        {head + "key Sel_1 ed25519 pending created=1\nend\n", 2, "invalid selector"},
        {head + ok + ok + "end\n", 3, "listed twice"},
        {head + ok + "key sel2 ed25519 active created=1 activated=2\nend\n", 3, "two active"},
        {head + "key sel1 ed25519 pending created=x\nend\n", 2, "bad field"},
        {head + "key sel1 ed25519 pending created=1 colour=2\nend\n", 2, "unknown field"},
        {head + "key sel1 ed25519 pending\nend\n", 2, "expected"},
        {head + "key sel1 ed25519 retiring created=1 activated=1\nend\n", 2, "retiring="},
        {head + ok + "end\nkey x\n", 4, "after the end"},
    };
    for (const auto& c : cases) {
        ParsedState p = parse_state(c.text, "example.com");
        ASSERT_TRUE(p.error) << c.text;
        EXPECT_EQ(p.error->line, c.line) << c.text;
        EXPECT_NE(p.error->message.find(c.needle), std::string::npos) << c.text << " -> " << p.error->message;
    }
}

TEST(Selector, MonthStemAndFirstFreeLetter) {
    DomainKeys s{"example.com", {}};
    EXPECT_EQ(next_selector(s, "sp", kT0), "sp2025-11a");
    s.keys.push_back({"sp2025-11a", DkimAlgorithm::ed25519, KeyState::active, kT0, kT0, {}, {}, false});
    EXPECT_EQ(next_selector(s, "sp", kT0), "sp2025-11b");
    EXPECT_EQ(next_selector(s, "sp", kT0, {"sp2025-11b"}), "sp2025-11c");
    EXPECT_EQ(next_selector(s, "mx", kT0 + days(40)), "mx2026-01a");
}

// ---- planner --------------------------------------------------------------------------

TEST(Rotation, FirstKeyIsGeneratedAsapAndWaitsForDns) {
    FakeDns dns;
    DomainKeys s{"example.com", {}};
    Plan p = plan_rotation(s, policy(), kT0, std::ref(dns));
    ASSERT_EQ(p.generate.size(), 1u);
    EXPECT_EQ(kinds(p), std::vector<EventKind>{EventKind::generated});
    const KeyEntry* k = p.next.pending(DkimAlgorithm::ed25519);
    ASSERT_TRUE(k);
    EXPECT_TRUE(k->asap);
    EXPECT_TRUE(dns.asked.empty());  // a key just made cannot be published yet

    // Not published: blocked, no active key, nothing changes.
    Plan p2 = plan_rotation(p.next, policy(), kT0 + hours(1), std::ref(dns));
    EXPECT_FALSE(p2.changed);
    ASSERT_EQ(p2.events.size(), 1u);
    EXPECT_EQ(p2.events[0].kind, EventKind::blocked);
    EXPECT_EQ(p2.events[0].dns, DnsStatus::missing);
    EXPECT_EQ(p2.next.active(DkimAlgorithm::ed25519), nullptr);

    // Published with another key: still blocked, as a mismatch.
    dns.wrong.insert(k->selector);
    Plan p3 = plan_rotation(p.next, policy(), kT0 + hours(2), std::ref(dns));
    EXPECT_FALSE(p3.changed);
    EXPECT_EQ(p3.events.at(0).dns, DnsStatus::mismatch);

    // Published correctly: activated.
    dns.wrong.clear();
    dns.published.insert(k->selector);
    Plan p4 = plan_rotation(p.next, policy(), kT0 + hours(3), std::ref(dns));
    EXPECT_TRUE(p4.changed);
    EXPECT_EQ(kinds(p4), std::vector<EventKind>{EventKind::activated});
    const KeyEntry* a = p4.next.active(DkimAlgorithm::ed25519);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->activated, kT0 + hours(3));
    EXPECT_FALSE(a->asap);
}

DomainKeys with_active(DkimAlgorithm alg, const std::string& sel, Time activated) {
    return DomainKeys{"example.com", {{sel, alg, KeyState::active, activated, activated, {}, {}, false}}};
}

TEST(Rotation, NextKeyIsGeneratedPublishLeadBeforeDue) {
    FakeDns dns;
    DomainKeys s = with_active(DkimAlgorithm::ed25519, "sp2025-11a", kT0);
    EXPECT_FALSE(plan_rotation(s, policy(), kT0 + days(82), std::ref(dns)).changed);
    Plan p = plan_rotation(s, policy(), kT0 + days(83), std::ref(dns));
    ASSERT_EQ(p.generate.size(), 1u);
    const KeyEntry* next = p.next.pending(DkimAlgorithm::ed25519);
    ASSERT_TRUE(next);
    EXPECT_FALSE(next->asap);
    EXPECT_EQ(next->selector, "sp2026-02a");

    // Published before it is due: it waits for the due time.
    dns.published.insert(next->selector);
    Plan early = plan_rotation(p.next, policy(), kT0 + days(89), std::ref(dns));
    EXPECT_FALSE(early.changed);
    EXPECT_TRUE(dns.asked.empty());

    Plan due = plan_rotation(p.next, policy(), kT0 + days(90), std::ref(dns));
    EXPECT_EQ(kinds(due), (std::vector<EventKind>{EventKind::retiring, EventKind::activated}));
    EXPECT_EQ(due.next.active(DkimAlgorithm::ed25519)->selector, "sp2026-02a");
    EXPECT_EQ(due.next.find("sp2025-11a")->state, KeyState::retiring);
    EXPECT_EQ(due.next.find("sp2025-11a")->retiring_since, kT0 + days(90));
}

TEST(Rotation, UnpublishedSuccessorKeepsTheOldKeySigningAndWarnsEachTime) {
    FakeDns dns;
    DomainKeys s = with_active(DkimAlgorithm::ed25519, "sp2025-11a", kT0);
    s.keys.push_back({"sp2026-02a", DkimAlgorithm::ed25519, KeyState::pending, kT0 + days(83), {}, {}, {}, false});
    for (int d = 90; d < 100; ++d) {
        Plan p = plan_rotation(s, policy(), kT0 + days(d), std::ref(dns));
        EXPECT_FALSE(p.changed);
        ASSERT_EQ(p.events.size(), 1u);
        EXPECT_EQ(p.events[0].kind, EventKind::blocked);
        EXPECT_EQ(p.next.active(DkimAlgorithm::ed25519)->selector, "sp2025-11a");
    }
    dns.failing.insert("sp2026-02a");  // a DNS error is not a reason to switch either
    EXPECT_EQ(plan_rotation(s, policy(), kT0 + days(100), std::ref(dns)).events.at(0).dns, DnsStatus::error);
}

TEST(Rotation, RetiringKeyRetiresAfterRetireAfter) {
    FakeDns dns;
    DomainKeys s = with_active(DkimAlgorithm::ed25519, "sp2026-02a", kT0);
    s.keys.push_back({"sp2025-11a", DkimAlgorithm::ed25519, KeyState::retiring, kT0 - days(90), kT0 - days(90), kT0, {}, false});
    EXPECT_FALSE(plan_rotation(s, policy(), kT0 + days(12) - std::chrono::seconds(1), std::ref(dns)).changed);
    Plan p = plan_rotation(s, policy(), kT0 + days(12), std::ref(dns));
    EXPECT_EQ(kinds(p), std::vector<EventKind>{EventKind::retired});
    EXPECT_EQ(p.delete_keys, std::vector<std::string>{"sp2025-11a"});
    EXPECT_EQ(p.next.find("sp2025-11a")->retired_at, kT0 + days(12));
}

TEST(Rotation, TwoAlgorithmsRotateIndependently) {
    FakeDns dns;
    auto pol = policy({DkimAlgorithm::ed25519, DkimAlgorithm::rsa2048});
    DomainKeys s = with_active(DkimAlgorithm::ed25519, "sp2025-11a", kT0);
    s.keys.push_back({"sp2025-12a", DkimAlgorithm::rsa2048, KeyState::active, kT0 + days(30), kT0 + days(30), {}, {}, false});
    Plan p = plan_rotation(s, pol, kT0 + days(85), std::ref(dns));
    ASSERT_EQ(p.generate.size(), 1u);  // only ed25519 is near its rotation
    EXPECT_EQ(p.next.find(p.generate[0])->algorithm, DkimAlgorithm::ed25519);
    dns.published.insert(p.generate[0]);
    Plan q = plan_rotation(p.next, pol, kT0 + days(90), std::ref(dns));
    EXPECT_EQ(q.next.active(DkimAlgorithm::ed25519)->selector, p.generate[0]);
    EXPECT_EQ(q.next.active(DkimAlgorithm::rsa2048)->selector, "sp2025-12a");
}

TEST(Rotation, ManualPolicyNeverRotatesByItself) {
    FakeDns dns;
    auto pol = policy();
    pol.rotate_every = days(0);
    DomainKeys s = with_active(DkimAlgorithm::ed25519, "sp2025-11a", kT0);
    EXPECT_FALSE(plan_rotation(s, pol, kT0 + days(3650), std::ref(dns)).changed);

    // `keys rotate`: a pending asap key, activated once published.
    Plan r = start_rotation(s, pol, DkimAlgorithm::ed25519, kT0 + days(10));
    ASSERT_EQ(r.generate.size(), 1u);
    EXPECT_TRUE(r.next.pending(DkimAlgorithm::ed25519)->asap);
    EXPECT_FALSE(plan_rotation(r.next, pol, kT0 + days(10), std::ref(dns)).changed);
    dns.published.insert(r.generate[0]);
    Plan a = plan_rotation(r.next, pol, kT0 + days(11), std::ref(dns));
    EXPECT_EQ(a.next.active(DkimAlgorithm::ed25519)->selector, r.generate[0]);
    EXPECT_EQ(a.next.find("sp2025-11a")->state, KeyState::retiring);
}

TEST(Rotation, RotateMarksAnExistingPendingKeyAsap) {
    DomainKeys s = with_active(DkimAlgorithm::ed25519, "sp2025-11a", kT0);
    s.keys.push_back({"sp2026-02a", DkimAlgorithm::ed25519, KeyState::pending, kT0, {}, {}, {}, false});
    Plan r = start_rotation(s, policy(), DkimAlgorithm::ed25519, kT0);
    EXPECT_TRUE(r.generate.empty());
    EXPECT_TRUE(r.next.find("sp2026-02a")->asap);
}

TEST(Rotation, ActivateNowSkipsDnsAndRetiresTheOldKey) {
    DomainKeys s = with_active(DkimAlgorithm::ed25519, "sp2025-11a", kT0);
    s.keys.push_back({"sp2026-02a", DkimAlgorithm::ed25519, KeyState::pending, kT0, {}, {}, {}, false});
    Plan p = activate_now(s, "sp2026-02a", kT0 + days(1));
    EXPECT_TRUE(p.changed);
    EXPECT_EQ(p.next.active(DkimAlgorithm::ed25519)->selector, "sp2026-02a");
    EXPECT_EQ(p.next.find("sp2025-11a")->state, KeyState::retiring);
    EXPECT_FALSE(activate_now(s, "sp2025-11a", kT0).changed);  // not pending
    EXPECT_FALSE(activate_now(s, "nope", kT0).changed);
}

TEST(Rotation, RemovedAlgorithmStopsSigningAndDropsItsPendingKey) {
    FakeDns dns;
    DomainKeys s = with_active(DkimAlgorithm::rsa2048, "sp2025-11a", kT0);
    s.keys.push_back({"sp2025-11b", DkimAlgorithm::rsa2048, KeyState::pending, kT0, {}, {}, {}, true});
    s.keys.push_back({"sp2025-11c", DkimAlgorithm::ed25519, KeyState::active, kT0, kT0, {}, {}, false});
    Plan p = plan_rotation(s, policy({DkimAlgorithm::ed25519}), kT0 + days(1), std::ref(dns));
    EXPECT_EQ(p.next.find("sp2025-11a")->state, KeyState::retiring);
    EXPECT_EQ(p.next.find("sp2025-11b")->state, KeyState::retired);
    EXPECT_EQ(p.delete_keys, std::vector<std::string>{"sp2025-11b"});
    EXPECT_EQ(p.next.active(DkimAlgorithm::ed25519)->selector, "sp2025-11c");
}

// Two years of hourly ticks under a fast-forwarded clock, with an operator who publishes
// each new record a random 0..10 days after it appears. At every instant: each configured
// algorithm has an active key once its first record was published, every active key's
// record is published, and rotations happen on schedule (or as soon as the operator
// publishes a late record).
TEST(Rotation, TwoYearsOfHourlyTicksNeverSignWithAnUnpublishedKey) {
    auto pol = policy({DkimAlgorithm::ed25519, DkimAlgorithm::rsa2048});
    FakeDns dns;
    std::map<std::string, Time> publish_at;
    std::uint32_t seed = 12345;
    auto rnd = [&] { return seed = seed * 1103515245u + 12345u, (seed >> 16) % 241; };  // 0..240 hours
    DomainKeys s{"example.com", {}};
    std::map<DkimAlgorithm, int> activations;
    bool ever_active = false;
    for (Time t = kT0; t < kT0 + days(730); t += hours(1)) {
        for (auto& [sel, when] : publish_at)
            if (t >= when) dns.published.insert(sel);
        Plan p = plan_rotation(s, pol, t, std::ref(dns));
        for (const auto& sel : p.generate) publish_at[sel] = t + hours(rnd());
        for (const auto& e : p.events)
            if (e.kind == EventKind::activated) ++activations[e.algorithm];
        s = p.next;
        for (auto alg : pol.algorithms) {
            const KeyEntry* a = s.active(alg);
            if (a) {
                ever_active = true;
                ASSERT_TRUE(dns.published.count(a->selector)) << "active key " << a->selector << " is not published";
                // A key never signs much beyond its schedule: due + the operator's delay.
                ASSERT_LE(t - *a->activated, days(90) + hours(241)) << a->selector;
            } else {
                ASSERT_LT(t, kT0 + hours(241)) << "no active key at hour " << (t - kT0).count() / 3600;
            }
            int active_count = 0;
            for (const auto& k : s.keys) active_count += k.algorithm == alg && k.state == KeyState::active;
            ASSERT_LE(active_count, 1);
        }
    }
    EXPECT_TRUE(ever_active);
    // 730 days / 90 = 8 rotations, plus the first activation.
    EXPECT_GE(activations[DkimAlgorithm::ed25519], 8);
    EXPECT_LE(activations[DkimAlgorithm::ed25519], 9);
    EXPECT_GE(activations[DkimAlgorithm::rsa2048], 8);
    std::size_t retired = 0;
    for (const auto& k : s.keys) retired += k.state == KeyState::retired;
    EXPECT_GE(retired, 14u);
}

}  // namespace
