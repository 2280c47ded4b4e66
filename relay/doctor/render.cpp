// relay/doctor/render.cpp — text and JSON output (see render.hpp).
#include "relay/doctor/render.hpp"

#include <boost/json.hpp>

namespace signpost::doctor {
namespace {

const char* label(Status s) {
    switch (s) {
    case Status::ok: return "ok  ";
    case Status::warn: return "WARN";
    case Status::fail: return "FAIL";
    case Status::skipped: return "skip";
    }
    return "?   ";
}

std::string pad(std::string s, std::size_t width) {
    if (s.size() < width) s.append(width - s.size(), ' ');
    return s;
}

}  // namespace

std::string render_text(const Report& report) {
    std::string out;
    std::string current = "\x01";  // no block yet
    int counts[4] = {0, 0, 0, 0};
    for (const auto& c : report.checks) {
        counts[static_cast<int>(c.status)]++;
        if (c.domain != current) {
            current = c.domain;
            if (!out.empty()) out += "\n";
            out += current.empty() ? std::string("relay host") : current;
            out += "\n";
        }
        out += "  " + std::string(label(c.status)) + "  " + pad(c.id, 12);
        if (!c.subject.empty()) out += c.subject + ": ";
        out += c.evidence + "\n";
        if ((c.status == Status::warn || c.status == Status::fail || c.status == Status::skipped) && !c.fix.empty()) {
            std::string fix = c.fix;
            std::string indent = "        fix: ";
            std::size_t start = 0;
            while (start <= fix.size()) {
                auto nl = fix.find('\n', start);
                std::string line = fix.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
                out += indent + line + "\n";
                indent = "             ";
                if (nl == std::string::npos) break;
                start = nl + 1;
            }
        }
    }
    auto plural = [](int n, const char* one, const char* many) {
        return std::to_string(n) + " " + (n == 1 ? one : many);
    };
    out += "\n" + plural(counts[0], "ok", "ok") + ", " + plural(counts[1], "warning", "warnings") + ", " +
           plural(counts[2], "failure", "failures") + ", " + std::to_string(counts[3]) + " skipped\n";
    return out;
}

std::string render_json(const Report& report) {
    boost::json::object root;
    root["version"] = 1;
    root["ok"] = !report.failed();
    boost::json::object summary{{"ok", 0}, {"warn", 0}, {"fail", 0}, {"skipped", 0}};
    boost::json::array checks;
    for (const auto& c : report.checks) {
        summary[to_string(c.status)] = summary[to_string(c.status)].as_int64() + 1;
        checks.push_back(boost::json::object{{"check", c.id},
                                             {"domain", c.domain},
                                             {"subject", c.subject},
                                             {"status", to_string(c.status)},
                                             {"evidence", c.evidence},
                                             {"fix", c.fix}});
    }
    root["summary"] = std::move(summary);
    root["checks"] = std::move(checks);
    return boost::json::serialize(root) + "\n";
}

std::map<std::pair<std::string, std::string>, Status> worst_by_check(const Report& report) {
    std::map<std::pair<std::string, std::string>, Status> out;
    for (const auto& c : report.checks) {
        auto key = std::make_pair(c.id, c.domain);
        auto it = out.find(key);
        if (it == out.end()) out.emplace(key, c.status);
        else it->second = worse(it->second, c.status);
    }
    return out;
}

double metric_value(Status s) {
    switch (s) {
    case Status::ok: return 0;
    case Status::warn: return 1;
    case Status::fail: return 2;
    case Status::skipped: return -1;
    }
    return -1;
}

}  // namespace signpost::doctor
