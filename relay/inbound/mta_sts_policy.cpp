// relay/inbound/mta_sts_policy.cpp — the MTA-STS policy and records to publish (see
// mta_sts_policy.hpp).
#include "relay/inbound/mta_sts_policy.hpp"

#include <botan/hash.h>
#include <botan/hex.h>

namespace signpost::inbound {

MtaStsPolicy served_policy(const config::Config& cfg, const config::InboundConfig& entry) {
    MtaStsPolicy p;
    p.domain = entry.domain;
    p.mx = cfg.mta_sts_serve.mx;
    p.enforce = cfg.mta_sts_serve.enforce;
    p.max_age = static_cast<std::uint32_t>(cfg.mta_sts_serve.max_age.count());
    p.report_to = "mailto:tlsrpt@" + entry.domain;
    return p;
}

std::string policy_file(const MtaStsPolicy& p) {
    std::string out = "version: STSv1\r\nmode: ";
    out += p.enforce ? "enforce" : "testing";
    out += "\r\n";
    for (const auto& host : p.mx) out += "mx: " + host + "\r\n";
    out += "max_age: " + std::to_string(p.max_age) + "\r\n";
    return out;
}

std::string policy_id(const MtaStsPolicy& p) {
    auto sha = Botan::HashFunction::create_or_throw("SHA-256");
    sha->update(policy_file(p));
    return Botan::hex_encode(sha->final(), false).substr(0, 20);
}

std::string records(const MtaStsPolicy& p) {
    std::string out;
    std::string pref = "10";
    out += "; the MX record: mail for " + p.domain + " comes to this relay\n";
    for (const auto& host : p.mx) out += p.domain + ". 3600 IN MX " + pref + " " + host + ".\n";
    out += "; MTA-STS (RFC 8461): senders fetch https://mta-sts." + p.domain +
           "/.well-known/mta-sts.txt (its certificate must be valid for mta-sts." + p.domain +
           "); change the id whenever the policy changes\n";
    out += "_mta-sts." + p.domain + ". 3600 IN TXT \"v=STSv1; id=" + policy_id(p) + "\"\n";
    if (!p.report_to.empty()) {
        out += "; TLS reporting (RFC 8460): daily reports of senders' TLS successes and failures\n";
        out += "_smtp._tls." + p.domain + ". 3600 IN TXT \"v=TLSRPTv1; rua=" + p.report_to + "\"\n";
    }
    return out;
}

}  // namespace signpost::inbound
