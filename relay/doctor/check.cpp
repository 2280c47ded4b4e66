// relay/doctor/check.cpp — the report model (see check.hpp).
#include "relay/doctor/check.hpp"

namespace signpost::doctor {

const char* to_string(Status s) {
    switch (s) {
    case Status::ok: return "ok";
    case Status::warn: return "warn";
    case Status::fail: return "fail";
    case Status::skipped: return "skipped";
    }
    return "?";
}

namespace {
int rank(Status s) {
    switch (s) {
    case Status::ok: return 0;
    case Status::skipped: return 1;
    case Status::warn: return 2;
    case Status::fail: return 3;
    }
    return 3;
}
}  // namespace

Status worse(Status a, Status b) { return rank(a) >= rank(b) ? a : b; }

Check make_check(std::string_view id, std::string_view domain, std::string_view subject, Status status,
                 std::string evidence, std::string fix) {
    Check c;
    c.id = id;
    c.domain = domain;
    c.subject = subject;
    c.status = status;
    c.evidence = std::move(evidence);
    c.fix = std::move(fix);
    return c;
}

bool Report::failed() const {
    for (const auto& c : checks)
        if (c.status == Status::fail) return true;
    return false;
}

}  // namespace signpost::doctor
