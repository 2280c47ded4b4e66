// relay/doctor/domain_checks.cpp — DKIM, SPF, DMARC and posture checks (domain_checks.hpp).
//
// GCC 12 and coroutines: strings are built in named locals before a co_await, never with
// `?:` temporaries, and every co_await is a statement of its own (STYLE.md). GCC 12 also
// reports an awaitable frame's own operator delete as "mismatched" with its operator new (a
// false positive of -Wmismatched-new-delete, as in relay/delivery/mx.cpp).
#include "relay/doctor/domain_checks.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <algorithm>
#include <cctype>

#include "relay/doctor/dmarc.hpp"
#include "relay/doctor/spf.hpp"
#include "relay/tlsrpt/report.hpp"
#include "signer/key.hpp"

namespace signpost::doctor {
namespace {

namespace asio = boost::asio;

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool temporary(dns::Status s) { return s == dns::Status::servfail || s == dns::Status::timeout; }

std::string dns_why(const dns::Answer& a) {
    if (!a.why.empty()) return a.why;
    return dns::to_string(a.status);
}

std::string date_of(keys::Time t) {
    auto days = std::chrono::floor<std::chrono::days>(t);
    std::chrono::year_month_day ymd{days};
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()));
    return buf;
}


std::vector<std::string> split_terms(const std::string& record) {
    std::vector<std::string> terms;
    std::size_t i = 0;
    while (i < record.size()) {
        while (i < record.size() && record[i] == ' ') ++i;
        std::size_t j = record.find(' ', i);
        if (j == std::string::npos) j = record.size();
        if (j > i) terms.push_back(record.substr(i, j - i));
        i = j;
    }
    return terms;
}

bool is_all_term(const std::string& t) {
    std::string l = lower(t);
    if (!l.empty() && (l[0] == '+' || l[0] == '-' || l[0] == '~' || l[0] == '?')) l.erase(0, 1);
    return l == "all";
}

std::string join_terms(const std::vector<std::string>& terms) {
    std::string out;
    for (const auto& t : terms) out += (out.empty() ? "" : " ") + t;
    return out;
}

}  // namespace

std::string txt_record_line(const std::string& name, const std::string& value) {
    std::string out = name + ". IN TXT ";
    if (value.size() <= 255) return out + "\"" + value + "\"";
    out += "(";
    for (std::size_t i = 0; i < value.size(); i += 255) out += " \"" + value.substr(i, 255) + "\"";
    return out + " )";
}

std::string spf_record_with(const std::string& current, const std::vector<asio::ip::address>& addresses) {
    std::vector<std::string> add;
    for (const auto& a : addresses) add.push_back((a.is_v4() ? "ip4:" : "ip6:") + a.to_string());
    if (current.empty()) {
        std::string out = "v=spf1";
        for (const auto& m : add) out += " " + m;
        return out + " ~all";
    }
    // Insert before the first "all" term (mechanisms after it never match).
    std::vector<std::string> terms = split_terms(current);
    terms.insert(std::find_if(terms.begin(), terms.end(), is_all_term), add.begin(), add.end());
    return join_terms(terms);
}

asio::awaitable<OutboundAddresses> outbound_addresses(dns::Resolver& resolver, const config::Config& cfg) {
    OutboundAddresses out;
    std::string host;
    if (cfg.delivery.mode == config::DeliveryMode::capture) {
        out.problem = "[delivery] mode = \"capture\": nothing is sent to the Internet";
        co_return out;
    }
    if (cfg.delivery.mode == config::DeliveryMode::smarthost) {
        out.smarthost = true;
        if (cfg.delivery.smarthost) host = cfg.delivery.smarthost->host;
        out.source = "the smarthost " + host + "'s A/AAAA records";
    } else if (!cfg.doctor.addresses.empty()) {
        for (const auto& a : cfg.doctor.addresses) {
            boost::system::error_code ec;
            auto ip = asio::ip::make_address(a, ec);
            if (!ec) out.addresses.push_back(ip);
        }
        out.source = "[doctor] addresses";
        co_return out;
    } else {
        host = cfg.server.hostname;
        out.source = "the A/AAAA records of [server] hostname " + host;
    }
    boost::system::error_code ec;
    auto literal = asio::ip::make_address(host, ec);
    if (!ec) {
        out.addresses.push_back(literal);
        co_return out;
    }
    dns::AddressAnswer v4 = co_await resolver.a(host);
    dns::AddressAnswer v6 = co_await resolver.aaaa(host);
    for (const auto& a : v4.addresses) out.addresses.push_back(a);
    for (const auto& a : v6.addresses) out.addresses.push_back(a);
    if (out.addresses.empty()) {
        out.problem = host + ": no A or AAAA record";
        if (temporary(v4.status)) out.problem = host + ": " + dns_why(v4);
    }
    co_return out;
}

// ---- DKIM ----------------------------------------------------------------------------

namespace {

// The DKIM checks from the store's view and the TXT answer for each of its keys (in order).
std::vector<Check> evaluate_dkim(const std::string& d, const keys::KeyStore& store, const keys::DomainView& view,
                                 const std::vector<dns::TxtRecords>& answers) {
    std::vector<Check> out;
    bool any_active = false, rsa_active = false;
    for (std::size_t i = 0; i < view.state.keys.size(); ++i) {
        const keys::KeyEntry& k = view.state.keys[i];
        const dns::TxtRecords& txt = answers[i];
        const std::string name = keys::record_name(k.selector, d);
        if (k.state == keys::KeyState::active) {
            any_active = true;
            if (k.algorithm != config::DkimAlgorithm::ed25519) rsa_active = true;
        }
        if (k.state == keys::KeyState::retired) {
            // The key is gone from use; a record still served may go (`signpost keys dns`).
            if (txt.status == dns::Status::ok && !txt.records.empty())
                out.push_back(make_check("dkim", d, k.selector, Status::warn,
                                         "retired key " + k.selector + " still published at " + name,
                                         "remove the record " + name + " TXT (no message signed with it is in "
                                                                        "transit any more)"));
            continue;
        }
        keys::StoreIssue key_issue;
        auto key = store.load_key(d, k, key_issue);
        const std::string state(keys::to_string(k.state));
        if (!key) {
            out.push_back(make_check("dkim", d, k.selector, Status::fail,
                                     state + " key " + k.selector + ": " + key_issue.to_string(),
                                     "restore the key file, or rotate: signpost keys rotate --domain " + d));
            continue;
        }
        const std::string value = key->dns_record();
        const std::string record = keys::zone_file_record(k.selector, d, value);
        std::string size = "Ed25519";
        if (key->type() == signer::KeyType::rsa) size = "RSA-" + std::to_string(key->bits());
        if (temporary(txt.status)) {
            out.push_back(make_check("dkim", d, k.selector, Status::warn,
                                     state + " key " + k.selector + ": DNS lookup of " + name + " failed: " + dns_why(txt),
                                     "check the DNS path ([dns] forwarders), then run signpost doctor again"));
            continue;
        }
        bool matches = false, testing = false, other = false;
        std::string bad;
        for (const auto& text : txt.records) {
            auto rec = signer::parse_key_record(text);
            if (!rec) {
                bad = rec.error().message();
                continue;
            }
            if (signer::record_matches(*rec, *key)) {
                matches = true;
                testing = rec->testing;
            } else {
                other = true;
            }
        }
        const bool missing = txt.status != dns::Status::ok || txt.records.empty();
        Status st = Status::ok;
        std::string evidence, fix;
        if (matches && testing) {
            st = Status::warn;
            evidence = state + " " + size + " key " + k.selector + " published at " + name +
                       " with t=y (testing: receivers may treat failures as unsigned)";
            fix = "publish it without t=y:\n" + record;
        } else if (matches) {
            evidence = state + " " + size + " key " + k.selector + " published at " + name;
            if (k.state == keys::KeyState::pending)
                evidence += k.asap ? " (activates at the next key check)" : " (ready for the next rotation)";
        } else if (missing) {
            // Active: receivers cannot verify at all. Pending: rotation waits. Retiring:
            // mail signed before it stopped may still be on its way.
            st = k.state == keys::KeyState::active ? Status::fail : Status::warn;
            evidence = state + " key " + k.selector + ": no record at " + name + " (" + dns_why(txt) + ")";
            if (k.state == keys::KeyState::retiring && k.retiring_since)
                evidence += "; it signed mail until " + date_of(*k.retiring_since);
            fix = "publish:\n" + record;
        } else {
            st = k.state == keys::KeyState::active ? Status::fail : Status::warn;
            evidence = state + " key " + k.selector + ": " + name + " holds " +
                       (other ? std::string("a key Signpost does not have (stale, mistyped or another signer's)")
                              : "a record that does not parse: " + bad);
            fix = "replace the record " + name + " TXT with:\n" + record;
        }
        out.push_back(make_check("dkim", d, k.selector, st, evidence, fix));
        if (key->type() == signer::KeyType::rsa && key->bits() < 2048)
            out.push_back(make_check("dkim", d, k.selector, Status::warn,
                                     k.selector + " is RSA-" + std::to_string(key->bits()) +
                                         ": receivers may ignore signatures with RSA keys under 2048 bits (RFC 8301)",
                                     "rotate to a 2048-bit key: signpost keys rotate --domain " + d +
                                         " --algorithm rsa2048"));
    }
    if (!any_active) {
        out.push_back(make_check("dkim", d, "", Status::fail, "no active key: mail from " + d + " is refused (451)",
                                 "publish the pending key's record (signpost keys dns --domain " + d +
                                     "), or create one: signpost keys generate --domain " + d));
    } else if (!rsa_active) {
        out.push_back(make_check("dkim", d, "", Status::warn,
                                 "only Ed25519 keys sign: receivers without RFC 8463 support see no valid signature",
                                 "add \"rsa2048\" to algorithms in the [[domain]] table for " + d));
    }
    return out;
}

}  // namespace

asio::awaitable<std::vector<Check>> check_dkim(dns::Resolver& resolver, const config::DomainConfig& domain,
                                               const keys::KeyStore& store) {
    std::vector<Check> out;
    const std::string d = domain.name;
    keys::DomainView view;
    keys::StoreIssue issue;
    if (!store.read(d, view, issue)) {
        std::string evidence = "key store: " + issue.to_string();
        std::string fix = "repair or restore " + issue.file.string() + " (signpost keys list shows the state)";
        out.push_back(make_check("dkim", d, "", Status::fail, evidence, fix));
        co_return out;
    }
    std::vector<dns::TxtRecords> answers;
    for (const auto& k : view.state.keys) {
        std::string name = keys::record_name(k.selector, d);
        dns::TxtRecords txt = co_await resolver.txt(name);
        answers.push_back(std::move(txt));
    }
    out = evaluate_dkim(d, store, view, answers);
    co_return out;
}

// ---- SPF -----------------------------------------------------------------------------
namespace {

const std::string kDnsPathFix = "check the DNS path ([dns] forwarders), then run signpost doctor again";

// Everything decided from the domain's TXT answer alone: a Check that ends the SPF checks
// (no record, several, invalid), or nullopt with `record` set to the one SPF record.
std::optional<Check> spf_record_problem(const std::string& d, const dns::TxtRecords& txt,
                                        const OutboundAddresses& outbound, std::string& record) {
    if (temporary(txt.status))
        return make_check("spf", d, "", Status::warn, "DNS lookup of " + d + " TXT failed: " + dns_why(txt), kDnsPathFix);
    std::vector<std::string> records;
    if (txt.status == dns::Status::ok) records = spf::spf_records(txt.records);
    if (records.empty()) {
        std::string fix = "publish:\n" + txt_record_line(d, spf_record_with("", outbound.addresses));
        if (outbound.smarthost)
            fix = "publish an SPF record with the include your smarthost's provider documents, such as:\n" +
                  txt_record_line(d, "v=spf1 include:<your provider's SPF domain> ~all");
        return make_check("spf", d, "", Status::fail,
                          "no SPF record at " + d + ": receivers cannot tell which hosts may send for it", fix);
    }
    if (records.size() > 1) {
        // RFC 7208 §4.5: more than one record is a permerror. Offer the merged record.
        std::vector<std::string> merged{"v=spf1"};
        std::vector<std::string> seen;
        std::string all_term;
        for (const auto& r : records) {
            auto terms = split_terms(r);
            for (std::size_t i = 1; i < terms.size(); ++i) {
                if (is_all_term(terms[i])) {
                    if (all_term.empty()) all_term = terms[i];
                    continue;
                }
                std::string l = lower(terms[i]);
                if (std::find(seen.begin(), seen.end(), l) != seen.end()) continue;
                seen.push_back(l);
                merged.push_back(terms[i]);
            }
        }
        if (!all_term.empty()) merged.push_back(all_term);
        return make_check("spf", d, "", Status::fail,
                          std::to_string(records.size()) + " SPF records at " + d +
                              ": receivers treat that as an error (RFC 7208 §4.5) and SPF fails",
                          "remove all but one; publish this single record:\n" + txt_record_line(d, join_terms(merged)));
    }
    record = records[0];
    auto parsed = spf::parse_record(record);
    if (auto* err = std::get_if<spf::ParseError>(&parsed))
        return make_check("spf", d, "", Status::fail, "the SPF record at " + d + " is invalid: " + err->why,
                          "correct the record (RFC 7208 §12 has the syntax): \"" + record + "\"");
    return std::nullopt;
}

// "+all" / "?all" / a bare "all": a warning with the record ending in "~all" instead.
std::optional<Check> spf_all_problem(const std::string& d, const std::string& record) {
    auto terms = split_terms(record);
    for (auto& t : terms) {
        if (!is_all_term(t)) continue;
        if (t[0] == '-' || t[0] == '~') return std::nullopt;
        std::string said = t;
        std::string meaning = "any host on the Internet may send as " + d;
        if (t[0] == '?') meaning = "it says nothing about other hosts, so forged mail is not marked";
        t = "~all";
        return make_check("spf", d, "all", Status::warn, "the record ends in " + said + ": " + meaning,
                          "publish:\n" + txt_record_line(d, join_terms(terms)));
    }
    return std::nullopt;
}

Check spf_lookup_check(const std::string& d, const spf::LookupCount& count) {
    if (count.lookups > 10)
        return make_check("spf", d, "lookups", Status::fail,
                          "the record needs " + std::to_string(count.lookups) +
                              " DNS lookups (include, a, mx, ptr, exists, redirect); receivers stop at 10 "
                              "(RFC 7208 §4.6.4) and SPF fails",
                          "remove includes you no longer use, and replace a/mx mechanisms with ip4:/ip6: of the "
                          "addresses they name, until at most 10 remain");
    std::string ev = std::to_string(count.lookups) + " of 10 DNS lookups";
    if (!count.complete) ev += " counted (" + count.why + ")";
    return make_check("spf", d, "lookups", Status::ok, ev);
}

std::vector<Check> spf_address_checks(const config::Config& cfg, const std::string& d, const std::string& record,
                                      const OutboundAddresses& outbound,
                                      const std::vector<spf::Evaluation>& evaluations) {
    std::vector<Check> out;
    std::vector<asio::ip::address> missing;
    std::string smarthost;
    if (cfg.delivery.smarthost) smarthost = cfg.delivery.smarthost->host;
    for (std::size_t i = 0; i < outbound.addresses.size(); ++i) {
        const auto& ip = outbound.addresses[i];
        const spf::Evaluation& ev = evaluations[i];
        std::string evidence = std::string("SPF ") + spf::to_string(ev.result) + " for " + ip.to_string() + " (" +
                               outbound.source + "): " + ev.why;
        if (ev.result == spf::Result::pass) {
            out.push_back(make_check("spf", d, ip.to_string(), Status::ok, evidence));
        } else if (ev.result == spf::Result::temperror) {
            out.push_back(make_check("spf", d, ip.to_string(), Status::warn, evidence,
                                     "check the DNS path ([dns] forwarders) and the domains the record includes"));
        } else if (outbound.smarthost) {
            out.push_back(make_check("spf", d, ip.to_string(), Status::warn, evidence,
                                     "mail leaves through the smarthost " + smarthost +
                                         ": add the include its provider documents for its outgoing servers "
                                         "(include:...), or ip4:/ip6: of them, to the SPF record of " + d));
        } else {
            missing.push_back(ip);
            out.push_back(make_check("spf", d, ip.to_string(), Status::fail, evidence,
                                     "publish:\n" + txt_record_line(d, spf_record_with(record, {ip}))));
        }
    }
    // With several addresses missing, every fix is the one record that covers them all.
    if (missing.size() > 1)
        for (auto& c : out)
            if (c.status == Status::fail) c.fix = "publish:\n" + txt_record_line(d, spf_record_with(record, missing));
    return out;
}

}  // namespace

asio::awaitable<std::vector<Check>> check_spf(dns::Resolver& resolver, const config::Config& cfg,
                                              const config::DomainConfig& domain, const OutboundAddresses& outbound) {
    std::vector<Check> out;
    const std::string d = domain.name;
    dns::TxtRecords txt = co_await resolver.txt(d);
    std::string record;
    if (auto stop = spf_record_problem(d, txt, outbound, record)) {
        out.push_back(std::move(*stop));
        co_return out;
    }
    if (auto all = spf_all_problem(d, record)) out.push_back(std::move(*all));
    spf::LookupCount count = co_await spf::lookup_count(resolver, d);
    out.push_back(spf_lookup_check(d, count));
    if (outbound.addresses.empty()) {
        std::string evidence = "not evaluated: no outbound address known";
        if (!outbound.problem.empty()) evidence = "not evaluated: " + outbound.problem;
        out.push_back(make_check("spf", d, "", Status::skipped, evidence,
                                 "set [doctor] addresses to the relay's public address(es)"));
        co_return out;
    }
    std::vector<spf::Evaluation> evaluations;
    const std::string sender = "postmaster@" + d;
    for (const auto& ip : outbound.addresses) {
        spf::Evaluation ev = co_await spf::check_host(resolver, ip, d, sender, cfg.server.hostname);
        evaluations.push_back(std::move(ev));
    }
    std::vector<Check> per_address = spf_address_checks(cfg, d, record, outbound, evaluations);
    out.insert(out.end(), per_address.begin(), per_address.end());
    co_return out;
}

// ---- DMARC ---------------------------------------------------------------------------
namespace {

// `at`: the name the record was found at (or the last name asked), `txt` its answer.
std::vector<Check> evaluate_dmarc(const config::DomainConfig& domain, const std::string& org, const std::string& at,
                                  const dns::TxtRecords& txt) {
    std::vector<Check> out;
    const std::string& d = domain.name;
    const std::string own = "_dmarc." + d;
    const std::string suggested = "v=DMARC1; p=none; rua=mailto:dmarc-reports@" + d;
    if (temporary(txt.status)) {
        out.push_back(make_check("dmarc", d, "", Status::warn, "DNS lookup of " + at + " TXT failed: " + dns_why(txt),
                                 kDnsPathFix));
        return out;
    }
    std::vector<std::string> records;
    if (txt.status == dns::Status::ok) records = dmarc::dmarc_records(txt.records);
    if (records.empty()) {
        std::string where = own;
        if (org != d) where += " or _dmarc." + org;
        out.push_back(make_check("dmarc", d, "", Status::fail,
                                 "no DMARC record at " + where +
                                     ": large receivers refuse or file bulk mail from domains without one",
                                 "publish:\n" + txt_record_line(own, suggested)));
        return out;
    }
    if (records.size() > 1) {
        out.push_back(make_check("dmarc", d, "", Status::fail,
                                 std::to_string(records.size()) + " DMARC records at " + at +
                                     ": receivers apply none of them (RFC 7489 §6.6.3)",
                                 "keep exactly one, such as:\n" + txt_record_line(at, records[0])));
        return out;
    }
    auto parsed = dmarc::parse_dmarc(records[0]);
    if (!parsed.record) {
        out.push_back(make_check("dmarc", d, "", Status::fail, "the DMARC record at " + at + " is invalid: " + parsed.error,
                                 "publish:\n" + txt_record_line(at, suggested)));
        return out;
    }
    const dmarc::Record& r = *parsed.record;
    // Found at the organizational domain for a subdomain: sp= applies (§6.6.3).
    const bool inherited = at != own;
    dmarc::Policy applies = r.policy;
    if (inherited && r.subdomain_policy) applies = *r.subdomain_policy;
    std::string evidence = "p=" + std::string(dmarc::to_string(applies)) + " at " + at;
    if (!r.policy_given) evidence += " (no p=: read as none)";
    if (applies == dmarc::Policy::none) evidence += " (monitoring only)";
    if (r.pct != 100) evidence += ", pct=" + std::to_string(r.pct);
    evidence += std::string(", adkim=") + (r.strict_dkim ? "s" : "r") + ", aspf=" + (r.strict_spf ? "s" : "r");

    // Signpost signs with d=<domain> for mail From <domain> and, with sign_subdomains,
    // From its subdomains too. The envelope sender is the submitting client's MAIL FROM,
    // normally an address of the From domain.
    auto relaxed = [&records](const char* tag) {
        std::string fixed = records[0];
        std::string l = lower(fixed);
        auto p = l.find(tag);
        if (p == std::string::npos) return fixed;
        auto eq = fixed.find('=', p);
        auto end = fixed.find(';', eq);
        if (end == std::string::npos) end = fixed.size();
        fixed.replace(eq + 1, end - eq - 1, "r");
        return fixed;
    };
    if (domain.sign_subdomains && r.strict_dkim) {
        out.push_back(make_check("dmarc", d, "alignment", Status::fail,
                                 evidence + "; DKIM not aligned: mail From subdomains of " + d + " is signed d=" + d +
                                     ", which adkim=s does not accept",
                                 "publish:\n" + txt_record_line(at, relaxed("adkim"))));
    } else if (domain.sign_subdomains && r.strict_spf) {
        out.push_back(make_check("dmarc", d, "alignment", Status::warn,
                                 evidence + "; envelope senders at subdomains of " + d +
                                     " do not align with aspf=s (DKIM still aligns)",
                                 "publish:\n" + txt_record_line(at, relaxed("aspf"))));
    } else {
        std::string ok = evidence + "; DKIM d=" + d + " aligns with From " + d;
        if (domain.sign_subdomains) ok += " and its subdomains";
        out.push_back(make_check("dmarc", d, "alignment", Status::ok, ok));
    }
    if (r.rua.empty()) {
        std::string with_rua = records[0];
        while (!with_rua.empty() && (with_rua.back() == ' ' || with_rua.back() == ';')) with_rua.pop_back();
        with_rua += "; rua=mailto:dmarc-reports@" + d;
        out.push_back(make_check("dmarc", d, "rua", Status::warn,
                                 "no rua=: you get no aggregate reports of who sends as " + d,
                                 "publish:\n" + txt_record_line(at, with_rua)));
    } else {
        std::string list;
        for (const auto& u : r.rua) list += (list.empty() ? "" : ", ") + u;
        out.push_back(make_check("dmarc", d, "rua", Status::ok, "aggregate reports go to " + list));
    }
    return out;
}

}  // namespace

asio::awaitable<std::vector<Check>> check_dmarc(dns::Resolver& resolver, const config::DomainConfig& domain) {
    const std::string d = domain.name;
    const std::string org = dmarc::organizational_domain(d);
    std::string at = "_dmarc." + d;
    dns::TxtRecords txt = co_await resolver.txt(at);
    bool found = txt.status == dns::Status::ok && !dmarc::dmarc_records(txt.records).empty();
    if (!found && !temporary(txt.status) && org != d) {
        at = "_dmarc." + org;
        dns::TxtRecords parent = co_await resolver.txt(at);
        txt = std::move(parent);
    }
    std::vector<Check> out = evaluate_dmarc(domain, org, at, txt);
    co_return out;
}

// ---- inbound posture (advice) ----------------------------------------------------------
namespace {

std::vector<Check> evaluate_posture(const config::Config& cfg, const std::string& d, const dns::MxAnswer& mx,
                                    const dns::TxtRecords& sts, const dns::TxtRecords& rpt) {
    std::vector<Check> out;
    if (temporary(mx.status)) {
        out.push_back(make_check("mx", d, "", Status::warn, "DNS lookup of " + d + " MX failed: " + dns_why(mx),
                                 kDnsPathFix));
    } else if (mx.status != dns::Status::ok || mx.records.empty()) {
        out.push_back(make_check("mx", d, "", Status::warn,
                                 "no MX record: replies and bounces to " + d + " go to its A record, if any",
                                 "publish the host that receives mail for " + d + ":\n" + d + ". IN MX 10 " +
                                     cfg.server.hostname + "."));
    } else if (mx.records.size() == 1 && mx.records[0].host.empty()) {
        out.push_back(make_check("mx", d, "", Status::warn,
                                 "null MX (RFC 7505): " + d + " receives no mail, so nobody can reply or bounce to it",
                                 "publish a real MX when " + d + " should receive replies"));
    } else {
        std::string hosts;
        for (const auto& r : mx.records) hosts += (hosts.empty() ? "" : ", ") + std::to_string(r.preference) + " " + r.host;
        out.push_back(make_check("mx", d, "", Status::ok, "MX " + hosts));
    }

    const std::string sts_name = "_mta-sts." + d;
    bool has_sts = false;
    for (const auto& t : sts.records)
        if (lower(t).rfind("v=stsv1", 0) == 0) has_sts = true;
    if (has_sts) {
        out.push_back(make_check("mta_sts", d, "", Status::ok, "MTA-STS record at " + sts_name));
    } else {
        std::string why = "no MTA-STS record";
        if (temporary(sts.status)) why = "lookup failed: " + dns_why(sts);
        out.push_back(make_check("mta_sts", d, "", Status::warn,
                                 why + " at " + sts_name + ": senders may deliver to " + d + " without TLS (RFC 8461)",
                                 "serve https://mta-sts." + d + "/.well-known/mta-sts.txt (version: STSv1, mode: "
                                 "testing, mx: <your MX host>, max_age: 604800) and publish:\n" +
                                     txt_record_line(sts_name, "v=STSv1; id=1")));
    }

    const std::string rpt_name = "_smtp._tls." + d;
    bool has_rpt = false;
    for (const auto& t : rpt.records)
        if (tlsrpt::parse_tlsrpt_record(t)) has_rpt = true;
    if (has_rpt) {
        out.push_back(make_check("tls_rpt", d, "", Status::ok, "TLS-RPT record at " + rpt_name));
    } else {
        std::string why = "no TLS-RPT record";
        if (temporary(rpt.status)) why = "lookup failed: " + dns_why(rpt);
        out.push_back(make_check("tls_rpt", d, "", Status::warn,
                                 why + " at " + rpt_name + ": senders cannot tell you when TLS to " + d + " fails (RFC 8460)",
                                 "publish:\n" + txt_record_line(rpt_name, "v=TLSRPTv1; rua=mailto:tls-reports@" + d)));
    }

    if (!cfg.dns.dnssec) {
        out.push_back(make_check("dnssec", d, "", Status::skipped,
                                 "not checked: [dns] dnssec = false (answers are not validated)",
                                 "set [dns] dnssec = true and trust_anchor_file = \"/usr/share/dns/root.key\""));
    } else if (mx.security == dns::Security::secure) {
        out.push_back(make_check("dnssec", d, "", Status::ok, "the zone of " + d + " is DNSSEC-signed and validates"));
    } else if (mx.security == dns::Security::insecure) {
        out.push_back(make_check("dnssec", d, "", Status::warn,
                                 "the zone of " + d + " is not DNSSEC-signed: senders cannot use DANE for it (RFC 7672)",
                                 "enable DNSSEC signing at your DNS host and publish the DS record at your registrar"));
    } else {
        out.push_back(make_check("dnssec", d, "", Status::warn, "DNSSEC status of " + d + " unknown: " + dns_why(mx),
                                 "check the zone's signatures and the DNS path"));
    }
    return out;
}

}  // namespace

asio::awaitable<std::vector<Check>> check_posture(dns::Resolver& resolver, const config::Config& cfg,
                                                  const config::DomainConfig& domain) {
    const std::string d = domain.name;
    dns::MxAnswer mx = co_await resolver.mx(d);
    std::string sts_name = "_mta-sts." + d;
    dns::TxtRecords sts = co_await resolver.txt(sts_name);
    std::string rpt_name = "_smtp._tls." + d;
    dns::TxtRecords rpt = co_await resolver.txt(rpt_name);
    std::vector<Check> out = evaluate_posture(cfg, d, mx, sts, rpt);
    co_return out;
}

asio::awaitable<std::vector<Check>> check_domain(dns::Resolver& resolver, const config::Config& cfg,
                                                 const config::DomainConfig& domain, const keys::KeyStore& store,
                                                 const OutboundAddresses& outbound) {
    std::vector<Check> out = co_await check_dkim(resolver, domain, store);
    std::vector<Check> spf = co_await check_spf(resolver, cfg, domain, outbound);
    std::vector<Check> dm = co_await check_dmarc(resolver, domain);
    std::vector<Check> posture = co_await check_posture(resolver, cfg, domain);
    for (auto* part : {&spf, &dm, &posture}) out.insert(out.end(), part->begin(), part->end());
    co_return out;
}

}  // namespace signpost::doctor
