// relay/doctor/dmarc.hpp — DMARC records (RFC 7489) and organizational domains.
//
// parse_dmarc: one TXT string of a "_dmarc" name into its tags (§6.3): v=DMARC1 first
// (else it is not a DMARC record at all), p required (§6.3: a record without a valid p=
// but with rua= is read as p=none, §6.6.3), sp, adkim/aspf (r or s), pct (0..100), rua,
// ruf, fo, rf, ri. Unknown tags are ignored; a bad value of a known tag is an error.
// dmarc_records: the TXT strings that start with "v=DMARC1" (§6.6.3 step 4 ignores the
// others). organizational_domain: §3.2 with the Public Suffix List, through libpsl (the
// newest of its built-in list and /usr/share/publicsuffix, as libpsl's psl_latest picks).
// aligned: §3.1.1 / §3.1.2 identifier alignment, relaxed or strict.
//
// Untrusted input: record text. Threading: pure functions; the PSL is loaded once
// (thread-safe static).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace signpost::doctor::dmarc {

enum class Policy { none, quarantine, reject };
const char* to_string(Policy p);

struct Record {
    Policy policy = Policy::none;
    bool policy_given = true;             // false: p= missing, read as none (§6.6.3)
    std::optional<Policy> subdomain_policy;
    bool strict_dkim = false;             // adkim=s
    bool strict_spf = false;              // aspf=s
    int pct = 100;
    std::vector<std::string> rua;         // as written
    std::vector<std::string> ruf;
};

struct ParseResult {
    std::optional<Record> record;
    std::string error;  // why not, when !record
};
ParseResult parse_dmarc(std::string_view text);

std::vector<std::string> dmarc_records(const std::vector<std::string>& txt);

// The registered domain of `domain` (lower case, no trailing dot), or `domain` itself when
// it is a public suffix or the list knows nothing better.
std::string organizational_domain(std::string_view domain);

// Whether identifiers `a` and `b` align: equal (strict), or with the same organizational
// domain (relaxed).
bool aligned(std::string_view a, std::string_view b, bool strict);

}  // namespace signpost::doctor::dmarc
