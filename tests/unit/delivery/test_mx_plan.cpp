// Unit tests for relay/delivery's MX plan (RFC 5321 §5.1, RFC 7505) and the TLS decision per
// MX host (RFC 8461 §4-5).
#include <gtest/gtest.h>

#include <set>

#include "relay/delivery/mx.hpp"
#include "relay/delivery/tls_policy.hpp"

using namespace signpost;
using namespace signpost::delivery;

namespace {

std::vector<dns::MxRecord> records(std::initializer_list<std::pair<int, const char*>> list) {
    std::vector<dns::MxRecord> out;
    for (const auto& [pref, host] : list) out.push_back(dns::MxRecord{static_cast<std::uint16_t>(pref), host});
    return out;
}

TEST(delivery_MxPlan, PreferenceOrderWithEqualPreferencesShuffled) {
    std::mt19937_64 rng(42);
    std::set<std::string> firsts;
    for (int i = 0; i < 200; ++i) {
        auto plan = plan_mx(records({{20, "c.example.org"}, {10, "a.example.org"}, {10, "b.example.org"}, {30, "d.example.org"}}),
                            "example.org", rng);
        ASSERT_FALSE(plan.null_mx);
        ASSERT_EQ(plan.hosts.size(), 4u);
        firsts.insert(plan.hosts[0]);
        EXPECT_TRUE(plan.hosts[0] == "a.example.org" || plan.hosts[0] == "b.example.org");
        EXPECT_EQ(plan.hosts[2], "c.example.org");
        EXPECT_EQ(plan.hosts[3], "d.example.org");
    }
    EXPECT_EQ(firsts.size(), 2u) << "equal preferences are tried in random order";
}

TEST(delivery_MxPlan, NoRecordsMeansTheDomainItself) {
    std::mt19937_64 rng(1);
    auto plan = plan_mx({}, "example.org", rng);
    EXPECT_TRUE(plan.implicit);
    EXPECT_EQ(plan.hosts, std::vector<std::string>{"example.org"});
}

TEST(delivery_MxPlan, NullMxAloneMeansNoMailAndAmongOthersIsIgnored) {
    std::mt19937_64 rng(1);
    EXPECT_TRUE(plan_mx(records({{0, ""}}), "example.org", rng).null_mx);
    auto mixed = plan_mx(records({{0, ""}, {10, "mx.example.org"}}), "example.org", rng);
    EXPECT_FALSE(mixed.null_mx);
    EXPECT_EQ(mixed.hosts, std::vector<std::string>{"mx.example.org"});
}

TEST(delivery_MxPlan, DuplicateHostsAreTriedOnce) {
    std::mt19937_64 rng(1);
    auto plan = plan_mx(records({{10, "mx.example.org"}, {20, "mx.example.org"}}), "example.org", rng);
    EXPECT_EQ(plan.hosts, std::vector<std::string>{"mx.example.org"});
}

TEST(delivery_RecipientDomain, LowerCasedWithoutTrailingDot) {
    EXPECT_EQ(recipient_domain("Bob@Example.ORG"), "example.org");
    EXPECT_EQ(recipient_domain("\"a@b\"@example.org."), "example.org");
    EXPECT_EQ(recipient_domain("postmaster"), "");
    EXPECT_EQ(recipient_domain("bob@"), "");
}

mtasts::Policy policy(mtasts::Mode mode, std::vector<std::string> mx) {
    mtasts::Policy p;
    p.mode = mode;
    p.mx = std::move(mx);
    p.max_age = 86400;
    p.id = "20261123";
    return p;
}

TEST(delivery_TlsDecision, EnforceRequiresVerifiedTlsAndSkipsUnlistedHosts) {
    auto p = policy(mtasts::Mode::enforce, {"mx1.example.org", "*.backup.example.org"});
    auto listed = decide_tls(p, "mx1.example.org");
    EXPECT_TRUE(listed.allowed);
    EXPECT_EQ(listed.session, TlsPolicy::required_verified);
    EXPECT_EQ(listed.source, PolicySource::mta_sts_enforce);
    EXPECT_TRUE(decide_tls(p, "a.backup.example.org").allowed);
    auto unlisted = decide_tls(p, "evil.example.net");
    EXPECT_FALSE(unlisted.allowed);
    EXPECT_NE(unlisted.reason.find("does not list evil.example.net"), std::string::npos) << unlisted.reason;
    EXPECT_FALSE(decide_tls(p, "a.b.backup.example.org").allowed) << "a wildcard covers one label only";
}

TEST(delivery_TlsDecision, TestingDeliversOpportunisticallyAndReportsWhatEnforceWouldRefuse) {
    auto p = policy(mtasts::Mode::testing, {"mx1.example.org"});
    auto d = decide_tls(p, "mx1.example.org");
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.session, TlsPolicy::opportunistic);
    EXPECT_EQ(testing_violation(d, "TLSv1.3 TLS_AES_256_GCM_SHA384", "verified"), "");
    EXPECT_EQ(testing_violation(d, "none", ""), "no TLS (STARTTLS not offered)");
    EXPECT_NE(testing_violation(d, "TLSv1.3 X", "not verified: Hostname mismatch").find("Hostname mismatch"),
              std::string::npos);
    auto other = decide_tls(p, "mx9.example.org");
    EXPECT_TRUE(other.allowed);
    EXPECT_EQ(testing_violation(other, "TLSv1.3 X", "verified"), "MX host not listed in the policy");
}

TEST(delivery_TlsDecision, NoPolicyOrModeNoneIsOpportunistic) {
    auto none = decide_tls(std::nullopt, "mx.example.org");
    EXPECT_EQ(none.source, PolicySource::opportunistic);
    EXPECT_EQ(none.session, TlsPolicy::opportunistic);
    auto mode_none = decide_tls(policy(mtasts::Mode::none, {}), "mx.example.org");
    EXPECT_EQ(mode_none.source, PolicySource::opportunistic);
    EXPECT_TRUE(mode_none.allowed);
    EXPECT_EQ(testing_violation(none, "none", ""), "");
}

}  // namespace

namespace {

TEST(delivery_TlsDecision, ARouteSettingOutranksMtaSts) {
    auto p = policy(mtasts::Mode::enforce, {"mx1.example.org"});
    auto none = decide_tls(p, "elsewhere.example.net", config::RouteTls::none);
    EXPECT_EQ(none.source, PolicySource::route);
    EXPECT_TRUE(none.allowed);
    EXPECT_EQ(none.session, TlsPolicy::none_allowed_plaintext);
    auto verify = decide_tls(std::nullopt, "mx.example.org", config::RouteTls::verify);
    EXPECT_EQ(verify.session, TlsPolicy::required_verified);
    EXPECT_STREQ(to_string(verify.source), "route");
    EXPECT_EQ(decide_tls(std::nullopt, "mx.example.org", config::RouteTls::may).session, TlsPolicy::opportunistic);
}

HostDane dane_of(HostDane::Kind kind, std::vector<dns::TlsaRecord> records = {}) {
    HostDane d;
    d.kind = kind;
    d.records = std::move(records);
    d.names = {"mx.example.org"};
    d.tlsa_name = "_25._tcp.mx.example.org";
    d.why = "why";
    if (kind == HostDane::Kind::failed) d.failure = "dnssec-invalid";
    return d;
}

dns::TlsaRecord tlsa(int usage) {
    dns::TlsaRecord r;
    r.usage = static_cast<std::uint8_t>(usage);
    r.selector = 1;
    r.matching = 1;
    r.data.assign(32, 0xab);
    return r;
}

TEST(delivery_TlsDecision, UsableTlsaTakesPrecedenceOverMtaSts) {
    // RFC 8461 §2: a host with usable TLSA records is DANE-checked, even one MTA-STS does not list.
    auto p = policy(mtasts::Mode::enforce, {"other.example.org"});
    auto d = decide_tls(p, "mx.example.org", std::nullopt, dane_of(HostDane::Kind::usable, {tlsa(3)}));
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.source, PolicySource::dane);
    EXPECT_EQ(d.session, TlsPolicy::dane);
    EXPECT_NE(d.reason.find("DANE takes precedence"), std::string::npos) << d.reason;
}

TEST(delivery_TlsDecision, UnusableOnlyMeansMandatoryTlsUnlessMtaStsEnforces) {
    auto none = decide_tls(std::nullopt, "mx.example.org", std::nullopt, dane_of(HostDane::Kind::unusable_only, {tlsa(1)}));
    EXPECT_EQ(none.source, PolicySource::dane);
    EXPECT_EQ(none.session, TlsPolicy::required_encrypted);
    auto listed = decide_tls(policy(mtasts::Mode::enforce, {"mx.example.org"}), "mx.example.org", std::nullopt,
                             dane_of(HostDane::Kind::unusable_only, {tlsa(0)}));
    EXPECT_EQ(listed.source, PolicySource::mta_sts_enforce);
    EXPECT_EQ(listed.session, TlsPolicy::required_verified);
    auto unlisted = decide_tls(policy(mtasts::Mode::enforce, {"other.example.org"}), "mx.example.org", std::nullopt,
                               dane_of(HostDane::Kind::unusable_only, {tlsa(0)}));
    EXPECT_FALSE(unlisted.allowed);
}

TEST(delivery_TlsDecision, FailedDaneLookupIsNeverContacted) {
    auto d = decide_tls(std::nullopt, "mx.example.org", std::nullopt, dane_of(HostDane::Kind::failed));
    EXPECT_FALSE(d.allowed);
    EXPECT_STREQ(d.dane_failure, "dnssec-invalid");
    // ... but the operator's route outranks it (as it outranks MTA-STS).
    EXPECT_TRUE(decide_tls(std::nullopt, "mx.example.org", config::RouteTls::may, dane_of(HostDane::Kind::failed)).allowed);
}

TEST(delivery_TlsDecision, RouteDaneNeedsUsableRecords) {
    auto ok = decide_tls(std::nullopt, "mx.example.org", config::RouteTls::dane, dane_of(HostDane::Kind::usable, {tlsa(2)}));
    EXPECT_TRUE(ok.allowed);
    EXPECT_EQ(ok.source, PolicySource::route);
    EXPECT_EQ(ok.session, TlsPolicy::dane);
    for (auto kind : {HostDane::Kind::none, HostDane::Kind::unusable_only}) {
        auto no = decide_tls(std::nullopt, "mx.example.org", config::RouteTls::dane, dane_of(kind, {tlsa(1)}));
        EXPECT_FALSE(no.allowed);
        EXPECT_STREQ(no.dane_failure, "dane-required");
    }
}

}  // namespace
