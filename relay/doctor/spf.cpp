// relay/doctor/spf.cpp — SPF (RFC 7208): check_host() and lookup_count() over
// dns::Resolver (see spf.hpp for the contract and the readings of §4.6.4 taken); the
// parser and macros are in spf_parse.cpp.
#include "relay/doctor/spf.hpp"

// GCC 12 reports a coroutine frame's own operator delete as "mismatched" with its operator
// new (a false positive of -Wmismatched-new-delete on awaitable frames, as in mx.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <algorithm>
#include <cstring>

#include "relay/doctor/spf_detail.hpp"

namespace signpost::doctor::spf {

namespace asio = boost::asio;
using namespace detail;

// --- check_host -----------------------------------------------------------------------

namespace {

bool failed(dns::Status s) { return s == dns::Status::servfail || s == dns::Status::timeout; }

std::string failure(std::string_view type, std::string_view name, const dns::Answer& a) {
    const std::string why = a.why.empty() ? std::string(dns::to_string(a.status)) : a.why;
    return "DNS lookup failed: " + std::string(type) + " " + std::string(name) + ": " + why;
}

std::string in(const Term& t, std::string_view domain) { return t.text + " in " + std::string(domain); }

// `name` is `domain` or a name under it (both lower case), as "ptr" compares (§5.5).
bool within(const std::string& name, const std::string& domain) {
    if (name == domain) return true;
    return name.size() > domain.size() && name.compare(name.size() - domain.size(), domain.size(), domain) == 0 &&
           name[name.size() - domain.size() - 1] == '.';
}

// One mechanism: it matched (the include's inner reason in `inner`), did not, or ended the
// evaluation with `outcome` (an error).
struct Step {
    enum Kind { no_match, match, stop } kind = no_match;
    Outcome outcome;
    std::string inner;
};

Step stop(Result r, std::string why) {
    Step s;
    s.kind = Step::stop;
    s.outcome = outcome(r, std::move(why));
    return s;
}

Step matched(std::string inner = {}) {
    Step s;
    s.kind = Step::match;
    s.inner = std::move(inner);
    return s;
}

// The record of one domain, looked up and evaluated; `void_answer` when its TXT lookup
// answered NXDOMAIN or no records (a void lookup when an include or redirect asked).
struct Checked {
    Outcome outcome;
    bool void_answer = false;
};

// One check_host() evaluation: the counters of §4.6.4 are shared by every include and
// redirect (§4.1: "a single global limit"). Coroutine parameters are taken by value and no
// `?:` builds a std::string inside a coroutine (GCC 12 destroys such temporaries twice).
class Evaluator {
public:
    Evaluator(dns::Resolver& resolver, asio::ip::address ip, MacroValues values)
        : resolver_(resolver), ip_(std::move(ip)), values_(std::move(values)) {}

    int lookups = 0, voids = 0;
    std::string top_record;

    asio::awaitable<Checked> check(std::string domain, bool top) {
        Checked out;
        std::string name = domain;
        if (!name.empty() && name.back() == '.') name.pop_back();
        // §4.3: a malformed or single-label domain gives "none" without a lookup.
        if (!valid_name(name) || name.find('.') == std::string::npos) {
            out.outcome = outcome(Result::none, in_quotes(name) + " is not a valid domain name (RFC 7208 §4.3)");
            co_return out;
        }
        dns::TxtRecords txt = co_await resolver_.txt(name);
        if (failed(txt.status)) {
            out.outcome = outcome(Result::temperror, failure("TXT", name, txt) + " (RFC 7208 §4.4)");
            co_return out;
        }
        out.void_answer = txt.status == dns::Status::nxdomain || txt.records.empty();
        std::vector<std::string> records;
        if (txt.status == dns::Status::ok) records = spf_records(txt.records);
        if (records.empty()) {
            std::string why = "no SPF record at " + name;
            if (txt.status == dns::Status::nxdomain) why += " (NXDOMAIN)";
            out.outcome = outcome(Result::none, std::move(why));
            co_return out;
        }
        if (records.size() > 1) {
            out.outcome = outcome(Result::permerror, std::to_string(records.size()) + " SPF records at " + name +
                                                         " (RFC 7208 §4.5)");
            co_return out;
        }
        if (top) top_record = records[0];
        auto parsed = parse_record(records[0]);
        if (auto* e = std::get_if<ParseError>(&parsed)) {
            out.outcome = outcome(Result::permerror, "syntax error in the record at " + name + ": " + e->why);
            co_return out;
        }
        Record record = std::get<Record>(std::move(parsed));
        Outcome evaluated = co_await evaluate(std::move(record), name);
        out.outcome = std::move(evaluated);
        co_return out;
    }

private:
    bool v4() const { return ip_.is_v4(); }

    // §4.6.4: counted before the term's lookup; the 11th is a permerror.
    bool count_lookup() { return ++lookups <= kMaxDnsTerms; }
    bool count_void() { return ++voids <= kMaxVoidLookups; }

    static std::string too_many_lookups(const Term& t, std::string_view domain) {
        return "more than 10 DNS-querying terms (RFC 7208 §4.6.4) at " + in(t, domain);
    }
    static std::string too_many_voids(const Term& t, std::string_view domain) {
        return "more than 2 void lookups (RFC 7208 §4.6.4) at " + in(t, domain);
    }

    asio::awaitable<dns::AddressAnswer> addresses(std::string name) {
        if (v4()) {
            dns::AddressAnswer a = co_await resolver_.a(name);
            co_return a;
        }
        dns::AddressAnswer aaaa = co_await resolver_.aaaa(name);
        co_return aaaa;
    }

    // The PTR names of <ip> whose addresses include <ip> (§5.5), the first 10 looked at;
    // asked once per evaluation.
    asio::awaitable<void> load_ptr() {
        if (ptr_loaded_) co_return;
        ptr_loaded_ = true;
        dns::NameAnswer names = co_await resolver_.ptr(ip_);
        ptr_void_ = names.status == dns::Status::nxdomain || (names.status == dns::Status::ok && names.names.empty());
        if (names.status != dns::Status::ok) co_return;
        const std::size_t n = std::min(names.names.size(), kMaxPtrNames);
        for (std::size_t k = 0; k < n; ++k) {
            std::string name = names.names[k];
            dns::AddressAnswer a = co_await addresses(name);
            if (a.status != dns::Status::ok) continue;  // §5.5: an error skips the name
            const bool confirmed = std::find(a.addresses.begin(), a.addresses.end(), ip_) != a.addresses.end();
            if (confirmed) validated_.push_back(lower(name));
        }
    }

    // %{p} for the current domain (§7.3): the domain itself if validated, else a validated
    // subdomain of it, else any validated name, else "unknown".
    std::string p_for(const std::string& domain) const {
        const std::string d = lower(domain);
        for (const auto& n : validated_)
            if (n == d) return n;
        for (const auto& n : validated_)
            if (within(n, d)) return n;
        if (!validated_.empty()) return validated_.front();
        return "unknown";
    }

    // A domain-spec expanded for `domain` ("" = the domain itself), §4.8 and §7.
    asio::awaitable<std::string> target(std::string spec, std::string domain) {
        if (spec.empty()) co_return domain;
        MacroValues v = values_;
        v.d = domain;
        if (uses_letter(spec, "p")) {
            co_await load_ptr();
            v.p = p_for(domain);
        }
        std::optional<std::string> name = expand_macros(spec, v);
        if (!name) co_return std::string();
        co_return *name;
    }

    asio::awaitable<Step> mech_addresses(Term t, std::string domain, std::string name) {
        if (!valid_name(name)) co_return Step{};
        dns::AddressAnswer a;
        if (t.mechanism == Mechanism::exists) a = co_await resolver_.a(name);  // §5.7: always A
        else a = co_await addresses(name);
        if (failed(a.status)) {
            const char* type = v4() || t.mechanism == Mechanism::exists ? "A" : "AAAA";
            std::string why = failure(type, name, a) + " for " + in(t, domain);
            co_return stop(Result::temperror, std::move(why));
        }
        if (a.status == dns::Status::nxdomain || a.addresses.empty()) {
            if (count_void()) co_return Step{};
            std::string why = too_many_voids(t, domain);
            co_return stop(Result::permerror, std::move(why));
        }
        if (t.mechanism == Mechanism::exists) co_return matched();
        const int prefix = v4() ? t.cidr4.value_or(32) : t.cidr6.value_or(128);
        for (const auto& x : a.addresses)
            if (in_network(ip_, x, prefix)) co_return matched();
        co_return Step{};
    }

    asio::awaitable<Step> mech_mx(Term t, std::string domain, std::string name) {
        if (!valid_name(name)) co_return Step{};
        dns::MxAnswer mx = co_await resolver_.mx(name);
        if (failed(mx.status)) {
            std::string why = failure("MX", name, mx) + " for " + in(t, domain);
            co_return stop(Result::temperror, std::move(why));
        }
        if (mx.status == dns::Status::nxdomain || mx.records.empty()) {
            if (count_void()) co_return Step{};
            std::string why = too_many_voids(t, domain);
            co_return stop(Result::permerror, std::move(why));
        }
        if (mx.records.size() > kMaxMxNames) {
            std::string why = "more than 10 MX records at " + name + " (RFC 7208 §4.6.4) for " + in(t, domain);
            co_return stop(Result::permerror, std::move(why));
        }
        const int prefix = v4() ? t.cidr4.value_or(32) : t.cidr6.value_or(128);
        for (const auto& r : mx.records) {
            if (r.host.empty()) continue;  // null MX (RFC 7505): no host
            std::string host = r.host;
            dns::AddressAnswer a = co_await addresses(host);
            if (failed(a.status)) {
                const char* type = v4() ? "A" : "AAAA";
                std::string why = failure(type, host, a) + " for " + in(t, domain);
                co_return stop(Result::temperror, std::move(why));
            }
            for (const auto& x : a.addresses)
                if (in_network(ip_, x, prefix)) co_return matched();
        }
        co_return Step{};
    }

    asio::awaitable<Step> mech_ptr(Term t, std::string domain, std::string name) {
        co_await load_ptr();
        if (ptr_void_ && !count_void()) {
            std::string why = too_many_voids(t, domain);
            co_return stop(Result::permerror, std::move(why));
        }
        const std::string want = lower(name);
        for (const auto& n : validated_)
            if (within(n, want)) co_return matched();
        co_return Step{};
    }

    // §5.2: the included record's result decides whether "include" matches.
    asio::awaitable<Step> mech_include(Term t, std::string domain, std::string name) {
        Checked inner = co_await check(name, false);
        if (inner.void_answer && !count_void()) {
            std::string why = too_many_voids(t, domain);
            co_return stop(Result::permerror, std::move(why));
        }
        const Result r = inner.outcome.result;
        if (r == Result::pass) co_return matched(std::move(inner.outcome.why));
        if (r == Result::fail || r == Result::softfail || r == Result::neutral) co_return Step{};
        if (r == Result::none) {
            std::string why = in(t, domain) + ": " + inner.outcome.why + " (RFC 7208 §5.2)";
            co_return stop(Result::permerror, std::move(why));
        }
        std::string why = inner.outcome.why + " via " + in(t, domain);  // temperror, permerror
        co_return stop(r, std::move(why));
    }

    asio::awaitable<Step> mechanism(Term t, std::string domain) {
        if (t.mechanism == Mechanism::all) co_return matched();
        if (t.mechanism == Mechanism::ip4 || t.mechanism == Mechanism::ip6) {
            const asio::ip::address net = asio::ip::make_address(t.address);
            const bool ip4 = t.mechanism == Mechanism::ip4;
            if (ip4 != v4()) co_return Step{};  // §5.6: each matches its own family only
            if (in_network(ip_, net, ip4 ? t.cidr4.value_or(32) : t.cidr6.value_or(128))) co_return matched();
            co_return Step{};
        }
        if (!count_lookup()) {
            std::string why = too_many_lookups(t, domain);
            co_return stop(Result::permerror, std::move(why));
        }
        std::string spec = t.domain_spec;
        std::string d = domain;
        std::string name = co_await target(std::move(spec), std::move(d));
        Step s;
        const Mechanism m = t.mechanism;
        if (m == Mechanism::include) s = co_await mech_include(std::move(t), std::move(domain), std::move(name));
        else if (m == Mechanism::mx) s = co_await mech_mx(std::move(t), std::move(domain), std::move(name));
        else if (m == Mechanism::ptr) s = co_await mech_ptr(std::move(t), std::move(domain), std::move(name));
        else s = co_await mech_addresses(std::move(t), std::move(domain), std::move(name));
        co_return s;
    }

    // §4.6.2: the mechanisms in order, the first match decides; then redirect (§6.1), else
    // neutral (§4.7).
    asio::awaitable<Outcome> evaluate(Record record, std::string domain) {
        for (const Term& term : record.terms) {
            if (term.is_modifier) continue;
            Term t = term;
            std::string d = domain;
            Step s = co_await mechanism(std::move(t), std::move(d));
            if (s.kind == Step::stop) co_return s.outcome;
            if (s.kind == Step::match) {
                std::string why = "matched " + in(term, domain);
                if (!s.inner.empty()) why = s.inner + " via " + in(term, domain);
                const Result r = result_of(term.qualifier);
                co_return outcome(r, std::move(why));
            }
        }
        const Term* redirect = record.redirect();
        if (redirect == nullptr) {
            std::string why = "no term matched in " + domain + " (neutral, RFC 7208 §4.7)";
            co_return outcome(Result::neutral, std::move(why));
        }
        const std::string where = in(*redirect, domain);
        if (!count_lookup()) {
            std::string why = too_many_lookups(*redirect, domain);
            co_return outcome(Result::permerror, std::move(why));
        }
        std::string spec = redirect->value;
        std::string d = domain;
        std::string name = co_await target(std::move(spec), std::move(d));
        Checked inner = co_await check(std::move(name), false);
        if (inner.void_answer && !count_void()) {
            std::string why = "more than 2 void lookups (RFC 7208 §4.6.4) at " + where;
            co_return outcome(Result::permerror, std::move(why));
        }
        if (inner.outcome.result == Result::none) {
            std::string why = where + ": " + inner.outcome.why + " (RFC 7208 §6.1)";
            co_return outcome(Result::permerror, std::move(why));
        }
        inner.outcome.why += " via " + where;
        co_return inner.outcome;
    }

    dns::Resolver& resolver_;
    asio::ip::address ip_;
    MacroValues values_;
    bool ptr_loaded_ = false, ptr_void_ = false;
    std::vector<std::string> validated_;
};

// A "why" through many includes (an include loop runs 10 deep) keeps its innermost two
// steps and the outermost one.
std::string shorten_chain(const std::string& why) {
    static constexpr std::string_view kVia = " via ";
    std::vector<std::size_t> at;
    for (std::size_t p = why.find(kVia); p != std::string::npos; p = why.find(kVia, p + kVia.size())) at.push_back(p);
    if (at.size() <= 3) return why;
    return why.substr(0, at[1]) + " via (" + std::to_string(at.size() - 2) + " more)" + why.substr(at.back());
}

}  // namespace

asio::awaitable<Evaluation> check_host(dns::Resolver& resolver, asio::ip::address ip, std::string domain,
                                       std::string sender, std::string helo) {
    MacroValues values = macro_values(ip, sender, domain, helo);
    std::string d = values.d;
    Evaluator ev(resolver, normalized(ip), std::move(values));
    Checked c = co_await ev.check(std::move(d), true);
    Evaluation e;
    e.result = c.outcome.result;
    e.why = shorten_chain(c.outcome.why);
    e.record = ev.top_record;
    e.dns_lookups = ev.lookups;
    e.void_lookups = ev.voids;
    co_return e;
}

// --- lookup_count ---------------------------------------------------------------------

namespace {

constexpr std::size_t kMaxWalkDepth = 12;   // past the limit of 10 includes anyway
constexpr int kMaxWalkRecords = 200;        // records fetched in one walk

class Walker {
public:
    explicit Walker(dns::Resolver& resolver) : resolver_(resolver) {}
    LookupCount out;

    void incomplete(const std::string& why) {
        if (out.complete) out.why = why;
        else if (out.why.size() < 400) out.why += "; " + why;
        out.complete = false;
    }

    // A target fixed by the record alone: a domain-spec whose only macros are %{d} (and
    // "%%", "%_", "%-"); nullopt when it needs the sender or the address.
    static std::optional<std::string> static_target(const std::string& spec, const std::string& domain) {
        if (spec.empty()) return domain;
        if (uses_letter(spec, "slopivh")) return std::nullopt;
        MacroValues v;
        v.d = domain;
        return expand_macros(spec, v);
    }

    asio::awaitable<void> walk(std::string domain, std::vector<std::string> path) {
        std::string name = lower(domain);
        if (!name.empty() && name.back() == '.') name.pop_back();
        if (std::find(path.begin(), path.end(), name) != path.end()) {
            incomplete("loop: " + name + " includes itself");
            co_return;
        }
        if (path.size() >= kMaxWalkDepth || ++records_ > kMaxWalkRecords) {
            incomplete("stopped at " + name + ": too many nested records");
            co_return;
        }
        if (!valid_name(name)) {
            incomplete(in_quotes(name) + " is not a valid domain name");
            co_return;
        }
        dns::TxtRecords txt = co_await resolver_.txt(name);
        if (failed(txt.status)) {
            incomplete(failure("TXT", name, txt));
            co_return;
        }
        std::vector<std::string> records = spf_records(txt.records);
        if (records.size() != 1) {
            // No record at the top: nothing to count. Below it: an include/redirect that
            // evaluation would turn into a permerror.
            if (records.empty() && path.empty()) co_return;
            if (records.empty()) incomplete("no SPF record at " + name);
            else incomplete(std::to_string(records.size()) + " SPF records at " + name);
            co_return;
        }
        auto parsed = parse_record(records[0]);
        if (auto* e = std::get_if<ParseError>(&parsed)) {
            incomplete("syntax error in the record at " + name + ": " + e->why);
            co_return;
        }
        Record record = std::get<Record>(std::move(parsed));
        path.push_back(name);
        std::vector<std::string> follow;
        for (const auto& t : record.terms) {
            const bool redirect = t.is_modifier && t.name == "redirect" && record.all() == nullptr;  // §6.1
            const bool counted = redirect || (!t.is_modifier && t.mechanism != Mechanism::all &&
                                              t.mechanism != Mechanism::ip4 && t.mechanism != Mechanism::ip6);
            if (!counted) continue;
            ++out.lookups;
            if (!redirect && t.mechanism != Mechanism::include) continue;
            const std::string& spec = redirect ? t.value : t.domain_spec;
            std::optional<std::string> target = static_target(spec, name);
            if (target) follow.push_back(*target);
            else incomplete(in(t, name) + " depends on the sender or address");
        }
        for (const auto& f : follow) {
            std::string next = f;
            std::vector<std::string> p = path;
            co_await walk(std::move(next), std::move(p));
        }
    }

private:
    dns::Resolver& resolver_;
    int records_ = 0;
};

}  // namespace

asio::awaitable<LookupCount> lookup_count(dns::Resolver& resolver, std::string domain) {
    Walker w(resolver);
    std::vector<std::string> path;
    co_await w.walk(std::move(domain), std::move(path));
    co_return w.out;
}

}  // namespace signpost::doctor::spf
