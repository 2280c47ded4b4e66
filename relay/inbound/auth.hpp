// relay/inbound/auth.hpp — what the MX listener tells the home server about a message's
// sender: SPF, DKIM and DMARC results, as one Authentication-Results field (RFC 8601).
//
// What it does (pure; the DNS work is the caller's):
//   - evaluate_dmarc(): RFC 7489 §6.6 for the header From's domain: the policy record
//     found at _dmarc.<from> or else at _dmarc.<organizational domain> (§6.6.3), then
//     DMARC passes when an SPF pass or a DKIM pass is aligned with From (§3.1: relaxed
//     unless aspf/adkim=s). The policy applied to a failure is p= (sp= for a subdomain
//     of the organizational domain when given), sampled by pct= (§6.6.4: outside the
//     sample the next weaker policy applies).
//   - authentication_results(): the field, authserv-id first, then spf, dkim (one per
//     signature, header.d / header.s / header.b with the first 8 characters of b=, as
//     RFC 6008 suggests), dmarc (header.from), each with a reason comment where it helps.
//   - claims_authserv_id(): whether an incoming Authentication-Results field names our
//     authserv-id; such a field is forged (RFC 8601 §5) and is removed before the message
//     is stored.
//
// Decisions: a message with no From domain (none, or several addresses) gets
// dmarc=permerror and no policy. A DNS failure on the DMARC lookup gives temperror, never
// a rejection. The null reverse-path's SPF identity is the HELO name (RFC 7208 §2.3), and
// its alignment is against that name.
//
// Untrusted input: every identity and record text here comes from the sender or its
// DNS; results are rendered with control characters and malformed UTF-8 removed, and
// quoted where they are not plain tokens.
// Threading: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace signpost::inbound {

struct SpfOutcome {
    std::string result = "none";  // RFC 8601 §2.7.2: none neutral pass fail softfail temperror permerror
    bool helo = false;            // the identity checked is the HELO name (null reverse-path)
    std::string identity;         // the MAIL FROM address, or the HELO name
    std::string domain;           // the domain checked: MAIL FROM's domain, or the HELO name
};

struct DkimOutcome {
    std::string result = "none";  // RFC 8601 §2.7.1: pass fail neutral temperror permerror
    std::string d, s, b;          // d=, s=, and the signature's b= (first 8 characters are shown)
    std::string reason;           // why not, in our words ("body hash mismatch", ...)
};

enum class DmarcPolicy { none, quarantine, reject };
const char* to_string(DmarcPolicy p);

// What the DMARC DNS lookup found: the record text at _dmarc.<from domain>, else at
// _dmarc.<organizational domain>, or that there is none, or that DNS failed.
struct DmarcLookup {
    enum class Status { found, none, temperror } status = Status::none;
    std::string record;            // the DMARC record's text when found
    bool at_organizational = false;  // found at the organizational domain, not the From domain
};

struct DmarcOutcome {
    std::string result = "none";   // none pass fail temperror permerror
    std::string from_domain;       // header.from ("" when there is no single From domain)
    std::optional<DmarcPolicy> policy;  // what the domain asks for a failure (p= or sp=)
    DmarcPolicy disposition = DmarcPolicy::none;  // what applies to this message (pct= sampled)
    std::string reason;            // one short phrase ("no aligned pass", "no DMARC record", ...)
};

// `sample` is a number in [0, 100): the message is in the pct= sample when sample < pct.
DmarcOutcome evaluate_dmarc(std::string_view from_domain, const DmarcLookup& lookup, const SpfOutcome& spf,
                            const std::vector<DkimOutcome>& dkim, int sample);

// The whole field, "Authentication-Results: <authserv-id>;\r\n\tspf=...;\r\n\t..." with a
// final CRLF.
std::string authentication_results(std::string_view authserv_id, const SpfOutcome& spf,
                                   const std::vector<DkimOutcome>& dkim, const DmarcOutcome& dmarc);

// Whether the value of an Authentication-Results field (what follows the colon) names
// `authserv_id` (case-insensitive; comments and an optional version skipped).
bool claims_authserv_id(std::string_view value, std::string_view authserv_id);

}  // namespace signpost::inbound
