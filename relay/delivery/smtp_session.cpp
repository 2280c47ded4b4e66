// relay/delivery/smtp_session.cpp — one outbound SMTP transaction (see smtp_session.hpp).
#include "relay/delivery/smtp_session.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/sinks/null_sink.h>

#include "relay/dane/dane.hpp"
#include "relay/delivery/cert_pin.hpp"
#include "relay/delivery/connection_pool.hpp"
#include "relay/smtp/client.hpp"
#include "relay/smtp/sasl.hpp"

namespace signpost::delivery {
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

// --- StopSignal ---------------------------------------------------------------------------

void StopSignal::stop() {
    std::function<void()> handler;
    {
        std::lock_guard lock(mutex_);
        stopped_ = true;
        handler = handler_;
    }
    if (handler) handler();
}

bool StopSignal::stopped() const {
    std::lock_guard lock(mutex_);
    return stopped_;
}

void StopSignal::set_handler(std::function<void()> handler) {
    bool now;
    {
        std::lock_guard lock(mutex_);
        handler_ = handler;
        now = stopped_;
    }
    if (now && handler) handler();
}

void StopSignal::clear_handler() {
    std::lock_guard lock(mutex_);
    handler_ = nullptr;
}

// --- helpers ------------------------------------------------------------------------------

std::shared_ptr<ssl::context> make_client_tls_context(const std::filesystem::path& extra_ca_file, std::string& error) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    error_code ec;
    ctx->set_default_verify_paths(ec);
    if (ec) {
        error = "cannot load the system's trusted CAs: " + ec.message();
        return nullptr;
    }
    if (!extra_ca_file.empty()) {
        ctx->load_verify_file(extra_ca_file.string(), ec);
        if (ec) {
            error = "CA file " + extra_ca_file.string() + ": " + ec.message();
            return nullptr;
        }
    }
    return ctx;
}

std::string describe_endpoint(const std::string& host, const tcp::endpoint& endpoint) {
    const std::string ip = endpoint.address().to_string();
    std::string out = host == ip ? std::string() : host;
    out += '[' + ip + "]:" + std::to_string(endpoint.port());
    return out;
}

namespace {

constexpr std::size_t file_block = 64 * 1024;

// The session's hold on a connection, and its deadline. One per session, shared with the
// watchdog coroutine and the StopSignal handler (both on the session's executor). The
// connection itself (`t`) may outlive the session in a ConnectionPool: once handed over,
// `t` is null and nothing here touches it again.
struct Conn {
    explicit Conn(const asio::any_io_executor& ex) : t(std::make_unique<Connection>(ex)), watchdog(ex) {}

    std::unique_ptr<Connection> t;
    asio::steady_timer watchdog;
    Clock::time_point deadline = Clock::time_point::max();
    bool timed_out = false;  // the watchdog closed the socket
    bool stopped = false;    // StopSignal closed the socket
    bool done = false;       // the session is over; the watchdog ends

    void arm(Ms timeout) {
        deadline = Clock::now() + timeout;
        watchdog.cancel();  // the watchdog re-reads the deadline
    }
    void disarm() {
        deadline = Clock::time_point::max();
        watchdog.cancel();
    }
    void drop() {
        if (t) t->close();
    }
};

awaitable<void> watch(std::shared_ptr<Conn> c) {
    while (!c->done) {
        c->watchdog.expires_at(c->deadline);
        error_code ec;
        co_await c->watchdog.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (c->done) break;
        if (c->deadline != Clock::time_point::max() && Clock::now() >= c->deadline) {
            // Closing (not just cancelling) makes every later operation fail too: after a
            // timeout the session is over.
            c->timed_out = true;
            c->deadline = Clock::time_point::max();
            c->drop();
        }
    }
}

// Peer text for a result: the reply's lines on one line, control characters as spaces.
std::string one_line(const smtp::Reply& r) {
    std::string out;
    for (const auto& l : r.lines) {
        if (!out.empty()) out += ' ';
        out += l;
    }
    for (char& ch : out) {
        const auto u = static_cast<unsigned char>(ch);
        if (u < 0x20 || u == 0x7f) ch = ' ';
    }
    return out;
}

// A refusal: 5xx permanent, anything else temporary.
Outcome refusal(int code) { return code / 100 == 5 ? Outcome::permanent : Outcome::temporary; }

bool is_ip_literal(const std::string& host) {
    error_code ec;
    (void)asio::ip::make_address(host, ec);
    return !ec;
}

// The server's certificates in DER, leaf first (on the client side OpenSSL's peer chain
// includes the leaf).
std::vector<std::string> peer_chain(SSL* ssl) {
    std::vector<std::string> out;
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
    const int n = chain ? sk_X509_num(chain) : 0;
    for (int i = 0; i < n; ++i) {
        unsigned char* der = nullptr;
        const int len = i2d_X509(sk_X509_value(chain, i), &der);
        if (len > 0 && der) out.emplace_back(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
        OPENSSL_free(der);
    }
    return out;
}

// SHA-256 of the server's leaf certificate (DER) as hex; "" when it sent none.
std::string leaf_sha256(SSL* ssl) {
    X509* leaf = SSL_get0_peer_certificate(ssl);
    if (!leaf) return std::string();
    unsigned char* der = nullptr;
    const int len = i2d_X509(leaf, &der);
    std::string out;
    if (len > 0 && der) out = sha256_hex(std::string_view(reinterpret_cast<char*>(der), static_cast<std::size_t>(len)));
    OPENSSL_free(der);
    return out;
}

log::Logger null_logger() {
    static const log::Logger logger =
        std::make_shared<spdlog::logger>("signpost-null", std::make_shared<spdlog::sinks::null_sink_mt>());
    return logger;
}

class Session {
public:
    Session(Job job, SessionTarget target, SessionOptions options, std::shared_ptr<StopSignal> stop,
            std::shared_ptr<Conn> conn)
        : job_(std::move(job)), target_(std::move(target)), opt_(std::move(options)), stop_(std::move(stop)),
          conn_(std::move(conn)), log_(opt_.logger ? opt_.logger : null_logger()) {
        result.remote_host = describe_endpoint(target_.host, target_.endpoint);
        result.tls = "none";
        for (const auto& r : job_.recipients) {
            RecipientResult rr;
            rr.address = r;
            result.recipients.push_back(std::move(rr));
        }
        decided_.assign(job_.recipients.size(), false);
        if (!opt_.pinned_sha256.empty()) {
            auto pin = normalize_sha256_pin(opt_.pinned_sha256);
            pin_malformed_ = !pin;
            if (pin) pin_ = std::move(*pin);
        }
        // Before handshake() may fill in a per-session TLS context.
        key_.endpoint = target_.endpoint;
        key_.host = target_.host;
        key_.tls = opt_.tls;
        key_.implicit_tls = opt_.implicit_tls;
        key_.tls_context = opt_.tls_context.get();
        key_.user = opt_.credentials ? opt_.credentials->user : std::string();
        key_.helo_name = opt_.helo_name;
        key_.pin = pin_;
        if (opt_.tls == TlsPolicy::dane)
            for (const auto& r : opt_.tlsa) key_.dane += dane::to_text(r) + ";";
    }

    awaitable<void> run();

    SessionResult result;
    bool connected = false;  // the TCP connection was made

private:
    // --- results --------------------------------------------------------------------------
    void decide(std::size_t i, Outcome outcome, int code, std::string enhanced, std::string text) {
        if (decided_[i]) return;
        decided_[i] = true;
        auto& r = result.recipients[i];
        r.outcome = outcome;
        r.code = code;
        r.enhanced = std::move(enhanced);
        r.text = std::move(text);
    }
    void decide(std::size_t i, Outcome outcome, const smtp::Reply& reply) {
        decide(i, outcome, reply.code, reply.enhanced, one_line(reply));
    }
    // Every recipient not decided yet.
    void decide_rest(Outcome outcome, int code, const std::string& enhanced, const std::string& text) {
        for (std::size_t i = 0; i < decided_.size(); ++i) decide(i, outcome, code, enhanced, text);
    }
    void decide_rest(Outcome outcome, const smtp::Reply& reply) {
        for (std::size_t i = 0; i < decided_.size(); ++i) decide(i, outcome, reply);
    }
    // The connection failed (I/O error, timeout, stop, malformed reply) `during` a step.
    void fail_connection(const std::string& during, error_code ec, const std::string& enhanced = "4.4.2") {
        std::string text;
        if (conn_->stopped || (stop_ && stop_->stopped())) text = "delivery stopped " + during;
        else if (conn_->timed_out || ec == asio::error::timed_out) text = "timeout " + during;
        else text = ec.message() + " " + during;
        log_->info("{}: {}", result.remote_host, text);
        decide_rest(Outcome::temporary, 0, enhanced, text);
    }

    // Our end of the connection, for TLS reports (RFC 8460 "sending-mta-ip").
    void note_local_address() {
        error_code ec;
        auto local = conn_->t->socket.local_endpoint(ec);
        if (!ec) result.local_ip = local.address().to_string();
    }

    // --- I/O --------------------------------------------------------------------------------
    error_code effective(error_code ec) const {
        if (!ec) return ec;
        if (conn_->stopped) return asio::error::operation_aborted;
        if (conn_->timed_out) return asio::error::timed_out;
        return ec;
    }

    awaitable<error_code> write(std::string_view data, Ms timeout) {
        Conn& c = *conn_;
        if (c.stopped) co_return error_code(asio::error::operation_aborted);
        c.arm(timeout);
        error_code ec;
        if (c.t->tls) {
            co_await asio::async_write(*c.t->tls, asio::buffer(data.data(), data.size()),
                                       asio::redirect_error(asio::use_awaitable, ec));
        } else {
            co_await asio::async_write(c.t->socket, asio::buffer(data.data(), data.size()),
                                       asio::redirect_error(asio::use_awaitable, ec));
        }
        c.disarm();
        co_return effective(ec);
    }

    awaitable<smtp::Result<smtp::Reply>> read_reply(Ms timeout) {
        Conn& c = *conn_;
        c.arm(timeout);
        std::array<char, 4096> buf;
        for (;;) {
            const std::size_t used = c.t->parser.feed(c.t->in);
            c.t->in.erase(0, used);
            if (c.t->parser.complete()) {
                c.disarm();
                auto r = c.t->parser.take();
                if (r) log_->debug("< {}{}{} {}", r->code, r->enhanced.empty() ? "" : " ", r->enhanced, one_line(*r));
                co_return r;
            }
            if (c.stopped) {
                c.disarm();
                co_return error_code(asio::error::operation_aborted);
            }
            error_code ec;
            std::size_t n = 0;
            if (c.t->tls) {
                n = co_await c.t->tls->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
            } else {
                n = co_await c.t->socket.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
            }
            if (ec) {
                c.disarm();
                co_return effective(ec);
            }
            c.t->in.append(buf.data(), n);
        }
    }

    // Writes one command line and reads its reply. `secret` lines are not logged.
    awaitable<smtp::Result<smtp::Reply>> command(std::string_view line, Ms timeout, bool secret = false) {
        if (!secret) log_->debug("> {}", line.substr(0, line.size() >= 2 ? line.size() - 2 : line.size()));
        error_code ec = co_await write(line, timeout);
        if (ec) co_return ec;
        auto r = co_await read_reply(timeout);
        co_return r;
    }

    // Best effort: QUIT and its reply (RFC 5321 §4.1.1.10), with a short deadline.
    awaitable<void> quit() {
        auto r = co_await command("QUIT\r\n", opt_.timeouts.quit);
        (void)r;
    }

    // --- steps ------------------------------------------------------------------------------
    awaitable<bool> reuse();
    awaitable<bool> open();
    awaitable<void> release();
    awaitable<bool> handshake();
    awaitable<bool> hello();

    // A reply that must be 220 (greeting, STARTTLS): anything else ends this session with
    // every undecided recipient temporary and another address worth trying; QUIT unless
    // the server already said 421.
    awaitable<bool> expect_220(const smtp::Result<smtp::Reply>& r, const char* during, const char* refused) {
        if (!r) {
            fail_connection(during, r.error());
            result.try_next = true;
            co_return false;
        }
        if (r->code == 220) co_return true;
        log_->info("{}: {}: {} {}", result.remote_host, refused, r->code, one_line(*r));
        decide_rest(Outcome::temporary, *r);
        result.try_next = true;
        if (r->code != 421) co_await quit();
        co_return false;
    }
    awaitable<bool> starttls();
    awaitable<bool> authenticate();
    awaitable<void> transaction();
    awaitable<bool> send_message();

    Job job_;
    SessionTarget target_;
    SessionOptions opt_;
    std::shared_ptr<StopSignal> stop_;
    std::shared_ptr<Conn> conn_;
    PoolKey key_;
    log::Logger log_;
    std::vector<bool> decided_;
    std::string pin_;             // SessionOptions::pinned_sha256, normalized; "" = none
    bool pin_malformed_ = false;  // a pin was given that is not a SHA-256 fingerprint
    smtp::Capabilities caps_;
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_{nullptr, &std::fclose};
};

awaitable<void> Session::run() {
    Conn& c = *conn_;
    if (stop_ && stop_->stopped()) {
        decide_rest(Outcome::temporary, 0, "4.3.0", "delivery stopped before connecting");
        co_return;
    }

    // The message first: a job whose bytes cannot be read must not open a transaction.
    file_.reset(std::fopen(job_.message_file.c_str(), "rb"));
    struct stat st {};
    if (!file_ || ::fstat(::fileno(file_.get()), &st) != 0) {
        decide_rest(Outcome::temporary, 0, "4.3.0",
                    "cannot read the message file " + job_.message_file.string() + ": " + std::strerror(errno));
        co_return;
    }
    if (static_cast<std::uint64_t>(st.st_size) < job_.size) {
        decide_rest(Outcome::temporary, 0, "4.3.0",
                    "the message file " + job_.message_file.string() + " is shorter than the message size");
        co_return;
    }

    // A pin that cannot be compared must not turn into "no pin" (fail closed).
    if (pin_malformed_) {
        decide_rest(Outcome::temporary, 0, "4.3.5", "the pinned certificate fingerprint is not a SHA-256 fingerprint");
        co_return;
    }

    bool reused = false;
    if (opt_.pool) {
        reused = co_await reuse();
        if (reused) note_local_address();
        if (!reused && (c.stopped || (stop_ && stop_->stopped()))) {
            decide_rest(Outcome::temporary, 0, "4.3.0", "delivery stopped before connecting");
            co_return;
        }
    }
    if (!reused) {
        bool ok = co_await open();
        if (!ok) co_return;
    }

    // RFC 6531 §3.4: a message that needs SMTPUTF8 (a UTF-8 address or header, decided at
    // ingest) must not go to a server without it. Another MX host of the domain may offer
    // it, so the next one is tried; when none does, the sender gets a DSN with 5.6.7
    // (RFC 6533 §3) that says Signpost decided, not the server.
    if (job_.smtputf8 && !caps_.smtputf8) {
        decide_rest(Outcome::permanent, 0, "5.6.7",
                    "the message needs SMTPUTF8 (RFC 6531) and " + result.remote_host + " does not offer it");
        result.try_next = true;
        co_await quit();
        co_return;
    }
    // RFC 8689 §4.2.1: a REQUIRETLS message goes only over TLS to a server that offers
    // REQUIRETLS, and the flag goes with it. Which TLS is good enough (verified) is the
    // routing's decision; here the session itself is checked. Another MX may offer it.
    if (job_.requiretls && (!conn_->t->tls || !caps_.requiretls)) {
        decide_rest(Outcome::permanent, 0, "5.7.30",
                    std::string("REQUIRETLS: ") + result.remote_host +
                        (conn_->t->tls ? " does not offer REQUIRETLS" : " was reached without TLS"));
        result.try_next = true;
        co_await quit();
        co_return;
    }
    // RFC 1870 §6: a message bigger than the server's fixed limit will be refused.
    const std::uint64_t message_size = job_.prepend.size() + job_.size;
    if (caps_.size && caps_.size_limit > 0 && message_size > caps_.size_limit) {
        decide_rest(Outcome::permanent, 0, "5.3.4",
                    "message size " + std::to_string(message_size) + " exceeds the fixed limit of " +
                        std::to_string(caps_.size_limit) + " of " + result.remote_host);
        co_await quit();
        co_return;
    }

    co_await transaction();
}

// A reused connection (ConnectionPool): RSET (RFC 5321 §4.1.1.5) must get 250. When it
// does not, the connection is dropped and the session starts afresh: a stale pooled
// connection is not the destination's failure, so nothing is decided here.
awaitable<bool> Session::reuse() {
    Conn& c = *conn_;
    auto pooled = opt_.pool->take(key_);
    if (!pooled) co_return false;
    c.t = std::move(pooled);
    result.remote_host = c.t->remote_host;
    result.tls = c.t->tls_description;
    result.verification = c.t->verification;
    caps_ = c.t->caps;
    log_->debug("{}: reusing a connection after {} transactions", result.remote_host, c.t->transactions);
    auto r = co_await command("RSET\r\n", opt_.timeouts.rset);
    if (r && r->code == 250) {
        connected = true;
        result.reused = true;
        co_return true;
    }
    log_->debug("{}: RSET on a reused connection failed ({}); connecting afresh", result.remote_host,
                r ? std::to_string(r->code) : r.error().message());
    c.drop();
    auto ex = co_await asio::this_coro::executor;
    c.t = std::make_unique<Connection>(ex);
    c.timed_out = false;
    result.remote_host = describe_endpoint(target_.host, target_.endpoint);
    result.tls = "none";
    result.verification.clear();
    caps_ = smtp::Capabilities{};
    co_return false;
}

// A new connection: connect, (implicit TLS,) greeting, EHLO, STARTTLS, AUTH. False when
// the session is over (every recipient decided).
awaitable<bool> Session::open() {
    Conn& c = *conn_;
    log_->debug("connecting to {}", result.remote_host);
    error_code ec;
    c.arm(opt_.timeouts.connect);
    co_await c.t->socket.async_connect(target_.endpoint, asio::redirect_error(asio::use_awaitable, ec));
    c.disarm();
    ec = effective(ec);
    if (ec || c.timed_out || c.stopped) {
        fail_connection("while connecting", ec, "4.4.1");
        result.try_next = true;
        co_return false;
    }
    connected = true;
    note_local_address();
    error_code ignored;
    c.t->socket.set_option(tcp::no_delay(true), ignored);

    if (opt_.implicit_tls) {
        bool ok = co_await handshake();
        if (!ok) co_return false;
    }

    // 421/554 and the like: this server will not talk to us now. Temporary: another
    // address, or a later attempt, may do better (Postfix's smtp_skip_5xx_greeting).
    auto greeting = co_await read_reply(opt_.timeouts.greeting);
    bool greeted = co_await expect_220(greeting, "waiting for the greeting", "greeting refused");
    if (!greeted) co_return false;

    bool ok = co_await hello();
    if (!ok) co_return false;
    if (!opt_.implicit_tls && opt_.tls != TlsPolicy::none_allowed_plaintext) {
        ok = co_await starttls();
        if (!ok) co_return false;
    }
    ok = co_await authenticate();
    co_return ok;
}

// After a clean transaction: into the pool when there is one, else QUIT.
awaitable<void> Session::release() {
    Conn& c = *conn_;
    const bool stopping = c.stopped || (stop_ && stop_->stopped());
    if (!opt_.pool || stopping || c.timed_out || !c.t->socket.is_open()) {
        co_await quit();
        co_return;
    }
    ++c.t->transactions;
    c.t->caps = caps_;
    c.t->remote_host = result.remote_host;
    c.t->tls_description = result.tls;
    c.t->verification = result.verification;
    opt_.pool->put(key_, std::move(c.t));  // no operation outstanding on it
}

awaitable<bool> Session::handshake() {
    Conn& c = *conn_;
    // DANE checks the chain itself after the handshake (relay/dane), never against CAs; a
    // pin replaces the CA and name check (checked after the handshake too).
    const bool verify = opt_.tls == TlsPolicy::required_verified && pin_.empty();
    if (!opt_.tls_context) {
        std::string error;
        opt_.tls_context = make_client_tls_context({}, error);
        if (!opt_.tls_context) {
            decide_rest(Outcome::temporary, 0, "4.7.5", "TLS: " + error);
            co_return false;
        }
    }
    c.t->tls = std::make_unique<ssl::stream<tcp::socket&>>(c.t->socket, *opt_.tls_context);
    SSL* ssl = c.t->tls->native_handle();
    const bool ip_host = is_ip_literal(target_.host);
    if (!ip_host && !target_.host.empty()) SSL_set_tlsext_host_name(ssl, target_.host.c_str());
    // The name check is set up in every mode: without verification OpenSSL still computes
    // the result (SSL_get_verify_result), which opportunistic deliveries report (MTA-STS
    // testing mode counts what enforce would have refused).
    int set = 0;
    if (ip_host) {
        set = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), target_.host.c_str());
    } else if (!target_.host.empty()) {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        set = SSL_set1_host(ssl, target_.host.c_str());
    }
    if (verify) {
        c.t->tls->set_verify_mode(ssl::verify_peer);
        if (set != 1) {
            decide_rest(Outcome::temporary, 0, "4.7.5", "no usable host name to verify the certificate against");
            co_return false;
        }
    } else {
        c.t->tls->set_verify_mode(ssl::verify_none);
    }
    error_code ec;
    c.arm(opt_.timeouts.tls_handshake);
    co_await c.t->tls->async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    c.disarm();
    ec = effective(ec);
    if (ec || c.timed_out || c.stopped) {
        const long v = SSL_get_verify_result(ssl);
        if (verify && v != X509_V_OK && !c.timed_out && !c.stopped) {
            const std::string text = std::string("TLS certificate of ") + result.remote_host +
                                     " not verified: " + X509_verify_cert_error_string(v);
            log_->info("{}", text);
            decide_rest(Outcome::temporary, 0, "4.7.5", text);
        } else {
            fail_connection("in the TLS handshake", ec, "4.7.5");
        }
        result.try_next = true;
        co_return false;
    }
    result.tls = std::string(SSL_get_version(ssl)) + " " + SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
    const long v = SSL_get_verify_result(ssl);
    result.verification = set != 1 ? "not checked (no host name)"
                          : v == X509_V_OK ? "verified"
                                           : std::string("not verified: ") + X509_verify_cert_error_string(v);
    if (opt_.tls == TlsPolicy::required_encrypted) result.verification = "not checked (DANE: no usable TLSA record)";
    if (!pin_.empty()) {
        // Before a single SMTP command goes over this connection.
        const std::string presented = leaf_sha256(ssl);
        if (presented != pin_) {
            // No `?:` over std::string temporaries in coroutines: GCC 12 destroys them twice.
            std::string text = std::string("TLS certificate of ") + result.remote_host +
                               " does not match the pinned fingerprint: expected sha256 " + pin_ + ", presented ";
            if (presented.empty()) text += "no certificate";
            else text += "sha256 " + presented;
            log_->warn("{}", text);
            decide_rest(Outcome::temporary, 0, "4.7.5", text);
            result.try_next = true;
            co_return false;
        }
        result.verification = std::string("pinned (sha256 ") + pin_ + ")";
    }
    if (opt_.tls == TlsPolicy::dane) {
        // Before a single SMTP command goes over this connection.
        const dane::Verdict verdict = dane::verify(peer_chain(ssl), opt_.tlsa, opt_.dane_names, std::time(nullptr));
        if (!verdict.ok()) {
            const std::string text = "DANE: the certificate of " + result.remote_host + " does not match: " + verdict.detail;
            log_->info("{}", text);
            result.dane_failure = dane::to_string(verdict.failure);
            decide_rest(Outcome::temporary, 0, "4.7.5", text);
            result.try_next = true;
            co_return false;
        }
        result.verification = "dane: " + verdict.detail;
    }
    log_->debug("{}: TLS {}, certificate {}", result.remote_host, result.tls, result.verification);
    co_return true;
}

awaitable<bool> Session::hello() {
    auto ehlo = smtp::format_ehlo(opt_.helo_name);
    auto helo = smtp::format_helo(opt_.helo_name);
    if (!ehlo || !helo) {
        decide_rest(Outcome::temporary, 0, "4.3.5", "our host name \"" + opt_.helo_name + "\" cannot be sent in EHLO");
        co_return false;
    }
    auto r = co_await command(*ehlo, opt_.timeouts.command);
    if (!r) {
        fail_connection("in reply to EHLO", r.error());
        result.try_next = true;
        co_return false;
    }
    if (r->code / 100 == 2) {
        caps_ = smtp::parse_ehlo(*r);
        co_return true;
    }
    if (r->code / 100 == 5) {  // RFC 5321 §3.2: a server without EHLO gets HELO
        r = co_await command(*helo, opt_.timeouts.command);
        if (!r) {
            fail_connection("in reply to HELO", r.error());
            result.try_next = true;
            co_return false;
        }
        if (r->code / 100 == 2) {
            caps_ = smtp::Capabilities{};
            co_return true;
        }
    }
    log_->info("{}: EHLO/HELO refused: {} {}", result.remote_host, r->code, one_line(*r));
    decide_rest(Outcome::temporary, *r);
    result.try_next = true;
    if (r->code != 421) co_await quit();
    co_return false;
}

awaitable<bool> Session::starttls() {
    Conn& c = *conn_;
    if (!caps_.starttls) {
        if (opt_.tls == TlsPolicy::required_verified || opt_.tls == TlsPolicy::required_encrypted ||
            opt_.tls == TlsPolicy::dane) {
            const std::string text = result.remote_host + " does not offer STARTTLS, and TLS is required" +
                                     (opt_.tls == TlsPolicy::required_verified ? "" : " (DANE)");
            log_->info("{}", text);
            if (opt_.tls != TlsPolicy::required_verified) result.dane_failure = "starttls-not-supported";
            decide_rest(Outcome::temporary, 0, "4.7.4", text);
            result.try_next = true;
            co_await quit();
            co_return false;
        }
        co_return true;  // opportunistic: plaintext, since TLS was never offered
    }
    // Offered, then refused: no plaintext fallback (see the header).
    auto r = co_await command("STARTTLS\r\n", opt_.timeouts.command);
    bool go = co_await expect_220(r, "in reply to STARTTLS", "STARTTLS refused");
    if (!go) co_return false;
    // RFC 3207 §4.2: nothing the server sent before the handshake may be trusted.
    c.t->in.clear();
    c.t->parser = smtp::ReplyParser{};
    bool ok = co_await handshake();
    if (!ok) co_return false;
    // RFC 3207 §4.2: forget what the server said before TLS; ask again.
    ok = co_await hello();
    co_return ok;
}

awaitable<bool> Session::authenticate() {
    if (!opt_.credentials) co_return true;
    if (!conn_->t->tls) {
        const std::string text = "credentials are configured but the connection to " + result.remote_host +
                                 " is not encrypted; AUTH not attempted";
        log_->warn("{}", text);
        decide_rest(Outcome::temporary, 0, "4.7.11", text);
        result.try_next = true;
        co_await quit();
        co_return false;
    }
    const auto& cred = *opt_.credentials;
    std::optional<smtp::Result<smtp::Reply>> r;
    std::string mechanism;
    if (caps_.has_auth("PLAIN")) {
        mechanism = "PLAIN";
        auto line = smtp::format_auth_plain(cred.user, cred.password);
        if (!line) {
            decide_rest(Outcome::temporary, 0, "4.3.5", "the configured credentials cannot be sent (empty or NUL)");
            co_await quit();
            co_return false;
        }
        log_->debug("> AUTH PLAIN (credentials for {})", cred.user);
        r = co_await command(*line, opt_.timeouts.command, true);
        smtp::secure_clear(*line);
    } else if (caps_.has_auth("LOGIN")) {
        mechanism = "LOGIN";
        r = co_await command(smtp::auth_login_command, opt_.timeouts.command);
        if (*r && (*r)->code == 334) {
            std::string user = smtp::auth_login_response(cred.user);
            r = co_await command(user, opt_.timeouts.command, true);
        }
        if (*r && (*r)->code == 334) {
            std::string password = smtp::auth_login_response(cred.password);
            r = co_await command(password, opt_.timeouts.command, true);
            smtp::secure_clear(password);
        }
    } else {
        const std::string text = result.remote_host + " offers neither AUTH PLAIN nor AUTH LOGIN";
        log_->warn("{}", text);
        decide_rest(Outcome::temporary, 0, "4.7.4", text);
        co_await quit();
        co_return false;
    }
    if (!*r) {
        fail_connection("in reply to AUTH", r->error());
        co_return false;
    }
    const smtp::Reply& reply = **r;
    if (reply.code != 235) {
        // 535 5.7.8 and the like: keep the reply, retry later (credentials may be fixed).
        log_->warn("{}: AUTH {} as {} refused: {} {} {}", result.remote_host, mechanism, cred.user, reply.code,
                   reply.enhanced, one_line(reply));
        decide_rest(Outcome::temporary, reply);
        // After a 334 the server waits for a SASL response, not QUIT: just close.
        if (reply.code != 421 && reply.code != 334) co_await quit();
        co_return false;
    }
    log_->debug("{}: authenticated as {} ({})", result.remote_host, cred.user, mechanism);
    co_return true;
}

awaitable<void> Session::transaction() {
    const std::uint64_t message_size = job_.prepend.size() + job_.size;
    auto mail = smtp::format_mail_from(job_.mail_from, caps_, message_size, job_.body_8bit, job_.smtputf8, job_.requiretls);
    if (!mail) {
        decide_rest(Outcome::permanent, 0, "5.1.7", "the sender address cannot be sent (control characters)");
        co_await quit();
        co_return;
    }
    // RFC 6152 §3 says an 8-bit body must not go to a server that does not offer 8BITMIME
    // (the relay should convert or bounce). Practical relays send it anyway and receivers
    // accept it; so do we, without BODY=8BITMIME (format_mail_from leaves it out).
    std::vector<std::size_t> sent;  // recipients with a RCPT line, in order
    std::vector<std::string> rcpt_lines;
    for (std::size_t i = 0; i < job_.recipients.size(); ++i) {
        auto line = smtp::format_rcpt_to(job_.recipients[i]);
        if (!line) {
            decide(i, Outcome::permanent, 0, "5.1.3", "the recipient address cannot be sent (control characters)");
            continue;
        }
        sent.push_back(i);
        rcpt_lines.push_back(std::move(*line));
    }
    if (sent.empty()) {
        co_await quit();
        co_return;
    }

    std::optional<smtp::Reply> mail_reply;
    std::vector<std::optional<smtp::Reply>> rcpt_replies(sent.size());
    if (caps_.pipelining) {
        // RFC 2920 §3.1: MAIL and every RCPT in one write, then the replies in order. Every
        // reply is read even when MAIL fails (the RCPTs then get 503s) to stay in step.
        std::string batch = *mail;
        for (const auto& l : rcpt_lines) batch += l;
        log_->debug("> MAIL FROM:<{}> + {} RCPT (pipelined)", job_.mail_from, rcpt_lines.size());
        error_code ec = co_await write(batch, opt_.timeouts.mail);
        if (ec) {
            fail_connection("sending MAIL FROM and RCPT TO", ec);
            result.try_next = true;
            co_return;
        }
        auto m = co_await read_reply(opt_.timeouts.mail);
        if (!m) {
            fail_connection("in reply to MAIL FROM", m.error());
            result.try_next = true;
            co_return;
        }
        mail_reply = std::move(*m);
        for (std::size_t k = 0; k < sent.size(); ++k) {
            if (mail_reply->code == 421) break;  // the server is closing
            auto r = co_await read_reply(opt_.timeouts.rcpt);
            if (!r) {
                fail_connection("in reply to RCPT TO", r.error());
                result.try_next = true;
                co_return;
            }
            rcpt_replies[k] = std::move(*r);
            if (rcpt_replies[k]->code == 421) break;
        }
    } else {
        auto m = co_await command(*mail, opt_.timeouts.mail);
        if (!m) {
            fail_connection("in reply to MAIL FROM", m.error());
            result.try_next = true;
            co_return;
        }
        mail_reply = std::move(*m);
        if (mail_reply->code / 100 == 2) {
            for (std::size_t k = 0; k < sent.size(); ++k) {
                auto r = co_await command(rcpt_lines[k], opt_.timeouts.rcpt);
                if (!r) {
                    fail_connection("in reply to RCPT TO", r.error());
                    result.try_next = true;
                    co_return;
                }
                rcpt_replies[k] = std::move(*r);
                if (rcpt_replies[k]->code == 421) break;
            }
        }
    }

    if (mail_reply->code / 100 != 2) {
        log_->info("{}: MAIL FROM:<{}> refused: {} {} {}", result.remote_host, job_.mail_from, mail_reply->code,
                   mail_reply->enhanced, one_line(*mail_reply));
        decide_rest(refusal(mail_reply->code), *mail_reply);
        if (mail_reply->code != 421) co_await quit();
        co_return;
    }
    std::vector<std::size_t> accepted;
    for (std::size_t k = 0; k < sent.size(); ++k) {
        const auto& r = rcpt_replies[k];
        if (!r) continue;  // after a 421: decided below
        if (r->code / 100 == 2) accepted.push_back(sent[k]);
        else decide(sent[k], refusal(r->code), *r);
        if (r->code == 421) {
            decide_rest(Outcome::temporary, *r);
            co_return;
        }
    }
    if (accepted.empty()) {
        co_await quit();
        co_return;
    }

    auto d = co_await command("DATA\r\n", opt_.timeouts.data_init);
    if (!d) {
        fail_connection("in reply to DATA", d.error());
        result.try_next = true;
        co_return;
    }
    if (d->code != 354) {
        log_->info("{}: DATA refused: {} {} {}", result.remote_host, d->code, d->enhanced, one_line(*d));
        for (std::size_t i : accepted) decide(i, refusal(d->code), *d);
        if (d->code != 421) co_await quit();
        co_return;
    }
    bool ok = co_await send_message();
    if (!ok) co_return;
    auto f = co_await read_reply(opt_.timeouts.data_end);
    if (!f) {
        // The data went out; the server may have it. Temporary (perhaps a duplicate later),
        // and not on another address at once.
        fail_connection("waiting for the reply to the end of data", f.error());
        co_return;
    }
    const Outcome outcome = f->code / 100 == 2 ? Outcome::delivered : refusal(f->code);
    for (std::size_t i : accepted) decide(i, outcome, *f);
    if (f->code != 421) co_await release();  // 421: the server is closing (RFC 5321 §3.8)
}

awaitable<bool> Session::send_message() {
    smtp::DotStuffer stuffer;
    std::string out;
    stuffer.feed(job_.prepend, out);
    std::vector<char> buf(file_block);
    std::uint64_t left = job_.size;
    bool finished = false;
    while (!finished) {
        while (out.size() < file_block && left > 0) {
            const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
            const std::size_t n = std::fread(buf.data(), 1, want, file_.get());
            if (n == 0) {
                // Cut the connection without the terminator: the server discards the
                // partial message.
                const std::string why = std::ferror(file_.get()) ? std::strerror(errno) : "unexpected end of file";
                decide_rest(Outcome::temporary, 0, "4.3.0",
                            "reading the message file " + job_.message_file.string() + ": " + why);
                conn_->drop();
                co_return false;
            }
            left -= n;
            stuffer.feed(std::string_view(buf.data(), n), out);
        }
        if (left == 0) {
            stuffer.finish(out);
            finished = true;
        }
        error_code ec = co_await write(out, opt_.timeouts.data_block);
        if (ec) {
            // The terminator was not (completely) written: the server cannot have the message.
            fail_connection("while sending the message", ec);
            result.try_next = true;
            co_return false;
        }
        out.clear();
    }
    log_->debug("> ({} message octets)", stuffer.octets_in());
    co_return true;
}

}  // namespace

awaitable<SessionResult> run_smtp_session(Job job, SessionTarget target, SessionOptions options,
                                          std::shared_ptr<StopSignal> stop) {
    auto ex = co_await asio::this_coro::executor;
    auto conn = std::make_shared<Conn>(ex);
    Session session(std::move(job), std::move(target), std::move(options), stop, conn);

    // Whatever happens (an exception included), the watchdog ends and the socket closes.
    struct Cleanup {
        std::shared_ptr<Conn> conn;
        std::shared_ptr<StopSignal> stop;
        ~Cleanup() {
            if (stop) stop->clear_handler();
            conn->done = true;
            conn->watchdog.cancel();
            conn->drop();
        }
    } cleanup{conn, stop};

    if (stop) {
        std::weak_ptr<Conn> weak = conn;
        stop->set_handler([weak, ex] {
            asio::post(ex, [weak] {
                if (auto c = weak.lock()) {
                    c->stopped = true;
                    c->drop();
                }
            });
        });
    }
    asio::co_spawn(ex, watch(conn), asio::detached);
    co_await session.run();
    for (auto& r : session.result.recipients) {
        r.remote_host = session.connected ? session.result.remote_host : std::string();
        r.tls = session.result.tls;
    }
    co_return std::move(session.result);
}

}  // namespace signpost::delivery
