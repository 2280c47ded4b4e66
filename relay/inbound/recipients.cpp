// relay/inbound/recipients.cpp — the MX listener's recipient directory (see recipients.hpp).
#include "relay/inbound/recipients.hpp"

#include <fstream>
#include <sstream>

#include "relay/inbound/text.hpp"

namespace signpost::inbound {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

}  // namespace

RecipientDirectory::RecipientDirectory(const std::vector<config::InboundConfig>& entries) {
    for (const auto& e : entries) {
        Domain d;
        d.any = e.any_recipient;
        for (const auto& r : e.recipients) add_entry(d, e.domain, r);
        domains_.emplace_back(ascii_lower(e.domain), std::move(d));
    }
}

std::shared_ptr<const RecipientDirectory> RecipientDirectory::load(const config::Config& config, std::string& error) {
    auto dir = std::make_shared<RecipientDirectory>(config.inbound);
    for (const auto& e : config.inbound) {
        if (e.recipients_file.empty()) continue;
        std::ifstream in(e.recipients_file, std::ios::binary);
        if (!in) {
            error = e.recipients_file.string() + ": cannot be read";
            return nullptr;
        }
        std::stringstream text;
        text << in.rdbuf();
        if (std::string problem = dir->add_file_text(e.domain, text.str()); !problem.empty()) {
            error = e.recipients_file.string() + ":" + problem;
            return nullptr;
        }
    }
    return dir;
}

bool RecipientDirectory::add_entry(Domain& d, const std::string& domain, std::string_view entry) {
    std::string e = ascii_lower(entry);
    if (auto at = e.rfind('@'); at != std::string::npos) {
        if (e.substr(at + 1) != ascii_lower(domain)) return false;
        e.resize(at);
    }
    if (e.empty() || e.find_first_of(" \t<>@") != std::string::npos) return false;
    d.locals.insert(std::move(e));
    return true;
}

std::string RecipientDirectory::add_file_text(const std::string& domain, std::string_view text) {
    Domain* d = nullptr;
    for (auto& [name, entry] : domains_)
        if (name == ascii_lower(domain)) d = &entry;
    if (!d) return " " + domain + " is not an [[inbound]] domain";
    std::size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        line = trim(line);
        if (line.empty()) continue;
        if (!add_entry(*d, domain, line))
            return std::to_string(line_no) + ": \"" + std::string(line) +
                   "\" is not a local part or an address at " + domain;
    }
    return {};
}

const RecipientDirectory::Domain* RecipientDirectory::find(std::string_view domain) const {
    const std::string name = ascii_lower(domain);
    for (const auto& [n, d] : domains_)
        if (n == name) return &d;
    return nullptr;
}

RecipientVerdict RecipientDirectory::check(std::string_view address) const {
    const auto at = address.rfind('@');
    if (at == std::string_view::npos) return RecipientVerdict::foreign_domain;  // no domain: not ours
    const Domain* d = find(address.substr(at + 1));
    if (!d) return RecipientVerdict::foreign_domain;
    if (d->any) return RecipientVerdict::accepted;
    std::string local = ascii_lower(address.substr(0, at));
    if (d->locals.count(local)) return RecipientVerdict::accepted;
    // Sub-addressing: "alice+tag" is alice's (a '+' at the start is no user's).
    if (auto plus = local.find('+'); plus != std::string::npos && plus > 0 && d->locals.count(local.substr(0, plus)))
        return RecipientVerdict::accepted;
    return RecipientVerdict::unknown_user;
}

std::string RecipientDirectory::domain_of(std::string_view address) const {
    const auto at = address.rfind('@');
    if (at == std::string_view::npos || !find(address.substr(at + 1))) return {};
    return ascii_lower(address.substr(at + 1));
}

}  // namespace signpost::inbound
