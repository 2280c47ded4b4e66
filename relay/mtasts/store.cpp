// relay/mtasts/store.cpp — the PolicyStore: discovery, fetch, memory and file cache,
// background refresh (contract in mtasts.hpp, decisions and file format in store.hpp).
//
// Shape: lookup() hops onto the store's strand (co_spawn) and runs resolve() there.
// resolve() joins the domain's flight when one is under way or starts one (its own
// coroutine, run_flight(), so cancelling one caller never fails the others) and waits for
// it: a steady_timer that never expires is the "done" signal, the flight cancels it. A
// flight runs discover(): TXT query, then cached policy, fetch or nothing. Fetches run on
// the io executor, so several domains fetch in parallel; results come back to the strand.
#include "relay/mtasts/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/sinks/null_sink.h>

namespace signpost::mtasts {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::awaitable;
using asio::use_awaitable;
using SysClock = std::chrono::system_clock;

constexpr std::string_view kMagic = "signpost-mta-sts-cache 1";
constexpr std::string_view kSuffix = ".policy";
constexpr std::size_t kMaxBody = 64 * 1024;
constexpr std::size_t kMaxCacheFile = kMaxBody + 1024;
constexpr std::chrono::hours kStaleTemp{1};  // a temp file older than this is a crash's leftover

log::Logger null_logger() {
    static const log::Logger logger =
        std::make_shared<spdlog::logger>("mta-sts-null", std::make_shared<spdlog::sinks::null_sink_mt>());
    return logger;
}

std::string normalize(std::string domain) {
    for (char& c : domain)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (!domain.empty() && domain.back() == '.') domain.pop_back();
    return domain;
}

// §3.1: "records that do not begin with 'v=STSv1;' are discarded". The ABNF allows
// whitespace before the ";", so "v=STSv1 ;" begins a record too, "v=STSv10;" does not.
bool begins_sts_record(std::string_view r) {
    constexpr std::string_view v = "v=STSv1";
    return r.starts_with(v) && (r.size() == v.size() || r[v.size()] == ';' || r[v.size()] == ' ' || r[v.size()] == '\t');
}

struct TxtOutcome {
    std::optional<std::string> id;
    std::string problem;  // when no id: why there is no valid record
};

TxtOutcome read_txt(const dns::TxtRecords& answer, const std::string& name) {
    TxtOutcome out;
    switch (answer.status) {
        case dns::Status::ok: break;
        case dns::Status::nxdomain: out.problem = "no " + name + " TXT record (NXDOMAIN)"; return out;
        case dns::Status::servfail:
        case dns::Status::timeout:
            out.problem = "TXT lookup of " + name + " failed: " +
                          (answer.why.empty() ? (answer.status == dns::Status::timeout ? "timeout" : "SERVFAIL") : answer.why);
            return out;
    }
    const std::string* record = nullptr;
    std::size_t count = 0;
    for (const auto& r : answer.records) {
        if (!begins_sts_record(r)) continue;
        ++count;
        record = &r;
    }
    if (count == 0) {
        out.problem = "no " + name + " TXT record beginning with \"v=STSv1\"";
    } else if (count > 1) {
        out.problem = std::to_string(count) + " TXT records at " + name +
                      " begin with \"v=STSv1\" (RFC 8461 §3.1: then there is no valid record)";
    } else {
        std::string error;
        out.id = parse_txt_record(*record, error);
        if (!out.id) out.problem = "invalid TXT record at " + name + ": " + error;
    }
    return out;
}

std::string describe(const Policy& p) {
    return std::string("mode ") + to_string(p.mode) + ", " + std::to_string(p.mx.size()) + " mx, max_age " +
           std::to_string(p.max_age) + ", id " + p.id;
}

std::error_code last_error() { return {errno, std::generic_category()}; }

// Temp file in the same directory -> fsync -> rename -> fsync the directory (STYLE.md
// habit 6). The temp name is unique per process and call, so two stores never collide.
std::error_code write_file_atomic(const fs::path& path, std::string_view data) {
    static std::atomic<unsigned> counter{0};
    const fs::path dir = path.parent_path();
    const fs::path tmp = dir / ("." + path.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                                std::to_string(counter.fetch_add(1)));
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return last_error();
    std::error_code ec;
    std::size_t done = 0;
    while (!ec && done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno != EINTR) ec = last_error();
        } else {
            done += static_cast<std::size_t>(n);
        }
    }
    if (!ec && ::fsync(fd) != 0) ec = last_error();
    if (::close(fd) != 0 && !ec) ec = last_error();
    if (!ec && ::rename(tmp.c_str(), path.c_str()) != 0) ec = last_error();
    if (ec) {
        ::unlink(tmp.c_str());
        return ec;
    }
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return last_error();
    if (::fsync(dfd) != 0) ec = last_error();
    ::close(dfd);
    return ec;
}

std::optional<std::uint64_t> parse_number(std::string_view s, std::size_t max_digits) {
    if (s.empty() || s.size() > max_digits) return std::nullopt;
    std::uint64_t n = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

// --- [mta_sts] enabled = false -------------------------------------------------------------

class DisabledStore final : public PolicyStore {
public:
    awaitable<Lookup> lookup(std::string) override {
        Lookup r;
        r.detail = "MTA-STS is disabled ([mta_sts] enabled = false)";
        co_return r;
    }
    std::optional<Policy> cached(const std::string&) const override { return std::nullopt; }
};

// --- the store -------------------------------------------------------------------------------

class StoreImpl final : public PolicyStore, public std::enable_shared_from_this<StoreImpl> {
public:
    StoreImpl(asio::any_io_executor io, std::shared_ptr<dns::Resolver> resolver, fs::path dir, StoreOptions options)
        : io_(io),
          strand_(asio::make_strand(io)),
          resolver_(std::move(resolver)),
          dir_(std::move(dir)),
          opt_(std::move(options)),
          log_(opt_.logger ? opt_.logger : null_logger()) {
        if (!opt_.clock) opt_.clock = [] { return SysClock::now(); };
    }

    void load();

    awaitable<Lookup> lookup(std::string domain) override {
        auto self = shared_from_this();
        Lookup r = co_await asio::co_spawn(strand_, self->resolve(std::move(domain)), use_awaitable);
        co_return r;
    }

    std::optional<Policy> cached(const std::string& domain) const override { return held(normalize(domain)); }

private:
    // Concurrent lookups of one domain wait for the first one's result.
    struct Flight {
        explicit Flight(const asio::any_io_executor& ex) : done(ex, asio::steady_timer::time_point::max()) {}
        asio::steady_timer done;
        bool finished = false;
        Lookup result;
        std::exception_ptr error;
    };
    struct RefreshState {
        bool running = false;
        bool tried = false;
        std::chrono::steady_clock::time_point last{};
    };

    awaitable<Lookup> resolve(std::string domain);
    static awaitable<void> run_flight(std::shared_ptr<StoreImpl> self, std::string domain,
                                      std::shared_ptr<Flight> flight);
    awaitable<Lookup> discover(const std::string& domain);
    // Counts one fetch for StoreEvents: `policy` is what the body parsed to.
    void count_fetch(const FetchResult& f, const std::optional<Policy>& policy) const {
        if (opt_.events.fetch) opt_.events.fetch(!f.ok ? "fetch_failed" : policy ? "fetched" : "invalid_policy");
    }
    awaitable<FetchResult> fetch(const std::string& domain) {
        FetchResult r = co_await asio::co_spawn(io_, opt_.fetcher->fetch(domain), use_awaitable);
        co_return r;
    }
    void maybe_refresh(const std::string& domain, const Policy& held, SysClock::time_point now);
    static awaitable<void> refresh(std::shared_ptr<StoreImpl> self, std::string domain, std::string id);

    std::optional<Policy> held(const std::string& domain) const {
        std::lock_guard lock(mutex_);
        auto it = memory_.find(domain);
        if (it == memory_.end()) return std::nullopt;
        return it->second;
    }
    // Keeps a fetched policy in memory and on disk (a write failure is logged; the policy
    // is still used from memory).
    void keep(const std::string& domain, const Policy& policy, std::string_view body);
    fs::path file_of(const std::string& domain) const { return dir_ / (domain + std::string(kSuffix)); }

    // The Lookup for a policy that is in force: mode none puts no policy in force.
    static Lookup in_force(const Policy& p, Lookup::Source source, std::string detail) {
        Lookup r;
        r.source = source;
        r.detail = std::move(detail);
        if (p.mode == Mode::none) {
            if (!r.detail.empty()) r.detail += "; ";
            r.detail += "policy mode none: no MTA-STS policy applies";
        } else {
            r.policy = p;
        }
        return r;
    }

    asio::any_io_executor io_;
    asio::strand<asio::any_io_executor> strand_;
    std::shared_ptr<dns::Resolver> resolver_;
    fs::path dir_;
    StoreOptions opt_;
    log::Logger log_;

    mutable std::mutex mutex_;
    std::map<std::string, Policy> memory_;  // guarded by mutex_

    // On the strand only.
    std::map<std::string, std::shared_ptr<Flight>> flights_;
    std::map<std::string, RefreshState> refreshes_;
};

void StoreImpl::load() {
    std::error_code ec;
    fs::directory_iterator it(dir_, ec);
    if (ec) throw std::runtime_error("mta_sts.cache_dir: cannot read " + dir_.string() + ": " + ec.message());
    const auto now = opt_.clock();
    std::size_t loaded = 0;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) break;
        const fs::path path = it->path();
        const std::string name = path.filename().string();
        if (name.starts_with(".") && name.find(".tmp.") != std::string::npos) {
            std::error_code tec;
            const auto written = fs::last_write_time(path, tec);
            if (!tec && fs::file_time_type::clock::now() - written > kStaleTemp) fs::remove(path, tec);
            continue;
        }
        if (!name.ends_with(kSuffix)) continue;
        const std::string domain = name.substr(0, name.size() - kSuffix.size());
        if (!is_policy_domain(domain)) continue;
        std::error_code sec;
        if (!fs::is_regular_file(path, sec)) continue;
        const auto size = fs::file_size(path, sec);
        std::string error;
        std::optional<Policy> p;
        if (sec) {
            error = sec.message();
        } else if (size > kMaxCacheFile) {
            error = "larger than " + std::to_string(kMaxCacheFile) + " octets";
        } else {
            std::ifstream in(path, std::ios::binary);
            std::ostringstream text;
            text << in.rdbuf();
            if (!in) error = "cannot read it";
            else p = parse_cache_file(text.str(), domain, now, error);
        }
        if (!p) {
            log_->warn("MTA-STS cache file {} ignored: {}", path.string(), error);
            continue;
        }
        std::lock_guard lock(mutex_);
        memory_[domain] = std::move(*p);
        ++loaded;
    }
    if (ec) log_->warn("MTA-STS cache dir {}: {}", dir_.string(), ec.message());
    log_->debug("MTA-STS cache: {} policies loaded from {}", loaded, dir_.string());
    if (opt_.events.cached) opt_.events.cached(loaded);
}

awaitable<Lookup> StoreImpl::resolve(std::string domain) {
    domain = normalize(std::move(domain));
    if (!is_policy_domain(domain)) {
        Lookup r;
        r.detail = "not a valid domain name for MTA-STS";
        co_return r;
    }
    // Join the domain's flight, or start one. The flight runs in its own coroutine, so a
    // caller that is cancelled (a delivery timing out) abandons only its own wait.
    std::shared_ptr<Flight> flight;
    if (auto it = flights_.find(domain); it != flights_.end()) {
        flight = it->second;
    } else {
        flight = std::make_shared<Flight>(strand_);
        flights_.emplace(domain, flight);
        asio::co_spawn(strand_, run_flight(shared_from_this(), domain, flight), asio::detached);
    }
    while (!flight->finished) {
        boost::system::error_code ec;
        co_await flight->done.async_wait(asio::redirect_error(use_awaitable, ec));
        if (flight->finished) break;
        const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none)
            throw boost::system::system_error(asio::error::operation_aborted, "MTA-STS lookup cancelled");
    }
    if (flight->error) std::rethrow_exception(flight->error);
    co_return flight->result;
}

// One pass of discover() for a domain, shared by every lookup that joined it. Never throws:
// an exception is handed to the waiters.
awaitable<void> StoreImpl::run_flight(std::shared_ptr<StoreImpl> self, std::string domain,
                                      std::shared_ptr<Flight> flight) {
    try {
        flight->result = co_await self->discover(domain);
    } catch (...) {
        flight->error = std::current_exception();
    }
    flight->finished = true;
    self->flights_.erase(domain);
    flight->done.cancel();
}

awaitable<Lookup> StoreImpl::discover(const std::string& domain) {
    const std::optional<Policy> held_policy = held(domain);
    const bool usable = held_policy && !held_policy->expired(opt_.clock());

    // 1. Discovery (§3.1).
    const std::string name = "_mta-sts." + domain;
    const dns::TxtRecords answer = co_await resolver_->txt(name);
    const TxtOutcome txt = read_txt(answer, name);

    // 2. No valid record: a cached policy stays in force until it expires (§5.1).
    if (!txt.id) {
        if (usable) {
            log_->debug("MTA-STS {}: {}; the cached policy stays in force", domain, txt.problem);
            co_return in_force(*held_policy, Lookup::Source::cached, txt.problem + "; using the cached policy");
        }
        Lookup r;
        r.detail = txt.problem;
        if (held_policy) r.detail += " (the cached policy has expired)";
        co_return r;
    }

    // 3. The cached policy is current.
    if (usable && held_policy->id == *txt.id) {
        maybe_refresh(domain, *held_policy, opt_.clock());
        co_return in_force(*held_policy, Lookup::Source::cached, "");
    }

    // 4. Fetch (nothing cached, expired, or a new id).
    const FetchResult fetched = co_await fetch(domain);
    std::string failure;
    Lookup::Failure kind = Lookup::Failure::none;
    if (fetched.ok) {
        std::string error;
        std::optional<Policy> policy = parse_policy(fetched.body, error);
        count_fetch(fetched, policy);
        if (policy) {
            policy->id = *txt.id;
            policy->fetched = opt_.clock();
            keep(domain, *policy, fetched.body);
            log_->info("MTA-STS {}: policy fetched ({})", domain, describe(*policy));
            co_return in_force(*policy, Lookup::Source::fetched, "");
        }
        failure = "policy: " + error;
        kind = Lookup::Failure::invalid;
    } else {
        count_fetch(fetched, std::nullopt);
        failure = "fetch: " + fetched.error;
        kind = fetched.error.find("not verified") != std::string::npos ? Lookup::Failure::webpki : Lookup::Failure::fetch;
    }
    if (usable) {
        log_->warn("MTA-STS {}: {}; the cached policy (id {}) stays in force", domain, failure, held_policy->id);
        Lookup r = in_force(*held_policy, Lookup::Source::cached_after_failure, failure);
        r.failure = kind;
        co_return r;
    }
    log_->info("MTA-STS {}: {}; no policy", domain, failure);
    Lookup r;
    r.detail = failure;
    r.failure = kind;
    co_return r;
}

void StoreImpl::maybe_refresh(const std::string& domain, const Policy& held_policy, SysClock::time_point now) {
    const auto expires = held_policy.fetched + std::chrono::seconds(held_policy.max_age);
    if (expires - now > refresh_window(held_policy.max_age)) return;
    RefreshState& state = refreshes_[domain];
    const auto steady_now = std::chrono::steady_clock::now();
    if (state.running || (state.tried && steady_now - state.last < opt_.refresh_retry)) return;
    state.running = true;
    state.tried = true;
    state.last = steady_now;
    log_->debug("MTA-STS {}: the cached policy expires soon; refreshing it in the background", domain);
    asio::co_spawn(strand_, refresh(shared_from_this(), domain, held_policy.id),
                   [log = log_, domain](std::exception_ptr e) {
                       if (!e) return;
                       try {
                           std::rethrow_exception(e);
                       } catch (const std::exception& x) {
                           log->error("MTA-STS {}: background refresh: {}", domain, x.what());
                       }
                   });
}

awaitable<void> StoreImpl::refresh(std::shared_ptr<StoreImpl> self, std::string domain, std::string id) {
    struct Done {
        StoreImpl* store;
        const std::string& domain;
        ~Done() { store->refreshes_[domain].running = false; }
    } done{self.get(), domain};

    const FetchResult fetched = co_await self->fetch(domain);
    std::string error = fetched.error;
    std::optional<Policy> policy;
    if (fetched.ok) policy = parse_policy(fetched.body, error);
    self->count_fetch(fetched, policy);
    if (!policy) {
        self->log_->warn("MTA-STS {}: background refresh failed: {}{}", domain, fetched.ok ? "policy: " : "fetch: ", error);
        co_return;
    }
    self->refreshes_[domain].tried = false;  // the retry spacing applies after failures only
    policy->id = id;
    policy->fetched = self->opt_.clock();
    // A lookup may have fetched a policy under a newer id meanwhile: keep that one.
    const std::optional<Policy> current = self->held(domain);
    if (current && (current->id != id || current->fetched > policy->fetched)) co_return;
    self->keep(domain, *policy, fetched.body);
    self->log_->info("MTA-STS {}: policy refreshed ({})", domain, describe(*policy));
}

void StoreImpl::keep(const std::string& domain, const Policy& policy, std::string_view body) {
    std::size_t held_count = 0;
    {
        std::lock_guard lock(mutex_);
        memory_[domain] = policy;
        held_count = memory_.size();
    }
    if (opt_.events.cached) opt_.events.cached(held_count);
    const fs::path path = file_of(domain);
    if (auto ec = write_file_atomic(path, format_cache_file(domain, policy, body)))
        log_->warn("MTA-STS {}: cannot write the cache file {}: {} (the policy is kept in memory)", domain,
                   path.string(), ec.message());
}

}  // namespace

std::chrono::seconds refresh_window(std::uint32_t max_age) {
    const std::uint32_t tenth = max_age / 10;
    const std::uint32_t window = std::min(std::max<std::uint32_t>(tenth, 86400), max_age / 2);
    return std::chrono::seconds(window);
}

std::string format_cache_file(const std::string& domain, const Policy& policy, std::string_view body) {
    const auto fetched = std::chrono::duration_cast<std::chrono::seconds>(policy.fetched.time_since_epoch()).count();
    std::string out;
    out.reserve(body.size() + 128);
    out += kMagic;
    out += "\ndomain " + domain;
    out += "\nid " + policy.id;
    out += "\nfetched " + std::to_string(fetched);
    out += "\nbody " + std::to_string(body.size()) + "\n";
    out += body;
    out += "\nend\n";
    return out;
}

std::optional<Policy> parse_cache_file(std::string_view text, const std::string& domain,
                                       std::chrono::system_clock::time_point now, std::string& error) {
    std::size_t line_no = 0;
    // The next line's text after `prefix`, or nullopt (and `error`) when it is not there.
    const auto field = [&](std::string_view prefix) -> std::optional<std::string_view> {
        ++line_no;
        const std::size_t end = text.find('\n');
        if (end == std::string_view::npos || !text.substr(0, end).starts_with(prefix)) {
            error = "line " + std::to_string(line_no) + ": expected \"" + std::string(prefix) + "...\"";
            return std::nullopt;
        }
        std::string_view value = text.substr(prefix.size(), end - prefix.size());
        text.remove_prefix(end + 1);
        return value;
    };
    const auto magic = field(kMagic);
    if (!magic) return std::nullopt;
    if (!magic->empty()) {
        error = "unknown format version";
        return std::nullopt;
    }
    const auto file_domain = field("domain ");
    if (!file_domain) return std::nullopt;
    if (*file_domain != domain) {
        error = "written for another domain";
        return std::nullopt;
    }
    const auto id = field("id ");
    if (!id) return std::nullopt;
    std::string txt_error;
    if (!parse_txt_record("v=STSv1; id=" + std::string(*id), txt_error)) {
        error = "invalid id";
        return std::nullopt;
    }
    const auto fetched_text = field("fetched ");
    if (!fetched_text) return std::nullopt;
    const auto fetched = parse_number(*fetched_text, 12);  // far beyond any real date
    if (!fetched) {
        error = "invalid fetch time";
        return std::nullopt;
    }
    const auto size_text = field("body ");
    if (!size_text) return std::nullopt;
    const auto size = parse_number(*size_text, 6);
    if (!size || *size > kMaxBody) {
        error = "invalid body length";
        return std::nullopt;
    }
    if (text.size() != *size + 5 || text.substr(*size) != "\nend\n") {
        error = "truncated or trailing data (the body is not followed by the end line)";
        return std::nullopt;
    }
    std::optional<Policy> policy = parse_policy(text.substr(0, *size), error);
    if (!policy) {
        error = "body: " + error;
        return std::nullopt;
    }
    policy->id = std::string(*id);
    policy->fetched = SysClock::time_point(std::chrono::seconds(static_cast<std::int64_t>(*fetched)));
    if (policy->fetched > now + std::chrono::hours(24)) {
        error = "fetch time is in the future";
        return std::nullopt;
    }
    return policy;
}

std::shared_ptr<PolicyStore> make_policy_store(boost::asio::any_io_executor io, std::shared_ptr<dns::Resolver> resolver,
                                               const config::Config& config, StoreOptions options) {
    if (!config.mta_sts.enabled) return std::make_shared<DisabledStore>();
    if (!options.fetcher) throw std::invalid_argument("make_policy_store: no fetcher");
    // The loader fills the default in; a Config built in code may leave it empty.
    const fs::path dir = config.mta_sts.cache_dir.empty() ? config.queue.dir / "mta-sts" : config.mta_sts.cache_dir;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw std::runtime_error("mta_sts.cache_dir: cannot create " + dir.string() + ": " + ec.message());
    if (!fs::is_directory(dir, ec))
        throw std::runtime_error("mta_sts.cache_dir: " + dir.string() + " is not a directory");
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        throw std::runtime_error("mta_sts.cache_dir: " + dir.string() + " is not writable: " + std::strerror(errno));
    auto store = std::make_shared<StoreImpl>(io, std::move(resolver), dir, std::move(options));
    store->load();
    return store;
}

std::shared_ptr<PolicyStore> make_policy_store(boost::asio::any_io_executor io, std::shared_ptr<dns::Resolver> resolver,
                                               const config::Config& config, StoreEvents events) {
    if (!config.mta_sts.enabled) return std::make_shared<DisabledStore>();
    StoreOptions options;
    options.events = std::move(events);
    options.fetcher = make_https_fetcher(resolver, fetch_options(config));
    options.logger = log::with_id(log::make_root(config.log.format, config.log.level), "mta-sts");
    return make_policy_store(io, std::move(resolver), config, std::move(options));
}

}  // namespace signpost::mtasts
