// relay/inbound/auth.cpp — DMARC evaluation and Authentication-Results (see auth.hpp).
#include "relay/inbound/auth.hpp"

#include <cctype>

#include "relay/doctor/dmarc.hpp"
#include "relay/inbound/text.hpp"

namespace signpost::inbound {
namespace {

namespace dm = doctor::dmarc;

DmarcPolicy from_doctor(dm::Policy p) {
    switch (p) {
        case dm::Policy::none: return DmarcPolicy::none;
        case dm::Policy::quarantine: return DmarcPolicy::quarantine;
        case dm::Policy::reject: return DmarcPolicy::reject;
    }
    return DmarcPolicy::none;
}

DmarcPolicy weaker(DmarcPolicy p) {
    return p == DmarcPolicy::reject ? DmarcPolicy::quarantine : DmarcPolicy::none;
}

// `v` without control characters and without bytes that are not well-formed UTF-8
// (RFC 3629): an internationalized address (RFC 6532) keeps its characters, while stray
// 8-bit bytes, truncated sequences, overlong forms and surrogates go.
std::string printable_utf8(std::string_view v) {
    std::string out;
    std::size_t i = 0;
    while (i < v.size()) {
        const auto c = static_cast<unsigned char>(v[i]);
        if (c < 0x80) {
            if (c >= 0x20 && c != 0x7f) out += static_cast<char>(c);
            ++i;
            continue;
        }
        std::size_t n = 0;
        unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
        if (c >= 0xC2 && c <= 0xDF) n = 2;
        else if (c >= 0xE0 && c <= 0xEF) n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4) n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        bool ok = n != 0 && i + n <= v.size();
        for (std::size_t k = 1; ok && k < n; ++k) {
            const auto b = static_cast<unsigned char>(v[i + k]);
            ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
        }
        if (ok) {
            out.append(v.substr(i, n));
            i += n;
        } else {
            ++i;  // drop the lead byte; what follows is looked at on its own
        }
    }
    return out;
}

// A property value (RFC 8601 §2.2 pvalue): as it is when it is a plain token or address,
// else a quoted-string. Control characters and malformed UTF-8 are dropped either way.
std::string pvalue(std::string_view v) {
    const std::string clean = printable_utf8(v);
    bool plain = !clean.empty();
    for (unsigned char c : clean)
        if (!(std::isalnum(c) || std::string_view("@.-_+=!#$%&'*/?^`{|}~").find(static_cast<char>(c)) != std::string_view::npos))
            plain = false;
    if (plain) return clean;
    std::string q = "\"";
    for (char c : clean) {
        if (c == '"' || c == '\\') q += '\\';
        q += c;
    }
    return q + "\"";
}

// A comment: our own words, with nothing that could end it early.
std::string comment(std::string_view text) {
    if (text.empty()) return {};
    std::string out = " (";
    for (char c : printable_utf8(text))
        if (c != '(' && c != ')' && c != '\\') out += c;
    return out + ")";
}

}  // namespace

const char* to_string(DmarcPolicy p) {
    switch (p) {
        case DmarcPolicy::none: return "none";
        case DmarcPolicy::quarantine: return "quarantine";
        case DmarcPolicy::reject: return "reject";
    }
    return "none";
}

DmarcOutcome evaluate_dmarc(std::string_view from_domain, const DmarcLookup& lookup, const SpfOutcome& spf,
                            const std::vector<DkimOutcome>& dkim, int sample) {
    DmarcOutcome out;
    out.from_domain = ascii_lower(from_domain);
    if (out.from_domain.empty()) {
        out.result = "permerror";
        out.reason = "no single From domain";
        return out;
    }
    if (lookup.status == DmarcLookup::Status::temperror) {
        out.result = "temperror";
        out.reason = "DNS failure looking up the DMARC record";
        return out;
    }
    if (lookup.status == DmarcLookup::Status::none) {
        out.result = "none";
        out.reason = "no DMARC record";
        return out;
    }
    const dm::ParseResult parsed = dm::parse_dmarc(lookup.record);
    if (!parsed.record) {
        out.result = "permerror";
        out.reason = "unusable DMARC record: " + parsed.error;
        return out;
    }
    const dm::Record& rec = *parsed.record;
    // §6.6.3: sp= is for a From domain below the organizational domain whose record it is.
    const DmarcPolicy policy = from_doctor(lookup.at_organizational && rec.subdomain_policy ? *rec.subdomain_policy : rec.policy);
    out.policy = policy;
    const bool spf_aligned = spf.result == "pass" && dm::aligned(spf.domain, out.from_domain, rec.strict_spf);
    bool dkim_aligned = false;
    for (const auto& d : dkim)
        dkim_aligned = dkim_aligned || (d.result == "pass" && dm::aligned(d.d, out.from_domain, rec.strict_dkim));
    if (spf_aligned || dkim_aligned) {
        out.result = "pass";
        out.reason = dkim_aligned ? (spf_aligned ? "SPF and DKIM aligned" : "DKIM aligned") : "SPF aligned";
        return out;
    }
    out.result = "fail";
    out.reason = "no aligned SPF or DKIM pass";
    out.disposition = sample < rec.pct ? policy : weaker(policy);
    return out;
}

std::string authentication_results(std::string_view authserv_id, const SpfOutcome& spf,
                                   const std::vector<DkimOutcome>& dkim, const DmarcOutcome& dmarc) {
    std::string f = "Authentication-Results: " + std::string(authserv_id) + ";\r\n\tspf=" + spf.result;
    if (spf.helo)
        f += " smtp.helo=" + pvalue(spf.identity);
    else
        f += " smtp.mailfrom=" + pvalue(spf.identity);
    if (dkim.empty()) {
        f += ";\r\n\tdkim=none";
    } else {
        for (const auto& d : dkim) {
            f += ";\r\n\tdkim=" + d.result + comment(d.result == "pass" ? "" : d.reason);
            if (!d.d.empty()) f += " header.d=" + pvalue(d.d);
            if (!d.s.empty()) f += " header.s=" + pvalue(d.s);
            if (!d.b.empty()) f += " header.b=" + pvalue(d.b.substr(0, 8));
        }
    }
    f += ";\r\n\tdmarc=" + dmarc.result;
    std::string why;
    if (dmarc.policy) why = std::string("p=") + to_string(*dmarc.policy) + " dis=" + to_string(dmarc.disposition);
    if (dmarc.result != "pass" && !dmarc.reason.empty()) why += (why.empty() ? "" : "; ") + dmarc.reason;
    f += comment(why);
    if (!dmarc.from_domain.empty()) f += " header.from=" + pvalue(dmarc.from_domain);
    return f + "\r\n";
}

bool claims_authserv_id(std::string_view value, std::string_view authserv_id) {
    std::size_t i = 0;
    auto skip_cfws = [&] {
        for (;;) {
            while (i < value.size() && (value[i] == ' ' || value[i] == '\t' || value[i] == '\r' || value[i] == '\n')) ++i;
            if (i < value.size() && value[i] == '(') {
                int depth = 0;
                for (; i < value.size(); ++i) {
                    if (value[i] == '\\') {
                        if (i + 1 < value.size()) ++i;  // the quoted octet; a final backslash quotes nothing
                        continue;
                    }
                    if (value[i] == '(') ++depth;
                    if (value[i] == ')' && --depth == 0) {
                        ++i;
                        break;
                    }
                }
                continue;
            }
            return;
        }
    };
    skip_cfws();
    std::size_t start = i;
    while (i < value.size() && value[i] != ';' && value[i] != ' ' && value[i] != '\t' && value[i] != '(' &&
           value[i] != '\r' && value[i] != '\n')
        ++i;
    std::string id = ascii_lower(value.substr(start, i - start));
    if (id.size() >= 2 && id.front() == '"' && id.back() == '"') id = id.substr(1, id.size() - 2);
    while (!id.empty() && id.back() == '.') id.pop_back();
    std::string ours = ascii_lower(authserv_id);
    while (!ours.empty() && ours.back() == '.') ours.pop_back();
    return !id.empty() && id == ours;
}

}  // namespace signpost::inbound
