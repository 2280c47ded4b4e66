// relay/submission/server.cpp — listeners and the session coroutine (see server.hpp).
#include "relay/submission/server.hpp"

// GCC 12 reports a coroutine frame's own operator delete as "mismatched" with its operator
// new for the session's frames (a false positive of -Wmismatched-new-delete on awaitable
// frames, as in relay/delivery/mx.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <openssl/ssl.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <random>

#include "relay/inbound/dnsbl.hpp"
#include "relay/inbound/greylist.hpp"
#include "relay/inbound/rate.hpp"
#include "relay/inbound/recipients.hpp"
#include "relay/smtp/data_reader.hpp"
#include "relay/smtp/server.hpp"
#include "relay/submission/inbound_checks.hpp"
#include "relay/submission/tls_stream.hpp"

namespace signpost::submission {
namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

std::shared_ptr<asio::ssl::context> make_tls_context(const config::TlsConfig& tls) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, tls.min_version == config::TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    // TLS 1.2: forward-secret AEAD suites only. TLS 1.3 suites are all AEAD already.
    SSL_CTX_set_cipher_list(native, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL");
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
    // An idle session (waiting for the next command) gives its record buffers back.
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    static const unsigned char sid_ctx[] = "signpost-submission";
    SSL_CTX_set_session_id_context(native, sid_ctx, sizeof sid_ctx - 1);
    boost::system::error_code ec;
    ctx->use_certificate_chain_file(tls.cert.string(), ec);
    if (ec) throw std::runtime_error("TLS certificate " + tls.cert.string() + ": " + ec.message());
    ctx->use_private_key_file(tls.key.string(), asio::ssl::context::pem, ec);
    if (ec) throw std::runtime_error("TLS key " + tls.key.string() + ": " + ec.message());
    if (SSL_CTX_check_private_key(native) != 1)
        throw std::runtime_error("TLS key " + tls.key.string() + " does not match " + tls.cert.string());
    return ctx;
}

namespace {

// The content rules for DATA and BDAT from [limits] (relay/smtp/data_reader.hpp).
smtp::ContentRules content_rules(const config::LimitsConfig& limits) {
    return smtp::ContentRules{limits.message_size, limits.bare_lf == config::BareLf::normalize,
                              limits.max_line_length};
}

// The connection: a TCP socket, later wrapped in TLS (implicit, or after STARTTLS).
class Transport {
public:
    explicit Transport(tcp::socket socket) : socket_(std::move(socket)) {}

    awaitable<std::size_t> read_some(asio::mutable_buffer buf) {
        if (tls_) co_return co_await tls_->read_some(buf);
        co_return co_await socket_.async_read_some(buf, asio::use_awaitable);
    }
    awaitable<void> write(std::string_view data) {
        if (tls_) co_await tls_->write(data);
        else co_await asio::async_write(socket_, asio::buffer(data), asio::use_awaitable);
    }
    awaitable<void> handshake(std::shared_ptr<asio::ssl::context> ctx) {
        ctx_ = std::move(ctx);
        tls_ = std::make_unique<TlsStream>(socket_, ctx_->native_handle());
        co_await tls_->handshake();
        tls_ready_ = true;
    }
    // False while a TLS handshake is unfinished: nothing can be said to the client then.
    bool can_write() const { return !tls_ || tls_ready_; }
    awaitable<void> shutdown() {
        boost::system::error_code ec;
        if (tls_ && tls_ready_) {
            try {
                co_await tls_->shutdown();
            } catch (const boost::system::system_error&) {
                // The peer is gone already: nothing more to say.
            }
        }
        socket_.shutdown(tcp::socket::shutdown_both, ec);
        socket_.close(ec);
    }
    void cancel() {
        boost::system::error_code ec;
        socket_.cancel(ec);
    }
    void close() {
        boost::system::error_code ec;
        socket_.close(ec);
    }
    std::string tls_description() const {
        if (!tls_) return {};
        SSL* ssl = tls_->native_handle();
        return std::string(SSL_get_version(ssl)) + " " + SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
    }
    tcp::socket& socket() { return socket_; }

private:
    tcp::socket socket_;
    std::shared_ptr<asio::ssl::context> ctx_;
    std::unique_ptr<TlsStream> tls_;
    bool tls_ready_ = false;
};

std::string session_id() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    char buf[24];
    std::snprintf(buf, sizeof buf, "s-%010llx", static_cast<unsigned long long>(rng() & 0xFFFFFFFFFFull));
    return buf;
}

class SessionPolicy final : public smtp::Policy {
public:
    SessionPolicy(const SenderCheck& may_send_as, const queue::Spool& spool, SubmissionMetrics* metrics)
        : may_send_as_(may_send_as), spool_(spool), metrics_(metrics) {}
    std::optional<smtp::Reply> check_sender(const std::string& user, const std::string& address) override {
        if (address.empty())
            return refused(Refusal::sender_not_allowed,
                           smtp::make_reply(550, "5.7.1", "The null sender <> is not accepted for submission"));
        if (!may_send_as_(user, address))
            return refused(Refusal::sender_not_allowed,
                           smtp::make_reply(550, "5.7.1", "User " + user + " may not send as <" + address + ">"));
        // Below [queue] min_free_space: say so now rather than after the body (RFC 5321
        // §4.2.2: 452 for MAIL when storage is insufficient).
        if (spool_.low_on_space())
            return refused(Refusal::storage, smtp::make_reply(452, "4.3.1", "Insufficient system storage; try again later"));
        return std::nullopt;
    }
    std::optional<smtp::Reply> check_recipient(const std::string&, const std::string&) override {
        return std::nullopt;
    }

private:
    smtp::Reply refused(Refusal why, smtp::Reply reply) {
        if (metrics_) metrics_->rejected(why);
        return reply;
    }

    const SenderCheck& may_send_as_;
    const queue::Spool& spool_;
    SubmissionMetrics* metrics_;
};

// An MX listener's checks: any sender (SPF and DMARC come with the message's checks),
// recipients only of [[inbound]] domains that take them, refused at RCPT time so nothing
// is ever accepted and then bounced.
using Greylists = std::map<std::string, std::shared_ptr<inbound::Greylist>, std::less<>>;

class InboundPolicy final : public smtp::Policy {
public:
    InboundPolicy(const inbound::RecipientDirectory& recipients, const Greylists& greylists,
                  boost::asio::ip::address client, const queue::Spool& spool, SubmissionMetrics* metrics,
                  inbound::ClientRate* message_rate)
        : recipients_(recipients), greylists_(greylists), client_(client), spool_(spool), metrics_(metrics),
          message_rate_(message_rate) {}
    std::optional<smtp::Reply> check_sender(const std::string&, const std::string& address) override {
        if (spool_.low_on_space())
            return refused(Refusal::storage, smtp::make_reply(452, "4.3.1", "Insufficient system storage; try again later"));
        if (message_rate_ && !message_rate_->take(client_, inbound::ClientRate::Clock::now()))
            return refused(Refusal::rate_limited,
                           smtp::make_reply(451, "4.7.1", "Too many messages from your address (more than " +
                                                              std::to_string(message_rate_->per_hour()) +
                                                              " an hour); try again later"));
        sender_ = address;
        return std::nullopt;
    }
    std::optional<smtp::Reply> check_recipient(const std::string&, const std::string& address) override {
        switch (recipients_.check(address)) {
            case inbound::RecipientVerdict::accepted: return greylisted(address);
            case inbound::RecipientVerdict::unknown_user:
                return refused(Refusal::unknown_recipient,
                               smtp::make_reply(550, "5.1.1", "<" + address + ">: Recipient address rejected: no such user here"));
            case inbound::RecipientVerdict::foreign_domain: break;
        }
        return refused(Refusal::relay_denied,
                       smtp::make_reply(550, "5.7.1", "<" + address + ">: Relay access denied (not a domain this server receives mail for)"));
    }

private:
    smtp::Reply refused(Refusal why, smtp::Reply reply) {
        if (metrics_) metrics_->rejected(why);
        return reply;
    }
    // RFC 6647: a new triplet waits (451 4.7.1 at RCPT; the sender's MTA retries).
    std::optional<smtp::Reply> greylisted(const std::string& address) {
        auto it = greylists_.find(recipients_.domain_of(address));
        if (it == greylists_.end()) return std::nullopt;
        std::chrono::seconds wait{};
        const auto verdict = it->second->check(client_, sender_, address, std::chrono::system_clock::now(), wait);
        if (metrics_) metrics_->greylist(inbound::to_string(verdict));
        if (verdict == inbound::GreylistVerdict::pass) return std::nullopt;
        return smtp::make_reply(451, "4.7.1", "<" + address + ">: Greylisted: mail from a new sender is accepted on retry; "
                                              "please try again in " + std::to_string(wait.count()) + " seconds");
    }

    const inbound::RecipientDirectory& recipients_;
    const Greylists& greylists_;
    boost::asio::ip::address client_;
    std::string sender_;
    const queue::Spool& spool_;
    SubmissionMetrics* metrics_;
    inbound::ClientRate* message_rate_;  // null: no limit
};

// The SASL mechanism an "AUTH <mechanism> ..." command line names, for the metric label
// only (the protocol has already checked it; a SASL response line is base64 and never
// starts with "AUTH "). nullopt for any other line.
std::optional<AuthMechanism> auth_command_mechanism(std::string_view line) {
    auto lower = [](char ch) { return static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch); };
    auto starts_with_ci = [&](std::string_view s, std::string_view prefix) {
        if (s.size() < prefix.size()) return false;
        for (std::size_t i = 0; i < prefix.size(); ++i)
            if (lower(s[i]) != prefix[i]) return false;
        return true;
    };
    if (!starts_with_ci(line, "auth ")) return std::nullopt;
    return starts_with_ci(line.substr(5), "login") ? AuthMechanism::login : AuthMechanism::plain;
}

}  // namespace

struct SubmissionServer::Impl : std::enable_shared_from_this<SubmissionServer::Impl> {
    Impl(asio::io_context& io_, Services s) : io(io_), svc(std::move(s)) {}

    asio::io_context& io;
    Services svc;
    std::mutex mutex;
    std::shared_ptr<asio::ssl::context> tls;  // guarded by mutex
    // The MX listeners' recipients for the current configuration; guarded by mutex.
    std::shared_ptr<const inbound::RecipientDirectory> recipients;
    // Greylisting per [[inbound]] domain (those with greylist = true), made at start().
    Greylists greylists;
    // Per MX listener (by name), made at start(): its client_connections_per_hour and
    // client_messages_per_hour buckets.
    struct ClientRates {
        std::unique_ptr<inbound::ClientRate> connections;
        std::unique_ptr<inbound::ClientRate> messages;
    };
    std::map<std::string, ClientRates, std::less<>> client_rates;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    std::map<std::string, std::size_t> per_ip;  // guarded by mutex
    // Live sessions, guarded by mutex: called with true to drain, false to cancel.
    std::map<std::uint64_t, std::function<void(bool drain)>> cancels;
    std::uint64_t next_session = 0;
    std::atomic<std::size_t> count{0};
    std::atomic<int> commits{0};  // messages being signed and committed, here or on the pool
    std::atomic<bool> stopping{false};
    std::atomic<bool> draining{false};

    std::shared_ptr<asio::ssl::context> tls_context() {
        std::lock_guard lock(mutex);
        return tls;
    }
    // The configuration new sessions start with (svc.config is replaced by set_config).
    std::shared_ptr<const config::Config> config() {
        std::lock_guard lock(mutex);
        return svc.config;
    }
    std::shared_ptr<const inbound::RecipientDirectory> recipient_directory() {
        std::lock_guard lock(mutex);
        return recipients;
    }

    awaitable<void> accept_loop(tcp::acceptor& acceptor, config::ListenerConfig listener);
    awaitable<void> session(tcp::socket socket, config::ListenerConfig listener, std::string ip);
};

namespace {

// Per-session state for the I/O loop.
struct Conn {
    Transport transport;
    asio::steady_timer watchdog;
    Clock::time_point deadline = Clock::time_point::max();
    Clock::time_point end_of_life;
    bool timed_out = false;
    bool closed = false;
    bool idle = false;      // blocked reading the next command, outside a transaction
    bool may_idle = false;  // the command being read is outside a transaction
    bool draining = false;  // the server is stopping: leave at the next idle point
    bool drained = false;   // the wait for a command was cut short by draining
    std::string in;       // bytes read and not yet consumed
    std::string pending;  // replies held back (PIPELINING)
    bool skipping_long_line = false;

    Conn(tcp::socket s, Clock::time_point eol)
        : transport(std::move(s)), watchdog(transport.socket().get_executor()), end_of_life(eol) {}

    void arm(std::chrono::seconds timeout) {
        deadline = std::min(Clock::now() + timeout, end_of_life);
        slow_transfer = false;
        watchdog.cancel();  // the watchdog re-reads the deadline
    }

    // A message transfer (DATA, or one BDAT chunk) being read: when it began and how many
    // octets came. Each read must come within `between_reads` of the last, and the whole
    // transfer must end by start + between_reads + received / min_rate (a client trickling the body is cut
    // off; 0 = no minimum rate).
    Clock::time_point transfer_start;
    std::uint64_t transfer_octets = 0;
    bool slow_transfer = false;  // the deadline armed last is the rate's

    void begin_transfer() {
        transfer_start = Clock::now();
        transfer_octets = 0;
    }
    void arm_transfer(std::chrono::seconds between_reads, std::uint64_t min_rate) {
        arm(between_reads);
        if (min_rate == 0) return;
        const auto allowed = std::chrono::microseconds(transfer_octets / min_rate * 1000000 +
                                                       transfer_octets % min_rate * 1000000 / min_rate);
        const auto by_rate = transfer_start + between_reads + std::chrono::duration_cast<Clock::duration>(allowed);
        if (by_rate < deadline) {
            deadline = by_rate;
            slow_transfer = true;
        }
    }
};

awaitable<void> watch(Conn& c) {
    while (!c.closed) {
        c.watchdog.expires_at(c.deadline);
        boost::system::error_code ec;
        co_await c.watchdog.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (c.closed) co_return;
        if (Clock::now() >= c.deadline) {
            c.timed_out = true;
            c.transport.cancel();
            // Keep watching: the session may still try a last write (the 421), which gets
            // a deadline of its own through arm(); until then there is nothing to time.
            c.deadline = Clock::time_point::max();
        }
    }
}

awaitable<void> flush(Conn& c) {
    if (c.pending.empty()) co_return;
    std::string out;
    out.swap(c.pending);
    co_await c.transport.write(out);
}

void queue_replies(Conn& c, const smtp::Step& step) {
    for (const auto& r : step.replies) c.pending += r.wire();
}

enum class LineStatus { line, too_long, eof };

// Reads one line (CRLF, or bare LF reported) of at most `max` octets. Replies held back
// are flushed before the session waits for input (RFC 2920 §3.2).
awaitable<LineStatus> read_line(Conn& c, std::size_t max, std::chrono::seconds timeout, std::string& line,
                                bool& bare_lf) {
    // One deadline for the whole line: a client trickling a byte at a time does not
    // extend it (slowloris).
    c.arm(timeout);
    for (;;) {
        auto nl = c.in.find('\n');
        if (c.skipping_long_line) {
            if (nl != std::string::npos) {
                c.in.erase(0, nl + 1);
                c.skipping_long_line = false;
                co_return LineStatus::too_long;
            }
            c.in.clear();
        } else if (nl != std::string::npos) {
            bare_lf = nl == 0 || c.in[nl - 1] != '\r';
            std::size_t len = bare_lf ? nl : nl - 1;
            if (len + 2 > max) {  // the limits count the CRLF (RFC 5321 §4.5.3.1.4)
                c.in.erase(0, nl + 1);
                co_return LineStatus::too_long;
            }
            line.assign(c.in, 0, len);
            c.in.erase(0, nl + 1);
            co_return LineStatus::line;
        } else if (c.in.size() > max) {
            c.in.clear();
            c.skipping_long_line = true;  // discard up to the end of this line
        }
        co_await flush(c);
        // Small: idle sessions wait here, and this buffer lives in their coroutine frame.
        char buf[1024];
        // Only while blocked here may a stopping server cut the session short: never in
        // the middle of writing a reply.
        c.idle = c.may_idle;
        struct NotIdle {
            Conn& conn;
            ~NotIdle() { conn.idle = false; }
        } not_idle{c};
        std::size_t n = co_await c.transport.read_some(asio::buffer(buf));
        c.in.append(buf, n);
    }
}

}  // namespace

awaitable<void> SubmissionServer::Impl::session(tcp::socket socket, config::ListenerConfig listener, std::string ip) {
    auto self = shared_from_this();
    auto cfg = config();
    const auto& limits = cfg->limits;
    std::string sid = session_id();
    auto log = log::with_id(svc.logger, sid);
    auto executor = co_await asio::this_coro::executor;

    auto conn = std::make_shared<Conn>(std::move(socket), Clock::now() + limits.connection_timeout);
    Conn& c = *conn;
    std::uint64_t key;
    {
        // stop() may run on another thread: it posts the cancellation to this strand.
        std::weak_ptr<Conn> weak = conn;
        std::lock_guard lock(mutex);
        key = next_session++;
        cancels[key] = [weak, executor](bool drain) {
            asio::post(executor, [weak, drain] {
                auto live = weak.lock();
                if (!live) return;
                if (drain) {
                    live->draining = true;
                    if (live->idle && !live->closed) {
                        live->drained = true;
                        live->transport.cancel();
                    }
                    return;
                }
                live->closed = true;
                live->transport.cancel();
                live->watchdog.cancel();
            });
        };
    }
    struct Unregister {
        Impl* impl;
        std::uint64_t key;
        std::string ip;
        ~Unregister() {
            std::lock_guard lock(impl->mutex);
            impl->cancels.erase(key);
            if (--impl->per_ip[ip] == 0) impl->per_ip.erase(ip);
            --impl->count;
        }
    } unregister{this, key, ip};

    asio::co_spawn(executor, [conn]() -> awaitable<void> { co_await watch(*conn); }, asio::detached);
    log->info("connect from [{}] on {}", ip, listener.name);
    SubmissionMetrics* metrics = svc.metrics.get();
    if (metrics) metrics->connection(listener.name);
    AuthMechanism auth_mechanism = AuthMechanism::plain;  // of the last AUTH command

    smtp::ServerOptions opt;
    opt.hostname = cfg->server.hostname;
    opt.tls_active = listener.tls == config::TlsMode::implicit;
    opt.starttls_offered = listener.tls == config::TlsMode::starttls;
    opt.max_message_size = limits.message_size;
    opt.max_recipients = limits.max_recipients;
    opt.max_auth_failures = cfg->auth.max_failures;
    const bool mx = listener.kind == config::ListenerKind::mx;
    opt.require_auth = !mx;
    opt.strict_helo = mx;
    auto directory = recipient_directory();
    if (!directory) directory = std::make_shared<const inbound::RecipientDirectory>(cfg->inbound);
    SessionPolicy submission_policy(svc.may_send_as, *svc.spool, metrics);
    boost::system::error_code client_ec;
    auto rates = client_rates.find(listener.name);
    InboundPolicy inbound_policy(*directory, greylists, asio::ip::make_address(ip, client_ec), *svc.spool, metrics,
                                 rates == client_rates.end() ? nullptr : rates->second.messages.get());
    smtp::ServerProtocol proto(opt, mx ? static_cast<smtp::Policy&>(inbound_policy) : submission_policy);

    std::unique_ptr<Ingest> ingest;
    auto start_ingest = [&]() {
        std::unique_ptr<queue::IncomingMessage> file;
        std::error_code ec = svc.spool->begin(file);
        IngestContext ictx;
        ictx.user = proto.user();
        ictx.client_address = ip;
        ictx.client_name = proto.client_name();
        ictx.tls = c.transport.tls_description();
        ictx.esmtp = proto.esmtp();
        ictx.envelope = proto.envelope();
        ictx.inbound = mx;
        ictx.spare = svc.spare;
        if (ec) {
            log->error("spool: cannot create a message file: {}", ec.message());
            return ec;
        }
        ingest = std::make_unique<Ingest>(cfg, svc.keys, svc.may_send_as, std::move(file), std::move(ictx));
        return std::error_code{};
    };
    std::error_code spool_error;
    bool say_timeout = false;
    bool say_shutdown = false;
    smtp::BodyChecker bdat_check{content_rules(limits)};  // DATA's content rules for BDAT chunks
    std::string bdat_out;                                 // a chunk's shaped octets
    // A large read buffer only while a message body is being read (not in the coroutine
    // frame, which every idle session keeps).
    std::vector<char> body_buf;
    auto body_buffer = [&]() -> std::vector<char>& {
        if (body_buf.empty()) body_buf.resize(16384);
        return body_buf;
    };
    std::uint64_t bdat_transaction = ~std::uint64_t{0};
    auto finish_message = [&]() -> awaitable<smtp::MessageOutcome> {
        smtp::MessageOutcome outcome;
        if (spool_error || !ingest) {
            bool full = spool_error == std::errc::no_space_on_device;
            if (metrics) metrics->rejected(full ? Refusal::storage : Refusal::local_error);
            outcome.reply = smtp::make_reply(full ? 452 : 451, full ? "4.3.1" : "4.3.0",
                                             full ? "Insufficient system storage; try again later"
                                                  : "Local error in processing; try again later");
            co_return outcome;
        }
        // The MX listener's sender checks, before anything is committed: their results go
        // to the home server in Authentication-Results, and a DMARC p=reject failure is
        // refused here for an [[inbound]] domain with dmarc = "enforce".
        if (mx && svc.resolver) {
            InboundCheckInput in;
            boost::system::error_code addr_ec;
            in.client = asio::ip::make_address(ip, addr_ec);
            in.helo = proto.client_name();
            in.mail_from = proto.envelope().mail_from;
            in.from_domain = ingest->from_domain();
            in.header = ingest->header();
            in.verifier = ingest->verifier();
            in.authserv_id = cfg->server.hostname;
            InboundCheckResult checks = co_await check_inbound(*svc.resolver, std::move(in));
            std::string dkim_summary;
            for (const auto& d : checks.dkim) dkim_summary += (dkim_summary.empty() ? "" : ",") + d.result + ":" + d.d;
            if (dkim_summary.empty()) dkim_summary = "none";
            log->info("sender checks: spf={} ({}) dkim={} dmarc={} (from {}, policy {})", checks.spf.result,
                      checks.spf.domain, dkim_summary, checks.dmarc.result, checks.dmarc.from_domain,
                      inbound::to_string(checks.dmarc.disposition));
            if (metrics) {
                metrics->sender_check("spf", checks.spf.result);
                for (const auto& d : checks.dkim) metrics->sender_check("dkim", d.result);
                if (checks.dkim.empty()) metrics->sender_check("dkim", "none");
                metrics->sender_check("dmarc", checks.dmarc.result);
            }
            if (ingest->forged_results_removed() > 0)
                log->warn("removed {} Authentication-Results field(s) claiming to be ours ({})",
                          ingest->forged_results_removed(), cfg->server.hostname);
            bool enforce = false;
            for (const auto& rcpt : proto.envelope().rcpt_to) {
                const auto* entry = cfg->find_inbound(rcpt.substr(rcpt.rfind('@') + 1));
                enforce = enforce || (entry && entry->dmarc == config::InboundDmarc::enforce);
            }
            if (enforce && checks.dmarc.disposition == inbound::DmarcPolicy::reject) {
                ingest->abort();
                ingest.reset();
                if (metrics) metrics->rejected(Refusal::dmarc);
                log->warn("message refused: DMARC policy of {} (p=reject) and no aligned SPF or DKIM pass",
                          checks.dmarc.from_domain);
                outcome.reply = smtp::make_reply(550, "5.7.1", "Message refused: the DMARC policy of " +
                                                                   checks.dmarc.from_domain +
                                                                   " (p=reject) and no aligned SPF or DKIM pass");
                co_return outcome;
            }
            ingest->set_authentication_results(std::move(checks.field));
        }
        // Flow control: while delivery falls behind, a new message waits a little (as
        // Postfix's in_flow_delay), so acceptance does not outrun delivery and the queue
        // does not grow without bound. Bounded: after in_flow_delay it goes ahead anyway.
        // Looked at again every 2 ms: a message held is let go soon after delivery caught
        // up (a coarser step showed in the slowest 1% of submissions).
        if (svc.delivery_behind && cfg->queue.in_flow_delay.count() > 0 && svc.delivery_behind()) {
            const auto started = std::chrono::steady_clock::now();
            const auto until = started + cfg->queue.in_flow_delay;
            asio::steady_timer pause(executor);
            while (svc.delivery_behind() && std::chrono::steady_clock::now() < until) {
                pause.expires_after(std::chrono::milliseconds(2));
                co_await pause.async_wait(asio::use_awaitable);
            }
            if (metrics) metrics->flow_delayed(std::chrono::steady_clock::now() - started);
        }
        // Signing and fsync block: they run on the commit pool and the session comes back,
        // two thread hand-offs. When no other commit is in flight (a lightly loaded relay),
        // the message is committed here instead, on this I/O thread: the other I/O threads
        // serve every other session meanwhile, and a commit that starts while this one runs
        // goes to the pool, so at most one I/O thread is ever held by a commit.
        const bool counted = svc.inline_commits;
        const bool here = counted && commits.fetch_add(1, std::memory_order_acq_rel) == 0;
        if (!here)
            co_await asio::post(asio::bind_executor(svc.committers ? svc.committers : svc.workers, asio::use_awaitable));
        IngestResult r;
        {
            struct Uncount {
                std::atomic<int>* n;
                ~Uncount() {
                    if (n) n->fetch_sub(1, std::memory_order_acq_rel);
                }
            } uncount{counted ? &commits : nullptr};
            r = ingest->finish(std::chrono::system_clock::now());
        }
        if (!here) co_await asio::post(executor, asio::use_awaitable);
        ingest.reset();
        if (!r.queue_id.empty() && mx) {
            log->info("queued {}: from=<{}> rcpts={} inbound from [{}]", r.queue_id, proto.envelope().mail_from,
                      proto.envelope().rcpt_to.size(), ip);
            if (metrics) {
                metrics->accepted();
                metrics->inbound_accepted();
            }
            if (svc.queued) svc.queued(std::move(r.envelope));
        } else if (!r.queue_id.empty()) {
            std::string sels;
            for (const auto& s : r.selectors) sels += (sels.empty() ? "" : ",") + s;
            log->info("queued {}: from=<{}> rcpts={} user={} signed d={} s={}", r.queue_id, proto.envelope().mail_from,
                      proto.envelope().rcpt_to.size(), proto.user(), r.signed_domain, sels);
            if (metrics) {
                metrics->accepted();
                for (auto type : r.key_types) metrics->signed_with(r.signed_domain, type);
            }
            if (svc.queued) svc.queued(std::move(r.envelope));
        } else {
            log->warn("message refused: {} ({} {})", r.reason, r.reply.code, r.reply.enhanced);
            if (metrics) metrics->rejected(r.refusal);
        }
        outcome.reply = r.reply;
        co_return outcome;
    };

    try {
        if (listener.tls == config::TlsMode::implicit) {
            c.arm(limits.command_timeout);
            co_await c.transport.handshake(tls_context());
            log->info("TLS {}", c.transport.tls_description());
        }
        smtp::Step step;
        // An MX listener's checks of the client before it is greeted: it must wait for the
        // greeting (pregreet), and it must not be on a configured DNS blocklist.
        std::optional<smtp::Reply> refused_client;
        if (mx && listener.greet_pause.count() > 0) {
            asio::steady_timer pause(executor, listener.greet_pause);
            boost::system::error_code pause_ec;
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, pause_ec));
            boost::system::error_code avail_ec;
            if (c.transport.socket().available(avail_ec) > 0) {
                refused_client = smtp::make_reply(554, "5.5.1", "Protocol error: talking before the greeting");
                log->warn("refused [{}]: it talked before the greeting", ip);
                if (metrics) metrics->inbound_refused("pregreet");
            }
        }
        if (mx && !refused_client && !listener.dnsbl.empty() && svc.resolver) {
            boost::system::error_code addr_ec;
            const auto address = asio::ip::make_address(ip, addr_ec);
            for (const auto& zone : listener.dnsbl) {
                if (addr_ec) break;
                const std::string name = inbound::dnsbl_name(address, zone);
                dns::AddressAnswer listed = co_await svc.resolver->a(name);
                if (!inbound::dnsbl_listed(listed)) continue;
                refused_client = smtp::make_reply(554, "5.7.1", "Service unavailable; client [" + ip + "] is listed by " + zone);
                log->warn("refused [{}]: listed by {}", ip, zone);
                if (metrics) metrics->inbound_refused("dnsbl");
                break;
            }
        }
        if (refused_client) {
            step.replies.push_back(*refused_client);
            step.next = smtp::Next::close;
        } else if (svc.locked_out && svc.locked_out(ip)) {
            step.replies.push_back(smtp::make_reply(421, "4.7.0", cfg->server.hostname +
                                                                     " Too many failed logins from your address; try later"));
            step.next = smtp::Next::close;
            log->warn("refused [{}]: locked out after failed logins", ip);
        } else {
            step = proto.greeting();
        }
        for (;;) {
            queue_replies(c, step);
            switch (step.next) {
                case smtp::Next::close: {
                    c.arm(std::chrono::seconds(10));
                    co_await flush(c);
                    co_await c.transport.shutdown();
                    c.closed = true;
                    c.watchdog.cancel();
                    log->info("disconnect");
                    co_return;
                }
                case smtp::Next::start_tls: {
                    co_await flush(c);
                    c.in.clear();  // bytes pipelined behind STARTTLS are discarded (RFC 3207 §4.2)
                    c.arm(limits.command_timeout);
                    boost::system::error_code ec;
                    try {
                        co_await c.transport.handshake(tls_context());
                    } catch (const boost::system::system_error& e) {
                        ec = e.code();
                    }
                    if (ec) {
                        log->info("TLS handshake failed: {}", ec.message());
                        step = proto.on_tls_failed();
                        step.replies.clear();  // nothing can be said over a failed TLS link
                        c.transport.close();
                        c.closed = true;
                        c.watchdog.cancel();
                        co_return;
                    }
                    log->info("STARTTLS: {}", c.transport.tls_description());
                    step = proto.on_tls_started();
                    break;
                }
                case smtp::Next::verify_password: {
                    co_await flush(c);
                    if (svc.locked_out && svc.locked_out(ip)) {
                        // A connection opened before the lockout gets no more guesses either.
                        (void)proto.on_auth_result(false);
                        step = smtp::Step{};
                        step.replies.push_back(smtp::make_reply(
                            421, "4.7.0", cfg->server.hostname + " Too many failed logins from your address; try later"));
                        step.next = smtp::Next::close;
                        log->warn("AUTH refused: [{}] is locked out after failed logins", ip);
                        break;
                    }
                    std::string user = proto.auth_user();
                    std::string password = proto.auth_password();
                    if (svc.user_locked_out && svc.user_locked_out(user) &&
                        !(svc.remembered && svc.remembered(user, password))) {
                        // Guessed at from elsewhere: no password check for this name for now
                        // (temporary: a client with the right password retries later).
                        password.assign(password.size(), '\0');
                        if (svc.record_auth) svc.record_auth(ip, "", false);
                        if (metrics) metrics->auth(auth_mechanism, false);
                        (void)proto.on_auth_result(false);
                        step = smtp::Step{};
                        step.replies.push_back(smtp::make_reply(
                            454, "4.7.0", "Too many failed logins for this user name; try again later"));
                        step.flush = true;
                        log->warn("AUTH refused: user={} from [{}]: the user name is locked out after failed logins",
                                  user, ip);
                        break;
                    }
                    // A password the cache holds is answered here; only argon2id goes
                    // to the pool (two thread hand-offs per login).
                    bool ok = svc.verify_cached && svc.verify_cached(user, password);
                    if (!ok) {
                        co_await asio::post(asio::bind_executor(svc.workers, asio::use_awaitable));
                        ok = svc.verify_password(user, password);
                        co_await asio::post(executor, asio::use_awaitable);
                    }
                    password.assign(password.size(), '\0');
                    if (svc.record_auth) svc.record_auth(ip, user, ok);
                    if (metrics) metrics->auth(auth_mechanism, ok);
                    if (ok) {
                        log->info("AUTH ok: user={} from [{}]", user, ip);
                    } else {
                        log->warn("AUTH failed: user={} from [{}]", user, ip);
                        auto delay = svc.failure_delay ? svc.failure_delay(ip, user) : std::chrono::milliseconds(0);
                        if (delay.count() > 0) {
                            asio::steady_timer t(executor, delay);
                            co_await t.async_wait(asio::use_awaitable);
                        }
                        if (svc.failure_answered) svc.failure_answered(ip, user);
                    }
                    step = proto.on_auth_result(ok);
                    break;
                }
                case smtp::Next::read_data: {
                    co_await flush(c);
                    spool_error = start_ingest();
                    const smtp::ContentRules rules = content_rules(limits);
                    smtp::DataReader reader(rules);
                    std::string out;
                    c.begin_transfer();
                    c.transfer_octets = c.in.size();
                    for (;;) {
                        auto r = reader.feed(c.in, out);
                        c.in.erase(0, r.consumed);
                        if (ingest && !out.empty() && reader.error() == smtp::DataError::none) ingest->write(out);
                        if (metrics && !out.empty()) metrics->received(out.size());
                        out.clear();
                        if (r.done) break;
                        c.arm_transfer(limits.data_timeout, limits.min_data_rate);
                        std::size_t n = co_await c.transport.read_some(asio::buffer(body_buffer()));
                        c.in.append(body_buffer().data(), n);
                        c.transfer_octets += n;
                    }
                    if (reader.error() != smtp::DataError::none) {
                        if (ingest) ingest->abort();
                        ingest.reset();
                        smtp::MessageOutcome o{smtp::reply_for(reader.error(), rules)};
                        log->warn("message refused: {}: {} {}", smtp::describe(reader.error()), o.reply.code,
                                  o.reply.enhanced);
                        if (metrics)
                            metrics->rejected(reader.error() == smtp::DataError::too_big ? Refusal::size : Refusal::data_error);
                        step = proto.on_message_end(o);
                    } else {
                        if (reader.folds() > 0)
                            log->info("folded {} line(s) longer than 998 characters", reader.folds());
                        step = proto.on_message_end(co_await finish_message());
                    }
                    std::vector<char>().swap(body_buf);
                    break;
                }
                case smtp::Next::read_bdat: {
                    if (proto.transaction() != bdat_transaction) {
                        // A new transaction: whatever an earlier, abandoned one left goes.
                        if (ingest) ingest->abort();
                        ingest.reset();
                        bdat_check = smtp::BodyChecker{content_rules(limits)};
                        spool_error = {};
                        bdat_transaction = proto.transaction();
                    }
                    if (!ingest && !spool_error && !proto.bdat_discard()) spool_error = start_ingest();
                    std::uint64_t left = proto.bdat_size();
                    bool discard = proto.bdat_discard();
                    c.begin_transfer();
                    c.transfer_octets = std::min<std::uint64_t>(left, c.in.size());
                    while (left > 0) {
                        if (c.in.empty()) {
                            c.arm_transfer(limits.data_timeout, limits.min_data_rate);
                            std::size_t n = co_await c.transport.read_some(asio::buffer(body_buffer()));
                            c.in.append(body_buffer().data(), n);
                            c.transfer_octets += n;
                        }
                        std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left, c.in.size()));
                        if (!discard) {
                            bdat_out.clear();
                            bdat_check.feed(std::string_view(c.in).substr(0, take), bdat_out);
                            if (ingest && bdat_check.error() == smtp::DataError::none && !bdat_out.empty())
                                ingest->write(bdat_out);
                        }
                        if (metrics && !discard) metrics->received(take);
                        c.in.erase(0, take);
                        left -= take;
                    }
                    if (proto.bdat_last()) {
                        bdat_out.clear();
                        smtp::DataError content = bdat_check.finish(bdat_out);
                        if (ingest && content == smtp::DataError::none && !bdat_out.empty()) ingest->write(bdat_out);
                        const std::uint64_t bdat_folds = bdat_check.folds();
                        bdat_check = smtp::BodyChecker{content_rules(limits)};
                        if (proto.bdat_discard()) {
                            if (ingest) ingest->abort();
                            ingest.reset();
                            step = proto.on_message_end(smtp::MessageOutcome{});
                        } else if (content != smtp::DataError::none) {
                            if (ingest) ingest->abort();
                            ingest.reset();
                            smtp::MessageOutcome o{smtp::reply_for(content, content_rules(limits))};
                            log->warn("message refused: {}: {} {}", smtp::describe(content), o.reply.code,
                                      o.reply.enhanced);
                            if (metrics) metrics->rejected(content == smtp::DataError::too_big ? Refusal::size : Refusal::data_error);
                            step = proto.on_message_end(o);
                        } else {
                            if (bdat_folds > 0) log->info("folded {} line(s) longer than 998 characters", bdat_folds);
                            step = proto.on_message_end(co_await finish_message());
                        }
                    } else {
                        step = proto.on_bdat_chunk();
                    }
                    break;
                }
                case smtp::Next::read_line: {
                    if ((c.draining || draining) && !proto.in_transaction() && c.in.empty()) {
                        // Stopping: no message is open, so nothing is lost by leaving now.
                        step = proto.on_shutdown();
                        log->info("service stopping: closing the session");
                        break;
                    }
                    if (step.flush) co_await flush(c);
                    std::string line;
                    bool bare_lf = false;
                    c.may_idle = !proto.in_transaction();
                    auto status = co_await read_line(c, proto.max_line_length(), limits.command_timeout, line, bare_lf);
                    if (auto m = auth_command_mechanism(line)) auth_mechanism = *m;
                    step = status == LineStatus::too_long ? proto.on_line_too_long() : proto.on_line(line, bare_lf);
                    break;
                }
            }
        }
    } catch (const boost::system::system_error& e) {
        if (c.drained && !c.closed) {
            log->info("service stopping: closing the session");
            say_shutdown = true;
        } else if (c.timed_out && !c.closed) {
            if (c.slow_transfer) {
                const auto secs = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - c.transfer_start);
                log->warn("message transfer too slow: {} octets in {}s, below [limits] min_data_rate = {} octets/s; "
                          "closing",
                          c.transfer_octets, secs.count(), limits.min_data_rate);
            } else {
                log->info("timeout, closing");
            }
            say_timeout = true;
        } else if (e.code() != asio::error::eof && e.code() != asio::error::operation_aborted) {
            log->info("connection error: {}", e.code().message());
        } else {
            log->info("client closed the connection");
        }
    } catch (const std::exception& e) {
        // Not an I/O error: a bug. This session ends; the daemon and the others carry on.
        log->error("session aborted: {}", e.what());
    }
    if ((say_timeout || say_shutdown) && c.transport.can_write()) {
        // Best effort: say why, with a short deadline of its own.
        smtp::Step t = say_shutdown ? proto.on_shutdown() : proto.on_timeout();
        c.pending.clear();
        queue_replies(c, t);
        c.timed_out = false;
        c.arm(std::chrono::seconds(5));
        try {
            co_await flush(c);
        } catch (const std::exception&) {
        }
    }
    if (ingest) ingest->abort();
    c.closed = true;
    c.watchdog.cancel();
    c.transport.close();
}

awaitable<void> SubmissionServer::Impl::accept_loop(tcp::acceptor& acceptor, config::ListenerConfig listener) {
    auto self = shared_from_this();
    inbound::ClientRate* rate = nullptr;  // an MX listener's client_connections_per_hour
    if (auto it = client_rates.find(listener.name); it != client_rates.end()) rate = it->second.connections.get();
    for (;;) {
        boost::system::error_code ec;
        tcp::socket socket = co_await acceptor.async_accept(asio::make_strand(io), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (ec == asio::error::operation_aborted || stopping) co_return;
            svc.logger->warn("accept on {}: {}", listener.name, ec.message());
            continue;
        }
        const asio::ip::address peer = socket.remote_endpoint(ec).address();
        if (ec) continue;
        std::string ip = peer.to_string();
        // Replies are small and the client waits for each: do not let Nagle hold one back
        // behind the TLS session tickets (a 40 ms stall per connection otherwise).
        socket.set_option(tcp::no_delay(true), ec);
        const auto cfg = config();
        const auto& limits = cfg->limits;
        std::string refusal;
        {
            std::lock_guard lock(mutex);
            if (count.load() >= limits.max_connections) refusal = "Too many connections; try again later";
            else if (per_ip[ip] >= limits.max_connections_per_ip) refusal = "Too many connections from your address; try again later";
            else if (rate && !rate->take(peer, inbound::ClientRate::Clock::now())) {
                refusal = "Too many connections from your address (more than " + std::to_string(rate->per_hour()) +
                          " an hour); try again later";
                if (svc.metrics) svc.metrics->inbound_refused("rate");
            } else {
                ++per_ip[ip];
                ++count;
            }
        }
        if (!refusal.empty()) {
            svc.logger->warn("refused [{}] on {}: {}", ip, listener.name, refusal);
            // A short, fixed answer; nothing is read from the client.
            auto reply = std::make_shared<std::string>(
                smtp::make_reply(421, "4.7.0", cfg->server.hostname + " " + refusal).wire());
            auto sock = std::make_shared<tcp::socket>(std::move(socket));
            asio::async_write(*sock, asio::buffer(*reply), [sock, reply](boost::system::error_code, std::size_t) {
                boost::system::error_code ignored;
                sock->close(ignored);
            });
            continue;
        }
        auto exec = socket.get_executor();
        asio::co_spawn(exec, session(std::move(socket), listener, ip), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);  // a bug, not an expected error: crash loudly
        });
    }
}

SubmissionServer::SubmissionServer(asio::io_context& io, Services services)
    : impl_(std::make_shared<Impl>(io, std::move(services))) {}

SubmissionServer::~SubmissionServer() { stop(); }

void SubmissionServer::start() {
    const auto cfg = impl_->config();
    impl_->tls = make_tls_context(cfg->tls);
    std::string error;
    impl_->recipients = inbound::RecipientDirectory::load(*cfg, error);
    if (!impl_->recipients) throw std::runtime_error("inbound recipients: " + error);
    for (const auto& in : cfg->inbound)
        if (in.greylist)
            impl_->greylists.emplace(in.domain, std::make_shared<inbound::Greylist>(inbound::GreylistOptions{
                                                    in.greylist_delay, std::chrono::hours(24), in.greylist_lifetime}));
    for (const auto& l : cfg->listeners)
        if (l.kind == config::ListenerKind::mx)
            impl_->client_rates.emplace(
                l.name, Impl::ClientRates{
                            l.client_connections_per_hour ? std::make_unique<inbound::ClientRate>(l.client_connections_per_hour) : nullptr,
                            l.client_messages_per_hour ? std::make_unique<inbound::ClientRate>(l.client_messages_per_hour) : nullptr});
    for (const auto& l : cfg->listeners) {
        boost::system::error_code ec;
        auto address = asio::ip::make_address(l.address.host, ec);
        if (ec) throw std::runtime_error("listener " + l.name + ": bad address " + l.address.host);
        tcp::endpoint ep(address, l.address.port);
        auto acceptor = std::make_unique<tcp::acceptor>(impl_->io);
        acceptor->open(ep.protocol(), ec);
        if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec) acceptor->bind(ep, ec);
        if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) throw std::runtime_error("cannot listen on " + l.address.to_string() + " (" + l.name + "): " + ec.message());
        asio::co_spawn(impl_->io, impl_->accept_loop(*acceptor, l), asio::detached);
        impl_->acceptors.push_back(std::move(acceptor));
        impl_->svc.logger->info("listening on {} ({}, {}{})", l.address.to_string(), l.name, config::to_string(l.tls),
                                l.kind == config::ListenerKind::mx ? ", mx" : "");
    }
}

void SubmissionServer::drain() {
    if (!impl_) return;
    impl_->draining = true;
    for (auto& a : impl_->acceptors) {
        boost::system::error_code ec;
        a->close(ec);
    }
    std::lock_guard lock(impl_->mutex);
    for (auto& [key, cancel] : impl_->cancels) cancel(true);
}

void SubmissionServer::stop() {
    if (!impl_) return;
    impl_->stopping = true;
    impl_->draining = true;
    for (auto& a : impl_->acceptors) {
        boost::system::error_code ec;
        a->close(ec);
    }
    std::lock_guard lock(impl_->mutex);
    for (auto& [key, cancel] : impl_->cancels) cancel(false);
}

void SubmissionServer::set_config(std::shared_ptr<const config::Config> config,
                                  std::shared_ptr<asio::ssl::context> tls) {
    // The recipients files are read again with the configuration; when one does not read,
    // the MX listeners keep the recipients they had.
    std::string error;
    auto recipients = inbound::RecipientDirectory::load(*config, error);
    if (!recipients) impl_->svc.logger->error("inbound recipients not reloaded: {}", error);
    std::lock_guard lock(impl_->mutex);
    if (recipients) impl_->recipients = std::move(recipients);
    impl_->svc.config = std::move(config);
    impl_->tls = std::move(tls);
}

bool SubmissionServer::listening() const {
    if (!impl_ || impl_->draining || impl_->acceptors.empty()) return false;
    for (const auto& a : impl_->acceptors)
        if (!a->is_open()) return false;
    return true;
}

bool SubmissionServer::reload_tls(std::string& error) {
    try {
        auto ctx = make_tls_context(impl_->config()->tls);
        std::lock_guard lock(impl_->mutex);
        impl_->tls = std::move(ctx);
        return true;
    } catch (const std::exception& e) {
        error = e.what();
        return false;
    }
}

std::size_t SubmissionServer::sessions() const { return impl_->count.load(); }

}  // namespace signpost::submission
