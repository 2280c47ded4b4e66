// relay/doctor/dmarc.cpp — DMARC record parsing and organizational domains (dmarc.hpp).
#include "relay/doctor/dmarc.hpp"

#include <libpsl.h>

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <memory>

namespace signpost::doctor::dmarc {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for
// `"literal" + std::string` (bug 105651).
std::string cat(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (auto p : parts) out += p;
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

std::optional<Policy> parse_policy(std::string_view v) {
    std::string l = lower(v);
    if (l == "none") return Policy::none;
    if (l == "quarantine") return Policy::quarantine;
    if (l == "reject") return Policy::reject;
    return std::nullopt;
}

std::vector<std::string> split_uris(std::string_view v) {
    std::vector<std::string> out;
    while (!v.empty()) {
        auto comma = v.find(',');
        auto item = trim(v.substr(0, comma));
        if (!item.empty()) out.emplace_back(item);
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
    }
    return out;
}

struct PslFree {
    void operator()(psl_ctx_t* p) const noexcept { psl_free(p); }
};

const psl_ctx_t* psl() {
    // psl_latest(nullptr): the newer of the built-in list and the system's file.
    static const std::unique_ptr<psl_ctx_t, PslFree> ctx(psl_latest(nullptr));
    return ctx ? ctx.get() : psl_builtin();
}

}  // namespace

const char* to_string(Policy p) {
    switch (p) {
    case Policy::none: return "none";
    case Policy::quarantine: return "quarantine";
    case Policy::reject: return "reject";
    }
    return "?";
}

ParseResult parse_dmarc(std::string_view text) {
    ParseResult out;
    Record r;
    bool first = true, have_p = false, have_rua = false;
    std::string bad_p;
    while (true) {
        auto semi = text.find(';');
        auto item = trim(text.substr(0, semi));
        if (!item.empty() || first) {
            auto eq = item.find('=');
            if (eq == std::string_view::npos) {
                out.error = cat({"\"", item, "\" is not a tag=value pair"});
                return out;
            }
            std::string tag = lower(trim(item.substr(0, eq)));
            std::string_view value = trim(item.substr(eq + 1));
            if (first) {
                if (tag != "v" || value != "DMARC1") {
                    out.error = "the record must start with v=DMARC1";
                    return out;
                }
                first = false;
            } else if (tag == "p") {
                auto p = parse_policy(value);
                if (p) {
                    r.policy = *p;
                    have_p = true;
                } else {
                    bad_p = std::string(value);
                }
            } else if (tag == "sp") {
                auto p = parse_policy(value);
                if (!p) {
                    out.error = cat({"sp=", value, " is not none, quarantine or reject"});
                    return out;
                }
                r.subdomain_policy = *p;
            } else if (tag == "adkim" || tag == "aspf") {
                std::string l = lower(value);
                if (l != "r" && l != "s") {
                    out.error = cat({tag, "=", value, " is not r or s"});
                    return out;
                }
                (tag == "adkim" ? r.strict_dkim : r.strict_spf) = l == "s";
            } else if (tag == "pct") {
                int n = 0;
                bool ok = !value.empty() && value.size() <= 3 &&
                          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
                if (ok) n = std::stoi(std::string(value));
                if (!ok || n > 100) {
                    out.error = cat({"pct=", value, " is not a number from 0 to 100"});
                    return out;
                }
                r.pct = n;
            } else if (tag == "rua") {
                r.rua = split_uris(value);
                have_rua = !r.rua.empty();
            } else if (tag == "ruf") {
                r.ruf = split_uris(value);
            }
            // fo, rf, ri and unknown tags: not needed by the checks (§6.3: ignore unknown).
        }
        if (semi == std::string_view::npos) break;
        text.remove_prefix(semi + 1);
    }
    if (!have_p) {
        // §6.6.3: no valid p= but a valid rua= -> as if p=none; otherwise not a record.
        if (!have_rua) {
            out.error = bad_p.empty() ? "no p= tag (the policy is required)"
                                      : cat({"p=", bad_p, " is not none, quarantine or reject"});
            return out;
        }
        r.policy = Policy::none;
        r.policy_given = false;
    }
    out.record = std::move(r);
    return out;
}

std::vector<std::string> dmarc_records(const std::vector<std::string>& txt) {
    std::vector<std::string> out;
    for (const auto& t : txt) {
        std::string_view s = trim(t);
        // "v=DMARC1" then ";" or the end (spaces allowed around "=" and before ";").
        auto eq = s.find('=');
        if (eq == std::string_view::npos || lower(trim(s.substr(0, eq))) != "v") continue;
        std::string_view rest = trim(s.substr(eq + 1));
        if (rest.substr(0, 6) != "DMARC1") continue;
        rest = trim(rest.substr(6));
        if (rest.empty() || rest.front() == ';') out.push_back(t);
    }
    return out;
}

std::string organizational_domain(std::string_view domain) {
    std::string d = lower(domain);
    while (!d.empty() && d.back() == '.') d.pop_back();
    if (d.empty()) return d;
    const char* reg = psl_registrable_domain(psl(), d.c_str());
    if (!reg) return d;  // a public suffix itself
    return std::string(reg);
}

bool aligned(std::string_view a, std::string_view b, bool strict) {
    std::string x = lower(a), y = lower(b);
    while (!x.empty() && x.back() == '.') x.pop_back();
    while (!y.empty() && y.back() == '.') y.pop_back();
    if (x == y) return true;
    if (strict) return false;
    return organizational_domain(x) == organizational_domain(y);
}

}  // namespace signpost::doctor::dmarc
