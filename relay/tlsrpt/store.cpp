// relay/tlsrpt/store.cpp — the TLS-RPT event files (see store.hpp).
#include "relay/tlsrpt/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

#include <boost/json.hpp>

#include "relay/tlsrpt/report.hpp"

namespace signpost::tlsrpt {
namespace {

namespace json = boost::json;

json::array strings(const std::vector<std::string>& v) {
    json::array a;
    for (const auto& s : v) a.emplace_back(s);
    return a;
}

bool read_strings(const json::object& o, const char* key, std::vector<std::string>& out) {
    const json::value* v = o.if_contains(key);
    if (!v) return true;
    if (!v->is_array()) return false;
    for (const auto& s : v->as_array()) {
        if (!s.is_string()) return false;
        out.emplace_back(s.as_string());
    }
    return true;
}

bool read_string(const json::object& o, const char* key, std::string& out) {
    const json::value* v = o.if_contains(key);
    if (!v) return true;
    if (!v->is_string()) return false;
    out = std::string(v->as_string());
    return true;
}

std::error_code write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return {errno, std::generic_category()};
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

bool is_day(const std::string& s) {
    return s.size() == 10 && s[4] == '-' && s[7] == '-' &&
           std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '-'; });
}

}  // namespace

std::string encode_event(const SessionEvent& e) {
    json::object o;
    o["type"] = to_string(e.policy.type);
    o["domain"] = e.policy.domain;
    if (!e.policy.strings.empty()) o["strings"] = strings(e.policy.strings);
    if (!e.policy.mx_host.empty()) o["mx"] = strings(e.policy.mx_host);
    o["ok"] = e.success;
    if (!e.success) o["result"] = to_string(e.result);
    if (!e.sending_mta_ip.empty()) o["sip"] = e.sending_mta_ip;
    if (!e.receiving_mx_hostname.empty()) o["host"] = e.receiving_mx_hostname;
    if (!e.receiving_ip.empty()) o["rip"] = e.receiving_ip;
    if (!e.additional_information.empty()) o["info"] = e.additional_information;
    if (!e.failure_reason_code.empty()) o["code"] = e.failure_reason_code;
    return json::serialize(o);
}

std::optional<SessionEvent> decode_event(std::string_view line) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const json::object& o = v.as_object();
    SessionEvent e;
    const json::value* type = o.if_contains("type");
    const json::value* ok = o.if_contains("ok");
    if (!type || !type->is_string() || !ok || !ok->is_bool()) return std::nullopt;
    auto t = policy_type_from(std::string_view(type->as_string()));
    if (!t) return std::nullopt;
    e.policy.type = *t;
    e.success = ok->as_bool();
    if (!read_string(o, "domain", e.policy.domain) || e.policy.domain.empty()) return std::nullopt;
    if (!read_strings(o, "strings", e.policy.strings) || !read_strings(o, "mx", e.policy.mx_host)) return std::nullopt;
    if (!e.success) {
        std::string r;
        if (!read_string(o, "result", r)) return std::nullopt;
        auto rt = result_type_from(r);
        if (!rt) return std::nullopt;
        e.result = *rt;
    }
    if (!read_string(o, "sip", e.sending_mta_ip) || !read_string(o, "host", e.receiving_mx_hostname) ||
        !read_string(o, "rip", e.receiving_ip) || !read_string(o, "info", e.additional_information) ||
        !read_string(o, "code", e.failure_reason_code))
        return std::nullopt;
    return e;
}

Store::Store(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) throw std::system_error(ec, "creating " + dir_.string());
    ::chmod(dir_.c_str(), 0700);
}

Store::~Store() {
    if (fd_ >= 0) {
        ::fdatasync(fd_);
        ::close(fd_);
    }
}

std::error_code Store::record(const SessionEvent& e, std::chrono::system_clock::time_point now) {
    auto day = day_of(now);
    if (!day) return std::make_error_code(std::errc::invalid_argument);
    std::string line = encode_event(e);
    line.push_back('\n');
    std::lock_guard lk(mu_);
    if (fd_ < 0 || day_ != *day) {
        if (fd_ >= 0) {
            ::fdatasync(fd_);
            ::close(fd_);
            fd_ = -1;
        }
        const std::filesystem::path path = dir_ / (*day + ".events");
        const bool created = !std::filesystem::exists(path);
        fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd_ < 0) return {errno, std::generic_category()};
        day_ = *day;
        if (created) {  // the new file's name must survive a power loss too
            int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                ::fsync(dfd);
                ::close(dfd);
            }
        }
    }
    if (auto ec = write_all(fd_, line)) return ec;
    const auto t = std::chrono::steady_clock::now();
    if (t - last_sync_ >= std::chrono::seconds(1)) {
        last_sync_ = t;
        if (::fdatasync(fd_) != 0) return {errno, std::generic_category()};
    }
    return {};
}

std::vector<PolicyCounts> Store::load_day(const std::string& day, std::size_t* bad_lines) const {
    std::vector<PolicyCounts> out;
    std::size_t bad = 0;
    std::ifstream in(dir_ / (day + ".events"), std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        if (auto e = decode_event(line)) add(out, *e);
        else ++bad;
    }
    if (bad_lines) *bad_lines = bad;
    return out;
}

std::vector<std::string> Store::days() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.size() == 17 && name.ends_with(".events") && is_day(name.substr(0, 10))) out.push_back(name.substr(0, 10));
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::set<std::string> Store::sent(const std::string& day) const {
    std::set<std::string> out;
    std::ifstream in(dir_ / (day + ".sent"));
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.insert(line);
    return out;
}

std::error_code Store::mark_sent(const std::string& day, const std::string& domain) {
    std::lock_guard lk(mu_);
    const std::filesystem::path path = dir_ / (day + ".sent");
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return {errno, std::generic_category()};
    std::error_code ec = write_all(fd, domain + "\n");
    if (!ec && ::fdatasync(fd) != 0) ec = {errno, std::generic_category()};
    ::close(fd);
    return ec;
}

void Store::prune(const std::string& oldest_kept) {
    std::lock_guard lk(mu_);
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.size() < 10 || !is_day(name.substr(0, 10)) || name.substr(0, 10) >= oldest_kept) continue;
        if (name.substr(0, 10) == day_ && fd_ >= 0) continue;
        std::filesystem::remove(entry.path(), ec);
    }
}

}  // namespace signpost::tlsrpt
