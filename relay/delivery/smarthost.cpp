// relay/delivery/smarthost.cpp — delivery through one configured relay (see smarthost.hpp).
#include "relay/delivery/smarthost.hpp"

#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/sinks/null_sink.h>

#include "relay/delivery/cert_pin.hpp"
#include "relay/delivery/dane_lookup.hpp"
#include "relay/delivery/results.hpp"
#include "relay/smtp/sasl.hpp"

namespace signpost::delivery {
namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::chrono::seconds resolve_timeout{30};
// How long the smarthost's addresses are used without asking the resolver again. The
// system resolver gives no TTL; a minute keeps a DNS or /etc/hosts change visible soon
// while sparing each message a lookup (and a hop to Asio's resolver thread).
constexpr std::chrono::seconds address_cache_time{60};
constexpr std::size_t max_credentials_file = 4096;

}  // namespace

std::optional<Credentials> read_credentials_file(const std::filesystem::path& path, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "smarthost credentials file " + path.string() + ": cannot be read";
        return std::nullopt;
    }
    std::string text(max_credentials_file + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    auto malformed = [&](const std::string& why) {
        smtp::secure_clear(text);
        error = "smarthost credentials file " + path.string() + ": " + why + " (expected one line user:password)";
        return std::nullopt;
    };
    if (text.size() > max_credentials_file) return malformed("longer than 4096 octets");
    if (!text.empty() && text.back() == '\n') text.pop_back();
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_of("\r\n") != std::string::npos) return malformed("more than one line");
    if (text.find('\0') != std::string::npos) return malformed("a NUL octet");
    const auto colon = text.find(':');
    if (colon == std::string::npos) return malformed("no ':'");
    Credentials c;
    c.user = text.substr(0, colon);
    c.password = text.substr(colon + 1);
    smtp::secure_clear(text);
    if (c.user.empty()) return malformed("empty user name");
    if (c.password.empty()) return malformed("empty password");
    return c;
}

struct SmarthostDeliverer::Impl : std::enable_shared_from_this<SmarthostDeliverer::Impl> {
    asio::any_io_executor io;
    log::Logger logger;
    config::Endpoint smarthost;
    SessionOptions base;  // base.pool: the deliverer's ConnectionPool
    std::size_t max_sessions = 20;
    std::function<void(const SessionAttempt&)> on_attempt;  // set before the first job
    std::shared_ptr<dns::Resolver> dane_resolver;          // use_dane(); set before the first job

    mutable std::mutex mutex;
    std::size_t active = 0;
    std::deque<std::pair<Job, DoneHandler>> waiting;
    std::map<std::uint64_t, std::shared_ptr<StopSignal>> running;
    std::uint64_t next_id = 0;
    bool stopping = false;
    // The last resolution of the smarthost (guarded by `mutex`); dropped when no address
    // could be reached, so a moved smarthost is looked up again at once.
    std::vector<tcp::endpoint> cached_endpoints;
    std::chrono::steady_clock::time_point cached_until{};

    std::vector<tcp::endpoint> cached_addresses() {
        std::lock_guard lock(mutex);
        if (std::chrono::steady_clock::now() >= cached_until) cached_endpoints.clear();
        return cached_endpoints;
    }
    void cache_addresses(std::vector<tcp::endpoint> endpoints) {
        std::lock_guard lock(mutex);
        cached_endpoints = std::move(endpoints);
        cached_until = std::chrono::steady_clock::now() + address_cache_time;
    }
    void forget_addresses() {
        std::lock_guard lock(mutex);
        cached_endpoints.clear();
    }

    // Starts a job; the caller has counted it in `active` and `running`.
    void start(Job job, DoneHandler done, std::uint64_t id, std::shared_ptr<StopSignal> stop) {
        auto self = shared_from_this();
        asio::co_spawn(asio::make_strand(io), run(std::move(job), stop),
                       [self, id, done = std::move(done)](std::exception_ptr e, std::vector<RecipientResult> results) {
                           // run() turns std::exceptions into results; anything else is a bug.
                           if (e) std::rethrow_exception(e);
                           done(std::move(results));
                           self->finished(id);
                       });
    }

    // A slot is free: the next waiting job, if any, takes it.
    void finished(std::uint64_t id) {
        std::unique_lock lock(mutex);
        running.erase(id);
        --active;
        if (stopping || waiting.empty()) return;
        auto [job, done] = std::move(waiting.front());
        waiting.pop_front();
        ++active;
        const std::uint64_t next = next_id++;
        auto stop = std::make_shared<StopSignal>();
        running[next] = stop;
        lock.unlock();
        start(std::move(job), std::move(done), next, std::move(stop));
    }

    awaitable<std::vector<RecipientResult>> run(Job job, std::shared_ptr<StopSignal> stop) {
        auto log = log::with_id(logger, job.queue_id.empty() ? "-" : job.queue_id);
        std::vector<RecipientResult> results;
        const char* last_dane_failure = "";  // DANE refused the smarthost: the metric label
        try {
            results = co_await attempt(job, stop, log, last_dane_failure);
        } catch (const std::exception& e) {
            // Not a network or protocol failure (those are results): a bug or no memory.
            // Keep the message: temporary.
            log->error("smarthost delivery aborted: {}", e.what());
            results = results_for_all(job, Outcome::temporary, "4.3.0", std::string("internal error: ") + e.what());
        }
        log_results(log, results);
        if (on_attempt && !stop->stopped() && !results.empty())
            on_attempt(SessionAttempt{"smarthost", result_label(results.front().outcome), false, last_dane_failure});
        co_return results;
    }

    // DANE: the addresses and TLSA records from the validating resolver; the sessions check
    // the chain against them. Anything short of usable signed records defers.
    awaitable<std::vector<RecipientResult>> attempt_dane(const Job& job, std::shared_ptr<StopSignal> stop,
                                                         log::Logger log, const char*& last_dane_failure) {
        const std::string& host = smarthost.host;
        dns::AddressAnswer v6 = co_await dane_resolver->aaaa(host);
        dns::AddressAnswer v4 = co_await dane_resolver->a(host);
        std::vector<asio::ip::address> addresses;
        for (const auto* a : {&v6, &v4})
            if (a->status == dns::Status::ok) addresses.insert(addresses.end(), a->addresses.begin(), a->addresses.end());
        HostDane dane;
        if (!addresses.empty()) dane = co_await lookup_dane(*dane_resolver, host, smarthost.port, v6, v4);
        if (dane.kind != HostDane::Kind::usable) {
            // No `?:` over std::string temporaries in coroutines: GCC 12 destroys them twice.
            std::string why = dane.why;
            if (addresses.empty()) why = "no address for " + host;
            if (dane.kind == HostDane::Kind::unusable_only) why = "no usable TLSA record at " + dane.tlsa_name;
            log->warn("smarthost {}: DANE required ([delivery] smarthost_dane) but {}", host, why);
            last_dane_failure = addresses.empty() ? "" : dane.kind == HostDane::Kind::failed ? dane.failure : "dane-required";
            co_return results_for_all(job, Outcome::temporary, "4.7.5",
                                      "smarthost " + host + ": DANE required but " + why);
        }
        SessionResult last;
        bool attempted = false;
        for (std::size_t i = 0; i < addresses.size() && !stop->stopped(); ++i) {
            SessionOptions options = base;
            options.logger = log;
            options.tls = TlsPolicy::dane;
            options.pinned_sha256.clear();  // DANE decides alone (smarthost.hpp)
            options.tlsa = dane.records;
            options.dane_names = dane.names;
            SessionTarget target{tcp::endpoint(addresses[i], smarthost.port), host};
            last = co_await run_smtp_session(job, target, options, stop);
            attempted = true;
            last_dane_failure = last.dane_failure;
            std::string verification = last.verification;
            if (verification.empty()) verification = "-";
            log->info("smarthost {}: TLS {}, certificate {}", last.remote_host, last.tls, verification);
            if (!last.try_next) break;
        }
        if (!attempted) co_return results_for_all(job, Outcome::temporary, "4.3.0", "delivery stopped");
        co_return std::move(last.recipients);
    }

    // The smarthost's addresses from the system resolver, with a deadline of our own and
    // cancellable by stop(); empty with `why` set when there are none.
    awaitable<std::vector<tcp::endpoint>> resolve(std::shared_ptr<StopSignal> stop, std::string& why) {
        auto ex = co_await asio::this_coro::executor;
        auto resolver = std::make_shared<tcp::resolver>(ex);
        auto timer = std::make_shared<asio::steady_timer>(ex, resolve_timeout);
        auto resolve_timed_out = std::make_shared<bool>(false);
        timer->async_wait([resolver, resolve_timed_out](error_code ec) {
            if (ec) return;
            *resolve_timed_out = true;
            resolver->cancel();
        });
        stop->set_handler([resolver, ex] { asio::post(ex, [resolver] { resolver->cancel(); }); });
        error_code ec;
        auto results = co_await resolver->async_resolve(smarthost.host, std::to_string(smarthost.port),
                                                        asio::redirect_error(asio::use_awaitable, ec));
        timer->cancel();
        stop->clear_handler();
        std::vector<tcp::endpoint> endpoints;
        if (!ec)
            for (const auto& r : results) endpoints.push_back(r.endpoint());
        if (*resolve_timed_out) why = "timeout";
        else if (ec) why = ec.message();
        else if (endpoints.empty()) why = "no addresses";
        co_return endpoints;
    }

    awaitable<std::vector<RecipientResult>> attempt(const Job& job, std::shared_ptr<StopSignal> stop,
                                                    log::Logger log, const char*& dane_failure) {
        if (dane_resolver) {
            auto r = co_await attempt_dane(job, stop, log, dane_failure);
            co_return r;
        }
        const std::string& host = smarthost.host;
        std::vector<tcp::endpoint> endpoints = cached_addresses();
        if (endpoints.empty()) {
            std::string why;
            endpoints = co_await resolve(stop, why);
            if (stop->stopped()) co_return results_for_all(job, Outcome::temporary, "4.3.0", "delivery stopped");
            if (endpoints.empty()) {
                log->warn("cannot resolve smarthost {}: {}", host, why);
                co_return results_for_all(job, Outcome::temporary, "4.4.3", "cannot resolve smarthost " + host + ": " + why);
            }
            cache_addresses(endpoints);
        }

        SessionResult last;
        bool attempted = false;
        for (std::size_t i = 0; i < endpoints.size(); ++i) {
            if (stop->stopped()) break;
            SessionOptions options = base;
            options.logger = log;
            SessionTarget target{endpoints[i], host};
            last = co_await run_smtp_session(job, target, options, stop);
            attempted = true;
            if (!last.try_next || i + 1 == endpoints.size()) break;
            log->info("{} failed ({}); trying the next address", last.remote_host,
                      last.recipients.empty() ? std::string() : last.recipients.front().text);
        }
        if (attempted && last.try_next) forget_addresses();  // none answered: look up again next time
        if (!attempted) co_return results_for_all(job, Outcome::temporary, "4.3.0", "delivery stopped");
        co_return std::move(last.recipients);
    }
};

SmarthostDeliverer::SmarthostDeliverer(const config::DeliveryConfig& delivery, std::string helo_name,
                                       asio::any_io_executor io, log::Logger logger, std::size_t max_sessions,
                                       SessionTimeouts timeouts, ConnectionPool::Limits pool_limits)
    : impl_(std::make_shared<Impl>()) {
    if (!delivery.smarthost) throw std::runtime_error("delivery.smarthost: required when delivery.mode = \"smarthost\"");
    impl_->io = std::move(io);
    impl_->logger = logger ? std::move(logger) : log::make_root(std::make_shared<spdlog::sinks::null_sink_mt>(), config::LogFormat::text,
                                                                  config::LogLevel::off);
    impl_->smarthost = *delivery.smarthost;
    impl_->max_sessions = max_sessions == 0 ? 1 : max_sessions;

    std::string error;
    SessionOptions& o = impl_->base;
    o.helo_name = std::move(helo_name);
    // A smarthost is ours: its certificate is always verified.
    o.tls = TlsPolicy::required_verified;
    o.implicit_tls = delivery.smarthost_tls == config::TlsMode::implicit;
    o.tls_context = make_client_tls_context(delivery.extra_ca_file, error);
    if (!o.tls_context) throw std::runtime_error("delivery.extra_ca_file: " + error);
    if (!delivery.smarthost_credentials_file.empty()) {
        o.credentials = read_credentials_file(delivery.smarthost_credentials_file, error);
        if (!o.credentials) throw std::runtime_error("delivery.smarthost_credentials_file: " + error);
    }
    o.timeouts = timeouts;
    // Its own strand: the pool's expiry timer and QUITs never run beside each other.
    o.pool = ConnectionPool::make(asio::make_strand(impl_->io), pool_limits, impl_->logger);
}

SmarthostDeliverer::~SmarthostDeliverer() { stop(); }

void SmarthostDeliverer::use_dane(std::shared_ptr<dns::Resolver> resolver) { impl_->dane_resolver = std::move(resolver); }

void SmarthostDeliverer::pin_certificate(const std::string& sha256) {
    auto pin = normalize_sha256_pin(sha256);
    if (!pin) throw std::runtime_error("certificate pin: not a SHA-256 fingerprint (64 hex digits)");
    impl_->base.pinned_sha256 = std::move(*pin);
}

void SmarthostDeliverer::on_attempt(std::function<void(const SessionAttempt&)> observer) {
    impl_->on_attempt = std::move(observer);
}

void SmarthostDeliverer::deliver(Job job, DoneHandler done) {
    std::unique_lock lock(impl_->mutex);
    if (impl_->stopping) {
        lock.unlock();
        done(results_for_all(job, Outcome::temporary, "4.3.0", "delivery stopped"));
        return;
    }
    if (impl_->active >= impl_->max_sessions) {
        impl_->waiting.emplace_back(std::move(job), std::move(done));
        return;
    }
    ++impl_->active;
    const std::uint64_t id = impl_->next_id++;
    auto stop = std::make_shared<StopSignal>();
    impl_->running[id] = stop;
    lock.unlock();
    impl_->start(std::move(job), std::move(done), id, std::move(stop));
}

void SmarthostDeliverer::stop() {
    std::deque<std::pair<Job, DoneHandler>> waiting;
    std::vector<std::shared_ptr<StopSignal>> running;
    {
        std::lock_guard lock(impl_->mutex);
        impl_->stopping = true;
        waiting.swap(impl_->waiting);
        for (const auto& [id, s] : impl_->running) running.push_back(s);
    }
    for (auto& s : running) s->stop();
    impl_->base.pool->shutdown();
    for (auto& [job, done] : waiting) done(results_for_all(job, Outcome::temporary, "4.3.0", "delivery stopped"));
}

std::size_t SmarthostDeliverer::active() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->active;
}

std::size_t SmarthostDeliverer::waiting() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->waiting.size();
}

}  // namespace signpost::delivery
