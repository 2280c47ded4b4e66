// relay/delivery/mx.cpp — MX routing with MTA-STS (see mx.hpp).
#include "relay/delivery/mx.hpp"

// GCC 12 reports a coroutine frame's own operator delete as "mismatched" with its operator
// new for try_hosts' frame (a false positive of -Wmismatched-new-delete on awaitable frames).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "relay/delivery/connection_pool.hpp"
#include "relay/delivery/dane_lookup.hpp"
#include "relay/delivery/results.hpp"
#include "relay/delivery/tls_policy.hpp"
#include "relay/delivery/tls_report_events.hpp"

namespace signpost::delivery {
namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;

namespace {
// A message's recipient domains delivered at once, at most this many at a time.
constexpr std::size_t kParallelDomains = 8;
}  // namespace

MxPlan plan_mx(const std::vector<dns::MxRecord>& records, const std::string& domain, std::mt19937_64& rng) {
    MxPlan plan;
    std::vector<dns::MxRecord> real;
    bool saw_null = false;
    for (const auto& r : records) {
        if (r.host.empty()) saw_null = true;
        else real.push_back(r);
    }
    if (saw_null && real.empty()) {
        plan.null_mx = true;  // RFC 7505 §3: "MX 0 ." alone
        return plan;
    }
    // RFC 7505 §3: a null MX among real ones is a misconfiguration; the real ones are used.
    if (real.empty()) {
        plan.implicit = true;  // RFC 5321 §5.1: no MX, the domain is its own mail host
        plan.hosts.push_back(domain);
        return plan;
    }
    std::shuffle(real.begin(), real.end(), rng);  // random among equal preference ...
    std::stable_sort(real.begin(), real.end(),     // ... once sorted by preference
                     [](const dns::MxRecord& a, const dns::MxRecord& b) { return a.preference < b.preference; });
    for (const auto& r : real)
        if (std::find(plan.hosts.begin(), plan.hosts.end(), r.host) == plan.hosts.end()) plan.hosts.push_back(r.host);
    return plan;
}

std::string recipient_domain(const std::string& address) {
    auto at = address.rfind('@');
    if (at == std::string::npos || at + 1 == address.size()) return "";
    std::string d = address.substr(at + 1);
    std::transform(d.begin(), d.end(), d.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    while (!d.empty() && d.back() == '.') d.pop_back();
    return d;
}

struct MxDeliverer::Impl : std::enable_shared_from_this<MxDeliverer::Impl> {
    asio::any_io_executor io;
    std::shared_ptr<dns::Resolver> resolver;
    std::shared_ptr<mtasts::PolicyStore> policies;
    std::shared_ptr<asio::ssl::context> tls;
    std::shared_ptr<asio::ssl::context> tls_opportunistic;
    std::shared_ptr<ConnectionPool> pool;  // idle connections for further messages
    MxOptions opt;
    log::Logger log;
    MxCounters counters;

    std::optional<asio::steady_timer> probe_timer;  // on probe_strand; cancelled by stop()

    std::mutex mu;  // guards what follows
    bool stopping = false;
    std::string dnssec_problem;  // the probe's detail while it does not say "validating"
    std::set<std::shared_ptr<StopSignal>> running;
    std::map<std::string, std::size_t> per_domain;
    std::map<std::string, std::deque<std::shared_ptr<asio::steady_timer>>> waiting;
    std::mt19937_64 rng{std::random_device{}()};

    // Per-destination limit: waits (on a timer that release() cancels) for a free slot.
    awaitable<void> acquire(const std::string& domain) {
        auto ex = co_await asio::this_coro::executor;
        for (;;) {
            std::shared_ptr<asio::steady_timer> timer;
            {
                std::lock_guard lk(mu);
                if (per_domain[domain] < opt.max_per_domain) {
                    ++per_domain[domain];
                    co_return;
                }
                timer = std::make_shared<asio::steady_timer>(ex, std::chrono::seconds(30));
                waiting[domain].push_back(timer);
            }
            boost::system::error_code ec;
            co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }

    void release(const std::string& domain) {
        std::shared_ptr<asio::steady_timer> next;
        {
            std::lock_guard lk(mu);
            if (--per_domain[domain] == 0) per_domain.erase(domain);
            auto it = waiting.find(domain);
            if (it != waiting.end()) {
                next = it->second.front();
                it->second.pop_front();
                if (it->second.empty()) waiting.erase(it);
            }
        }
        if (next) asio::post(next->get_executor(), [next] { next->cancel(); });
    }

    awaitable<std::vector<RecipientResult>> run(Job job, std::shared_ptr<StopSignal> stop) {
        std::vector<RecipientResult> out;
        std::map<std::string, std::vector<std::string>> groups;
        for (const auto& r : job.recipients) {
            std::string d = recipient_domain(r);
            if (d.empty()) {
                RecipientResult bad;
                bad.address = r;
                bad.outcome = Outcome::permanent;
                bad.enhanced = "5.1.3";
                bad.text = "recipient address has no domain";
                out.push_back(std::move(bad));
                continue;
            }
            groups[d].push_back(r);
        }
        if (groups.size() == 1) {
            auto& [domain, rcpts] = *groups.begin();
            Job sub = job;
            sub.progress = nullptr;
            sub.recipients = std::move(rcpts);
            for (auto& r : co_await deliver_domain(std::move(sub), domain, stop)) out.push_back(std::move(r));
            co_return out;
        }
        // Several domains: delivered at once (at most kParallelDomains at a time), so a slow or
        // stalled one (minutes of timeouts) does not hold the others back. Each has its own
        // stop signal, which the job's passes on.
        auto batch = std::make_shared<DomainRun>();
        batch->job = std::move(job);
        for (auto& [domain, rcpts] : groups) {
            batch->domains.push_back(domain);
            batch->recipients.push_back(std::move(rcpts));
            batch->stops.push_back(std::make_shared<StopSignal>());
        }
        batch->results.resize(batch->domains.size());
        batch->left = batch->domains.size();
        stop->set_handler([stops = batch->stops] {
            for (const auto& s : stops) s->stop();
        });
        auto ex = co_await asio::this_coro::executor;
        using Op = decltype(asio::co_spawn(ex, domain_worker(batch), asio::deferred));
        std::vector<Op> workers;
        for (std::size_t i = 0; i < std::min(batch->domains.size(), kParallelDomains); ++i)
            workers.push_back(asio::co_spawn(ex, domain_worker(batch), asio::deferred));
        auto [order, errors] = co_await asio::experimental::make_parallel_group(std::move(workers))
                                   .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
        stop->clear_handler();
        for (const auto& e : errors)
            if (e) std::rethrow_exception(e);
        for (auto& results : batch->results)
            for (auto& r : results) out.push_back(std::move(r));
        co_return out;
    }

    // One message's recipient domains being delivered at once; lives on the job's strand.
    struct DomainRun {
        Job job;
        std::vector<std::string> domains;
        std::vector<std::vector<std::string>> recipients;
        std::vector<std::shared_ptr<StopSignal>> stops;
        std::vector<std::vector<RecipientResult>> results;
        std::size_t next = 0;  // the next domain a worker takes
        std::size_t left = 0;  // domains not finished
    };

    // Takes the next domain until none is left. What a domain accepted is reported to the
    // queue (Job::progress) while others are still being tried, so it is on disk before
    // they end (a crash meanwhile does not send it again).
    awaitable<void> domain_worker(std::shared_ptr<DomainRun> batch) {
        while (batch->next < batch->domains.size()) {
            const std::size_t i = batch->next++;
            Job sub = batch->job;
            sub.progress = nullptr;
            sub.recipients = std::move(batch->recipients[i]);
            batch->results[i] = co_await deliver_domain(std::move(sub), batch->domains[i], batch->stops[i]);
            if (--batch->left > 0 && batch->job.progress) {
                std::vector<RecipientResult> accepted;
                for (const auto& r : batch->results[i])
                    if (r.outcome == Outcome::delivered) accepted.push_back(r);
                if (!accepted.empty()) batch->job.progress(std::move(accepted));
            }
        }
    }

    awaitable<std::vector<RecipientResult>> deliver_domain(Job job, std::string domain, std::shared_ptr<StopSignal> stop) {
        auto jlog = log::with_id(log, job.queue_id.empty() ? "-" : job.queue_id);
        std::optional<mtasts::Policy> policy;
        std::string policy_note = "MTA-STS disabled";
        if (policies) {
            mtasts::Lookup lk = co_await policies->lookup(domain);
            if (opt.on_tls_report && lk.failure != mtasts::Lookup::Failure::none) opt.on_tls_report(sts_fetch_event(domain, lk));
            if (lk.policy && lk.policy->mode != mtasts::Mode::none) policy = lk.policy;
            policy_note = lk.policy ? std::string("MTA-STS ") + mtasts::to_string(lk.policy->mode) + " id " + lk.policy->id +
                                          (lk.source == mtasts::Lookup::Source::fetched ? " (fetched)"
                                           : lk.source == mtasts::Lookup::Source::cached_after_failure
                                               ? " (cached; fetch failed: " + lk.detail + ")"
                                               : " (cached)")
                                    : "no MTA-STS policy" + (lk.detail.empty() ? std::string() : " (" + lk.detail + ")");
        }

        const config::RouteConfig* route = nullptr;
        for (const auto& r : opt.routes)
            if (r.domain == domain) route = &r;
        std::optional<config::RouteTls> route_tls = route ? route->tls : std::nullopt;
        if (route && route->host) {
            // The operator's next hop: no MX lookup (and so no null MX / NXDOMAIN verdicts).
            MxPlan routed;
            routed.hosts.push_back(route->host->host);
            co_await acquire(domain);
            std::vector<RecipientResult> results;
            try {
                // The operator named this host: nothing before it is unsigned, so its own
                // records decide whether DANE applies.
                results = co_await try_hosts(job, domain, routed, policy, policy_note + "; [[route]] " +
                                             route->host->to_string(), stop, jlog, route_tls, route->host->port, opt.dane);
            } catch (...) {
                release(domain);
                throw;
            }
            release(domain);
            co_return results;
        }

        dns::MxAnswer mx = co_await resolver->mx(domain);
        if (mx.status == dns::Status::nxdomain) {
            jlog->info("{}: domain does not exist (NXDOMAIN)", domain);
            co_return results_for_all(job, Outcome::permanent, "5.1.2", "domain " + domain + " does not exist (DNS NXDOMAIN)");
        }
        if (mx.status != dns::Status::ok) {
            if (mx.security == dns::Security::bogus) {
                std::lock_guard lk(mu);
                if (!dnssec_problem.empty()) mx.why += " (DNSSEC validation is failing on this DNS path: " + dnssec_problem + ")";
            }
            jlog->info("{}: MX lookup failed: {}", domain, mx.why);
            co_return results_for_all(job, Outcome::temporary, "4.4.3",
                                      "MX lookup for " + domain + " failed: " + (mx.why.empty() ? dns::to_string(mx.status) : mx.why));
        }
        MxPlan plan;
        {
            std::lock_guard lk(mu);
            plan = plan_mx(mx.records, domain, rng);
        }
        if (plan.null_mx) {
            jlog->info("{}: null MX (RFC 7505): accepts no mail", domain);
            co_return results_for_all(job, Outcome::permanent, "5.1.10",
                                      "domain " + domain + " accepts no mail (null MX, RFC 7505)");
        }
        // RFC 7672 §2.2.1: an MX RRset that is not DNSSEC-secure could have been forged, so
        // the hosts it names get no DANE (as Postfix's "dane" level does).
        std::string note = policy_note;
        if (mx.secure()) note.append("; MX DNSSEC-secure");
        co_await acquire(domain);
        std::vector<RecipientResult> results;
        try {
            results = co_await try_hosts(job, domain, plan, policy, note, stop, jlog, route_tls, opt.port, opt.dane && mx.secure());
        } catch (...) {
            release(domain);
            throw;
        }
        release(domain);
        co_return results;
    }

    awaitable<std::vector<RecipientResult>> try_hosts(const Job& job, const std::string& domain, const MxPlan& plan,
                                                      const std::optional<mtasts::Policy>& policy,
                                                      const std::string& policy_note, std::shared_ptr<StopSignal> stop,
                                                      log::Logger jlog, std::optional<config::RouteTls> route_tls,
                                                      std::uint16_t port, bool dane_possible) {
        std::vector<std::string> unlisted;
        std::string dane_problem;  // the last host refused for a DANE reason before a session
        std::string requiretls_problem;  // the last host refused for REQUIRETLS before a session
        std::optional<SessionResult> last;
        std::string last_problem;
        std::size_t tried = 0;
        for (const auto& host : plan.hosts) {
            std::vector<asio::ip::address> addresses;
            boost::system::error_code literal_ec;
            auto literal = asio::ip::make_address(host, literal_ec);  // a [[route]] host may be an IP
            const bool check_dane = dane_possible && literal_ec;
            // Without DANE the decision needs no DNS: an unlisted host costs no lookups.
            TlsDecision d;
            HostDane dane;
            if (!check_dane) {
                d = decide_tls(policy, host, route_tls);
                relax_for_tls_required_no(d, job);
                if (!d.allowed) {
                    refuse_host(d, host, domain, jlog, unlisted, dane_problem);
                    report_refusal(domain, d, policy, dane, host);
                    continue;
                }
            }
            dns::AddressAnswer v6, v4;
            if (!literal_ec) {
                addresses.push_back(literal);
            } else {
                v6 = co_await resolver->aaaa(host);
                v4 = co_await resolver->a(host);
                for (const auto* ans : {&v6, &v4})
                    if (ans->status == dns::Status::ok)
                        addresses.insert(addresses.end(), ans->addresses.begin(), ans->addresses.end());
            }
            if (check_dane) {
                if (!addresses.empty()) dane = co_await lookup_dane(*resolver, host, port, v6, v4);
                d = decide_tls(policy, host, route_tls, dane);
                relax_for_tls_required_no(d, job);
                if (!d.allowed && !addresses.empty()) {
                    refuse_host(d, host, domain, jlog, unlisted, dane_problem);
                    report_refusal(domain, d, policy, dane, host);
                    continue;
                }
            }
            if (job.requiretls && !verified_path(d)) {
                requiretls_problem = "MX " + host + ": " + d.reason;
                jlog->info("{}: skipping MX {} for a REQUIRETLS message: {} (policy {}) is not a verified TLS path", domain,
                           host, d.reason, to_string(d.source));
                continue;
            }
            if (addresses.empty()) {
                last_problem = "MX " + host + " has no address (A: " + (v4.why.empty() ? dns::to_string(v4.status) : v4.why) +
                               ", AAAA: " + (v6.why.empty() ? dns::to_string(v6.status) : v6.why) + ")";
                jlog->info("{}: {}", domain, last_problem);
                continue;
            }
            for (const auto& addr : addresses) {
                if (tried >= opt.max_addresses || stop->stopped()) break;
                ++tried;
                SessionOptions o;
                o.helo_name = opt.helo_name;
                o.tls = d.session;
                o.tls_context = d.session == TlsPolicy::required_verified ? tls : tls_opportunistic;
                if (d.session == TlsPolicy::dane) {
                    o.tlsa = dane.records;
                    o.dane_names = dane.names;
                }
                o.timeouts = opt.timeouts;
                o.pool = pool;  // keyed by endpoint, host, TLS policy and TLSA records: never mixes policies
                o.logger = jlog;
                SessionTarget target{tcp::endpoint(addr, port), host};
                SessionResult res = co_await run_smtp_session(job, target, o, stop);
                counters.sessions.fetch_add(1);
                if (opt.on_tls_report)
                    if (auto p = report_policy(domain, d, policy, dane))
                        if (auto e = session_event(*p, d, res, host, addr.to_string())) opt.on_tls_report(*e);
                if (*res.dane_failure) counters.dane_refusals.fetch_add(1);
                const std::string cert = res.verification.empty() ? "-" : res.verification;
                for (auto& r : res.recipients)
                    r.tls = (res.tls.empty() ? std::string("none") : res.tls) + ", certificate " + cert + ", policy " +
                            to_string(d.source);
                // Built in statements, not a `?:` of two std::string temporaries: GCC 12
                // destroys both branches' temporaries inside coroutines (a double free).
                std::string why = policy_note;
                if (d.session == TlsPolicy::dane || d.session == TlsPolicy::required_encrypted || d.relaxed)
                    why.append("; ").append(d.reason);
                if (job.requiretls) why.append("; REQUIRETLS");
                jlog->info("{}: attempt via {}{}: policy {} ({}); TLS {}, certificate {}; {}", domain, res.remote_host,
                           res.reused ? " (reused connection)" : "", to_string(d.source), why,
                           res.tls.empty() ? "none" : res.tls, cert,
                           res.try_next ? "no answer of its own, trying the next address" : "answered");
                std::string violation = testing_violation(d, res.tls, res.verification);
                if (!violation.empty()) {
                    counters.testing_violations.fetch_add(1);
                    jlog->warn("{}: MTA-STS testing: enforce would have refused {}: {}", domain, res.remote_host, violation);
                }
                if (opt.on_attempt) {
                    SessionAttempt a;
                    a.policy = to_string(d.source);
                    a.result = res.recipients.empty() ? "deferred" : result_label(res.recipients.front().outcome);
                    a.testing_violation = !violation.empty();
                    a.dane_failure = res.dane_failure;
                    opt.on_attempt(a);
                }
                if (d.relaxed)
                    for (const auto& r : res.recipients)
                        if (r.outcome == Outcome::delivered)
                            jlog->warn("{}: <{}> delivered under \"TLS-Required: No\" (RFC 8689): {} was not enforced",
                                       domain, r.address, to_string(d.source));
                if (!res.try_next) co_return std::move(res.recipients);
                last = std::move(res);
            }
        }
        if (last) co_return std::move(last->recipients);
        if (!requiretls_problem.empty())
            co_return results_for_all(job, Outcome::permanent, "5.7.30",
                                      "REQUIRETLS: no verified TLS path to " + domain +
                                          " (needs DANE, an MTA-STS enforce policy or a [[route]] tls = verify/dane): " +
                                          requiretls_problem);
        if (!dane_problem.empty())
            co_return results_for_all(job, Outcome::temporary, "4.7.5", "not delivered to " + domain + ": " + dane_problem);
        if (!unlisted.empty() && !policy_allows_any(policy, plan)) {
            counters.enforce_refusals.fetch_add(1);
            if (opt.on_attempt) opt.on_attempt(SessionAttempt{"mta-sts-enforce", "deferred", false, ""});
            std::string hosts;
            for (const auto& h : unlisted) hosts += (hosts.empty() ? "" : ", ") + h;
            co_return results_for_all(job, Outcome::temporary, "4.7.5",
                                      "MTA-STS policy id " + policy->id + " (enforce) for " + domain +
                                          " lists none of its MX hosts (" + hosts + "): not delivered");
        }
        co_return results_for_all(job, Outcome::temporary, "4.4.4",
                                  "no MX host of " + domain + " could be reached" +
                                      (last_problem.empty() ? std::string() : ": " + last_problem));
    }

    // "TLS-Required: No" (RFC 8689 §5): what MTA-STS or DANE would refuse is tried with
    // opportunistic TLS instead. The operator's [[route]] is not the recipient's policy and
    // stays as it is.
    void relax_for_tls_required_no(TlsDecision& d, const Job& job) const {
        if (!job.tls_required_no || !opt.honor_tls_required) return;
        if (d.source != PolicySource::dane && d.source != PolicySource::mta_sts_enforce &&
            d.source != PolicySource::mta_sts_testing)
            return;
        if (d.allowed && d.session == TlsPolicy::opportunistic) return;
        d.allowed = true;
        d.dane_failure = "";
        d.session = TlsPolicy::opportunistic;
        d.relaxed = true;
        d.reason += "; the message says \"TLS-Required: No\": opportunistic TLS instead";
    }

    // REQUIRETLS (RFC 8689 §4.2.1): TLS that authenticates the next hop by the recipient's
    // DNSSEC-signed or MTA-STS policy, or by the operator's route.
    static bool verified_path(const TlsDecision& d) {
        if (!d.allowed) return false;
        if (d.session == TlsPolicy::dane) return true;
        return d.session == TlsPolicy::required_verified &&
               (d.source == PolicySource::mta_sts_enforce || d.source == PolicySource::route);
    }

    // A host not contacted because of its policy, for the domain's TLS report.
    void report_refusal(const std::string& domain, const TlsDecision& d, const std::optional<mtasts::Policy>& policy,
                        const HostDane& dane, const std::string& host) const {
        if (!opt.on_tls_report) return;
        if (auto p = report_policy(domain, d, policy, dane))
            if (auto e = refusal_event(*p, d, host)) opt.on_tls_report(*e);
    }

    // A host the TLS decision rules out: logged, and remembered for the domain's verdict.
    void refuse_host(const TlsDecision& d, const std::string& host, const std::string& domain, const log::Logger& jlog,
                     std::vector<std::string>& unlisted, std::string& dane_problem) {
        jlog->info("{}: skipping MX {}: {}", domain, host, d.reason);
        if (*d.dane_failure) {
            counters.dane_refusals.fetch_add(1);
            dane_problem = "MX " + host + ": " + d.reason;
            if (opt.on_attempt) opt.on_attempt(SessionAttempt{to_string(d.source), "deferred", false, d.dane_failure});
        } else {
            unlisted.push_back(host);
        }
    }

    // The DNSSEC path probe: at start, then every 10 minutes until stop().
    static awaitable<void> probe_loop(std::shared_ptr<Impl> self) {
        std::optional<dns::DnssecProbe::State> last;
        for (;;) {
            {
                std::lock_guard lk(self->mu);
                if (self->stopping) co_return;
            }
            dns::DnssecProbe p = co_await dns::probe_dnssec(*self->resolver, self->opt.dnssec_probe_zone);
            if (last != p.state) {
                if (p.state == dns::DnssecProbe::State::validating)
                    self->log->info("DNSSEC: validating ({})", p.detail);
                else
                    self->log->error("DNSSEC: {}: {}. Lookups stay validated, so mail to every domain is deferred while "
                                     "this lasts: point [dns] forwarders at a resolver that passes DNSSEC records (or set "
                                     "[dns] dnssec = false)",
                                     dns::to_string(p.state), p.detail);
            }
            last = p.state;
            {
                std::lock_guard lk(self->mu);
                self->dnssec_problem = p.state == dns::DnssecProbe::State::validating ? std::string() : p.detail;
            }
            if (self->opt.on_dnssec_probe) self->opt.on_dnssec_probe(p);
            self->probe_timer->expires_after(std::chrono::minutes(10));
            boost::system::error_code ec;
            co_await self->probe_timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
            if (ec) co_return;
        }
    }

    static bool policy_allows_any(const std::optional<mtasts::Policy>& policy, const MxPlan& plan) {
        if (!policy || policy->mode != mtasts::Mode::enforce) return true;
        return std::any_of(plan.hosts.begin(), plan.hosts.end(), [&](const std::string& h) { return policy->matches(h); });
    }
};

MxDeliverer::MxDeliverer(asio::any_io_executor io, std::shared_ptr<dns::Resolver> resolver,
                         std::shared_ptr<mtasts::PolicyStore> policies, std::shared_ptr<asio::ssl::context> tls,
                         MxOptions options, log::Logger logger, std::shared_ptr<asio::ssl::context> tls_opportunistic)
    : impl_(std::make_shared<Impl>()) {
    impl_->tls_opportunistic = tls_opportunistic ? std::move(tls_opportunistic) : tls;
    impl_->io = std::move(io);
    impl_->resolver = std::move(resolver);
    impl_->policies = std::move(policies);
    impl_->tls = std::move(tls);
    impl_->opt = std::move(options);
    impl_->log = std::move(logger);
    impl_->pool = ConnectionPool::make(asio::make_strand(impl_->io), {}, impl_->log);
    if (impl_->opt.dane && !impl_->opt.dnssec_probe_zone.empty()) {
        auto strand = asio::make_strand(impl_->io);
        impl_->probe_timer.emplace(strand);
        asio::co_spawn(strand, Impl::probe_loop(impl_), [](std::exception_ptr) {});
    }
}


MxDeliverer::~MxDeliverer() { stop(); }

void MxDeliverer::deliver(Job job, DoneHandler done) {
    auto stop = std::make_shared<StopSignal>();
    {
        std::lock_guard lk(impl_->mu);
        if (impl_->stopping) {
            auto r = results_for_all(job, Outcome::temporary, "4.3.0", "delivery stopped");
            done(std::move(r));
            return;
        }
        impl_->running.insert(stop);
    }
    auto impl = impl_;
    auto strand = asio::make_strand(impl->io);
    Job copy = job;
    asio::co_spawn(strand, impl->run(std::move(job), stop),
                   [impl, stop, copy = std::move(copy), done = std::move(done)](std::exception_ptr e,
                                                                                  std::vector<RecipientResult> results) {
                       {
                           std::lock_guard lk(impl->mu);
                           impl->running.erase(stop);
                       }
                       if (e) {
                           std::string what = "internal error";
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                               what += std::string(": ") + ex.what();
                           } catch (...) {
                           }
                           impl->log->error("{}: MX delivery aborted: {}", copy.queue_id, what);
                           results = results_for_all(copy, Outcome::temporary, "4.3.0", what);
                       }
                       log_results(log::with_id(impl->log, copy.queue_id), results);
                       done(std::move(results));
                   });
}

void MxDeliverer::stop() {
    std::vector<std::shared_ptr<StopSignal>> running;
    {
        std::lock_guard lk(impl_->mu);
        impl_->stopping = true;
        running.assign(impl_->running.begin(), impl_->running.end());
    }
    for (auto& s : running) s->stop();
    impl_->pool->shutdown();
    if (impl_->probe_timer) asio::post(impl_->probe_timer->get_executor(), [impl = impl_] { impl->probe_timer->cancel(); });
}

const MxCounters& MxDeliverer::counters() const { return impl_->counters; }

}  // namespace signpost::delivery
