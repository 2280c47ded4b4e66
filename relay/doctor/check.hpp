// relay/doctor/check.hpp — what `signpost doctor` reports: one Check per thing looked at.
//
// A Check names what was checked (`id`, from the fixed list below: the metric label), for
// which sending domain ("" for the relay itself), optionally one subject inside it (a DKIM
// selector, an address, a listener), its status, one line of evidence (what was seen) and,
// for warn and fail, the fix: the exact record to publish or setting to change.
//
// Check ids: dkim, spf, dmarc, mx, mta_sts, tls_rpt, dnssec (per domain); fcrdns,
// certificate, port25, smarthost (the relay host). The set is fixed so that the metric
// signpost_doctor_check{check,domain} has bounded labels.
//
// Pure data; no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace signpost::doctor {

enum class Status { ok, warn, fail, skipped };
const char* to_string(Status s);  // "ok", "warn", "fail", "skipped"
// ok < skipped < warn < fail: the worse of two statuses.
Status worse(Status a, Status b);

struct Check {
    std::string id;
    std::string domain;   // "" for relay-host checks
    std::string subject;  // optional: selector, address, listener
    Status status = Status::skipped;
    std::string evidence;  // one line: what was seen
    std::string fix;       // for warn/fail: what to publish or change (may hold newlines)
};

Check make_check(std::string_view id, std::string_view domain, std::string_view subject, Status status,
                 std::string evidence, std::string fix = {});

struct Report {
    std::vector<Check> checks;
    // True when any check failed (the exit status of `signpost doctor`).
    bool failed() const;
};

}  // namespace signpost::doctor
