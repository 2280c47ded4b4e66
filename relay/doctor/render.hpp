// relay/doctor/render.hpp — `signpost doctor` output, and the per-check summary the daemon
// exports.
//
// Text: one block per domain (then the relay host), one line per check: status, check id,
// subject, evidence; the fix indented under warn and fail lines; a summary line last.
// JSON (`--json`, schema version 1, documented in the README):
//   {"version": 1, "ok": <bool: nothing failed>,
//    "summary": {"ok": n, "warn": n, "fail": n, "skipped": n},
//    "checks": [{"check": id, "domain": d or "", "subject": s or "", "status": "ok" |
//                "warn" | "fail" | "skipped", "evidence": text, "fix": text or ""}, ...]}
// Members are never removed or renamed within a version; new ones may be added.
//
// Pure functions.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "relay/doctor/check.hpp"

namespace signpost::doctor {

std::string render_text(const Report& report);
std::string render_json(const Report& report);

// The worst status of each (check id, domain) pair: the metric's label set.
std::map<std::pair<std::string, std::string>, Status> worst_by_check(const Report& report);

// The metric value of a status: 0 ok, 1 warn, 2 fail; skipped is -1 (no verdict).
double metric_value(Status s);

}  // namespace signpost::doctor
