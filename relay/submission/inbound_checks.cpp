// relay/submission/inbound_checks.cpp — SPF, DKIM and DMARC for the MX listener (see
// inbound_checks.hpp).
#include "relay/submission/inbound_checks.hpp"

#include <map>
#include <random>

#include "relay/doctor/dmarc.hpp"
#include "relay/doctor/spf.hpp"
#include "relay/inbound/text.hpp"
#include "signer/header.hpp"
#include "signer/tag_list.hpp"

namespace signpost::submission {
namespace {

namespace asio = boost::asio;

// The RFC 8601 §2.7.1 result of one signature, and why not in our words.
inbound::DkimOutcome dkim_outcome(const signer::SignatureResult& r) {
    inbound::DkimOutcome o;
    o.result = std::string(signer::to_string(r.status));
    if (r.testing && r.status == signer::VerifyStatus::fail) o.result = "neutral";  // t=y: a test key
    o.d = r.d;
    o.s = r.s;
    o.reason = r.detail;
    return o;
}

// The b= of each DKIM-Signature field in order (the results come in the same order).
std::vector<std::string> signature_values(const std::string& header) {
    std::vector<std::string> out;
    auto fields = signer::parse_header_block(header);
    if (!fields) return out;
    for (const auto& f : *fields) {
        if (!signer::header_name_equals(f.name, "dkim-signature")) continue;
        std::string b;
        if (auto tags = signer::parse_tag_list(f.value))
            if (auto v = signer::find_tag(*tags, "b")) {
                for (char c : *v)
                    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') b += c;
            }
        out.push_back(std::move(b));
    }
    return out;
}

// _dmarc.<domain>: exactly one DMARC record counts (RFC 7489 §6.6.3 step 4).
asio::awaitable<inbound::DmarcLookup> lookup_at(dns::Resolver& resolver, const std::string& domain) {
    inbound::DmarcLookup out;
    dns::TxtRecords txt = co_await resolver.txt("_dmarc." + domain);
    if (txt.status == dns::Status::servfail || txt.status == dns::Status::timeout) {
        out.status = inbound::DmarcLookup::Status::temperror;
        co_return out;
    }
    auto records = doctor::dmarc::dmarc_records(txt.records);
    if (txt.status == dns::Status::ok && records.size() == 1) {
        out.status = inbound::DmarcLookup::Status::found;
        out.record = records.front();
    }
    co_return out;
}

}  // namespace

asio::awaitable<InboundCheckResult> check_inbound(dns::Resolver& resolver, InboundCheckInput in) {
    InboundCheckResult r;

    // SPF: MAIL FROM's domain, or the HELO name for bounces (RFC 7208 §2.3, §2.4).
    r.spf.helo = in.mail_from.empty() || in.mail_from.find('@') == std::string::npos;
    // (if/else, not ?: over strings: GCC 12 miscompiles such temporaries in coroutines)
    if (r.spf.helo) {
        r.spf.identity = in.helo;
        r.spf.domain = inbound::ascii_lower(in.helo);
    } else {
        r.spf.identity = in.mail_from;
        r.spf.domain = inbound::ascii_lower(std::string_view(in.mail_from).substr(in.mail_from.rfind('@') + 1));
    }
    doctor::spf::Evaluation spf = co_await doctor::spf::check_host(resolver, in.client, "", in.mail_from, in.helo);
    r.spf.result = doctor::spf::to_string(spf.result);

    // DKIM: fetch every key first, then verify from the answers.
    if (in.verifier) {
        std::map<std::pair<std::string, std::string>, signer::LookupResult> keys;
        for (const auto& [selector, domain] : in.verifier->keys_needed()) {
            dns::TxtRecords txt = co_await resolver.txt(selector + "._domainkey." + domain);
            signer::LookupResult found = signer::LookupResult::not_found();
            if (txt.status == dns::Status::servfail || txt.status == dns::Status::timeout)
                found = signer::LookupResult::temp_error();
            else if (txt.status == dns::Status::ok && !txt.records.empty())
                found = signer::LookupResult::found(txt.records.front());
            keys.emplace(std::pair{inbound::ascii_lower(selector), inbound::ascii_lower(domain)}, std::move(found));
        }
        auto lookup = [&keys](std::string_view selector, std::string_view domain) {
            auto it = keys.find({inbound::ascii_lower(selector), inbound::ascii_lower(domain)});
            return it == keys.end() ? signer::LookupResult::temp_error() : it->second;
        };
        auto results = in.verifier->finish(lookup, std::chrono::system_clock::now());
        if (results) {
            const std::vector<std::string> bs = signature_values(in.header);
            for (std::size_t i = 0; i < results->size(); ++i) {
                r.dkim.push_back(dkim_outcome((*results)[i]));
                if (i < bs.size()) r.dkim.back().b = bs[i];
            }
        }
    }

    // DMARC: the From domain's record, else its organizational domain's (RFC 7489 §6.6.3).
    inbound::DmarcLookup dmarc;
    if (!in.from_domain.empty()) {
        dmarc = co_await lookup_at(resolver, in.from_domain);
        const std::string org = doctor::dmarc::organizational_domain(in.from_domain);
        if (dmarc.status == inbound::DmarcLookup::Status::none && org != in.from_domain) {
            dmarc = co_await lookup_at(resolver, org);
            dmarc.at_organizational = true;
        }
    }
    thread_local std::mt19937 rng{std::random_device{}()};
    const int sample = static_cast<int>(std::uniform_int_distribution<int>(0, 99)(rng));
    r.dmarc = inbound::evaluate_dmarc(in.from_domain, dmarc, r.spf, r.dkim, sample);
    r.field = inbound::authentication_results(in.authserv_id, r.spf, r.dkim, r.dmarc);
    co_return r;
}

}  // namespace signpost::submission
