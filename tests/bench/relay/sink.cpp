// tests/bench/relay/sink.cpp — bench_sink, the receiving SMTP server of the end-to-end relay
// benchmark: the relays under test (Signpost, Postfix) deliver to it on loopback, and it
// accepts everything while spending as little CPU as it can.
//
// What it speaks: RFC 5321 HELO/EHLO, MAIL, RCPT (every recipient accepted), DATA (RFC 5321
// §4.5.2 dot-unstuffing), RSET, NOOP, QUIT; PIPELINING (RFC 2920: replies in order, sent
// when the input runs dry), SIZE (RFC 1870), 8BITMIME (RFC 6152), ENHANCEDSTATUSCODES
// (RFC 2034), STARTTLS (RFC 3207, TLS 1.2/1.3; input buffered behind the STARTTLS line is
// discarded and a fresh EHLO is required). Plaintext transactions are accepted too.
// Deliberately absent: AUTH, CHUNKING, SMTPUTF8, VRFY/EXPN (502), address checks beyond
// "<...>" syntax, fsync.
//
// Bounds (input is untrusted): loopback listen addresses only (127.0.0.0/8, ::1); command
// lines 4096 octets (500 5.5.2); messages 64 MiB after unstuffing (552 5.3.4); 10000
// recipients per message (452 4.5.3); the 5th protocol error on a connection is answered
// 421 and the connection closed; 120 s per read, write or TLS handshake; 1024 connections
// (421 4.3.2 beyond). The end of data is CRLF "." CRLF only: a "." after a bare LF is data.
//
// Output: "READY <addr>:<port>" on stdout once listening. --status FILE: one line
// "messages=M recipients=R tls=T", rewritten (temp + rename) at most every 100 ms when it
// changed, on SIGUSR1 and at exit. --store DIR: the first --store-max messages as
// DIR/<n>.eml, the exact dot-unstuffed octets, written as DIR/.<n>.eml.tmp and renamed, and
// counted (and answered 250) only after that. SIGTERM/SIGINT: stop, write the status, exit 0.
// --self-check: serve on an ephemeral loopback port with a generated certificate, drive a
// scripted client against it, compare stored octets and counts; exit 0 when all match.
//
// Threading: one io_context run by --threads threads; each connection's session and its
// watchdog on the connection's own strand; counters are atomics; store and status files are
// written with blocking calls on the I/O threads. GCC 12 miscompiles co_await inside
// conditions, so every co_await here is a statement or an initializer of its own.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

namespace sink {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// --- limits ------------------------------------------------------------------------------

constexpr std::size_t kMaxLine = 4096;                  // command line, without CRLF
constexpr std::uint64_t kMaxMessage = 64ull << 20;      // octets after dot-unstuffing
constexpr std::size_t kMaxRecipients = 10000;           // per transaction
constexpr int kMaxErrors = 5;                           // the 5th error: 421, close
constexpr auto kIdle = std::chrono::seconds(120);       // each read, write, handshake
constexpr auto kTlsShutdown = std::chrono::seconds(5);  // close_notify exchange at the end
constexpr int kMaxConnections = 1024;
constexpr std::size_t kReadBuffer = 64 * 1024;          // > kMaxLine: a line always fits
constexpr auto kStatusInterval = std::chrono::milliseconds(100);
constexpr const char* kHostname = "bench-sink.test";

static_assert(kReadBuffer > kMaxLine + 2);

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'a' && x <= 'z')
            x = char(x - 'a' + 'A');
        if (y >= 'a' && y <= 'z')
            y = char(y - 'a' + 'A');
        if (x != y)
            return false;
    }
    return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// --- where accepted messages go ----------------------------------------------------------

class Delivery {
public:
    virtual ~Delivery() = default;
    // Whether the next message's octets are wanted (for --store); asked at DATA.
    virtual bool keep_body() const = 0;
    // A message was accepted: store it (body is null unless keep_body() said so) and count
    // it. Returns the queue id, or nothing when it could not be stored (451).
    virtual std::optional<std::uint64_t> deliver(const std::string* body, std::size_t recipients, bool tls) = 0;
};

// --- DATA reader (RFC 5321 §4.5.2) -------------------------------------------------------
//
// Takes the octets after the 354 and yields the message: a line that begins with "." loses
// that dot, and the line "." ends the data. A line begins after CRLF only (so "a\n.\r\n" is
// data, not the end). Octets beyond the size limit are counted, not kept.
class DataReader {
public:
    explicit DataReader(std::uint64_t limit) : limit_(limit) {}

    void start(std::string* body) {
        body_ = body;
        if (body_)
            body_->clear();
        size_ = 0;
        line_start_ = true;
        prev_cr_ = false;
    }

    // Consumes what it can of `in`; sets `done` once the terminating line is consumed. Leaves
    // at most two octets (a "." or ".\r" at the start of a line) for the next call.
    std::size_t feed(std::string_view in, bool& done) {
        done = false;
        std::size_t i = 0;
        const std::size_t n = in.size();
        while (i < n) {
            if (line_start_) {
                if (in[i] == '.') {
                    if (n - i < 2)
                        return i;
                    if (in[i + 1] == '\r') {
                        if (n - i < 3)
                            return i;
                        if (in[i + 2] == '\n') {
                            done = true;
                            return i + 3;
                        }
                    }
                    ++i;  // the stuffed dot
                }
                line_start_ = false;
                continue;
            }
            const void* nl = std::memchr(in.data() + i, '\n', n - i);
            std::size_t end = nl ? std::size_t(static_cast<const char*>(nl) - in.data()) + 1 : n;
            take(in.substr(i, end - i));
            if (nl) {
                line_start_ = end - i >= 2 ? in[end - 2] == '\r' : prev_cr_;
                prev_cr_ = false;
            } else {
                prev_cr_ = in[n - 1] == '\r';
            }
            i = end;
        }
        return i;
    }

    bool too_big() const { return size_ > limit_; }

private:
    void take(std::string_view octets) {
        size_ += octets.size();
        if (!body_)
            return;
        if (size_ > limit_) {
            body_->clear();
            body_ = nullptr;
            return;
        }
        body_->append(octets);
    }

    std::uint64_t limit_;
    std::string* body_ = nullptr;
    std::uint64_t size_ = 0;
    bool line_start_ = true;
    bool prev_cr_ = false;
};

// --- the SMTP protocol, without I/O ------------------------------------------------------
//
// consume() takes the buffered input, appends the replies to `out` and says what the I/O
// layer does next: read more (after sending `out`), start TLS (send `out`, drop the rest of
// the input, handshake, then tls_started()), or close (send `out` first).
class Protocol {
public:
    enum class Action { read, starttls, close };

    Protocol(Delivery& delivery, bool tls_offered) : delivery_(delivery), tls_offered_(tls_offered) {}

    static void greeting(std::string& out) { out.append("220 ").append(kHostname).append(" ESMTP bench_sink\r\n"); }

    Action consume(std::string_view in, std::size_t& used, std::string& out) {
        used = 0;
        while (used < in.size()) {
            std::string_view rest = in.substr(used);
            if (state_ == State::data) {
                bool done = false;
                used += reader_.feed(rest, done);
                if (!done)
                    return Action::read;
                end_of_data(out);
                state_ = State::command;
                continue;
            }
            const void* nlp = std::memchr(rest.data(), '\n', rest.size());
            if (state_ == State::discard) {
                if (!nlp) {
                    used = in.size();
                    return Action::read;
                }
                used += std::size_t(static_cast<const char*>(nlp) - rest.data()) + 1;
                state_ = State::command;
                Action a = error("500 5.5.2 Line too long\r\n", out);
                if (a != Action::read)
                    return a;
                continue;
            }
            if (!nlp) {
                if (rest.size() > kMaxLine + 1) {  // no end in sight: skip to the next LF
                    state_ = State::discard;
                    used = in.size();
                }
                return Action::read;
            }
            std::size_t nl = std::size_t(static_cast<const char*>(nlp) - rest.data());
            used += nl + 1;
            std::string_view line = rest.substr(0, nl);
            if (!line.empty() && line.back() == '\r')
                line.remove_suffix(1);
            Action a = line.size() > kMaxLine ? error("500 5.5.2 Line too long\r\n", out) : command(line, out);
            if (a != Action::read)
                return a;
        }
        return Action::read;
    }

    // RFC 3207 §4.2: after the handshake the session starts over (no HELO/EHLO known).
    void tls_started() {
        tls_ = true;
        greeted_ = false;
        reset_transaction();
    }

private:
    enum class State { command, data, discard };

    Action command(std::string_view line, std::string& out) {
        std::size_t sp = line.find(' ');
        std::string_view verb = line.substr(0, sp);
        std::string_view args = sp == std::string_view::npos ? std::string_view() : trim(line.substr(sp + 1));

        if (iequals(verb, "EHLO") || iequals(verb, "HELO")) {
            if (args.empty())
                return error("501 5.5.4 Syntax: EHLO hostname\r\n", out);
            greeted_ = true;
            reset_transaction();
            if (iequals(verb, "HELO")) {
                out.append("250 ").append(kHostname).append("\r\n");
                return Action::read;
            }
            out.append("250-").append(kHostname).append("\r\n250-PIPELINING\r\n250-SIZE ");
            out.append(std::to_string(kMaxMessage)).append("\r\n250-8BITMIME\r\n");
            if (tls_offered_ && !tls_)
                out.append("250-STARTTLS\r\n");
            out.append("250 ENHANCEDSTATUSCODES\r\n");
            return Action::read;
        }
        if (iequals(verb, "MAIL")) {
            if (!greeted_)
                return error("503 5.5.1 Send EHLO first\r\n", out);
            if (in_mail_)
                return error("503 5.5.1 Nested MAIL command\r\n", out);
            std::string_view params;
            if (!istarts_with(args, "FROM:") || !path(args.substr(5), params))
                return error("501 5.5.4 Syntax: MAIL FROM:<address>\r\n", out);
            if (too_large(params)) {
                out.append("552 5.3.4 Message size exceeds fixed limit\r\n");
                return Action::read;
            }
            in_mail_ = true;
            out.append("250 2.1.0 Ok\r\n");
            return Action::read;
        }
        if (iequals(verb, "RCPT")) {
            if (!in_mail_)
                return error("503 5.5.1 Need MAIL command\r\n", out);
            std::string_view params;
            if (!istarts_with(args, "TO:") || !path(args.substr(3), params))
                return error("501 5.5.4 Syntax: RCPT TO:<address>\r\n", out);
            if (recipients_ >= kMaxRecipients) {
                out.append("452 4.5.3 Too many recipients\r\n");
                return Action::read;
            }
            ++recipients_;
            out.append("250 2.1.5 Ok\r\n");
            return Action::read;
        }
        if (iequals(verb, "DATA")) {
            if (!in_mail_)
                return error("503 5.5.1 Need MAIL command\r\n", out);
            if (recipients_ == 0)
                return error("503 5.5.1 Need RCPT command\r\n", out);
            if (!args.empty())
                return error("501 5.5.4 Syntax: DATA\r\n", out);
            keep_ = delivery_.keep_body();
            reader_.start(keep_ ? &body_ : nullptr);
            state_ = State::data;
            out.append("354 End data with <CR><LF>.<CR><LF>\r\n");
            return Action::read;
        }
        if (iequals(verb, "RSET")) {
            reset_transaction();
            out.append("250 2.0.0 Ok\r\n");
            return Action::read;
        }
        if (iequals(verb, "NOOP")) {
            out.append("250 2.0.0 Ok\r\n");
            return Action::read;
        }
        if (iequals(verb, "QUIT")) {
            out.append("221 2.0.0 Bye\r\n");
            return Action::close;
        }
        if (iequals(verb, "STARTTLS")) {
            if (tls_ || !tls_offered_)
                return error("503 5.5.1 TLS not available\r\n", out);
            if (!args.empty())
                return error("501 5.5.4 Syntax: STARTTLS\r\n", out);
            out.append("220 2.0.0 Ready to start TLS\r\n");
            return Action::starttls;
        }
        return error("502 5.5.2 Command not recognized\r\n", out);
    }

    void end_of_data(std::string& out) {
        if (reader_.too_big()) {
            out.append("552 5.3.4 Message size exceeds fixed limit\r\n");
        } else {
            std::optional<std::uint64_t> id = delivery_.deliver(keep_ ? &body_ : nullptr, recipients_, tls_);
            if (id)
                out.append("250 2.0.0 Ok: queued as ").append(std::to_string(*id)).append("\r\n");
            else
                out.append("451 4.3.0 Could not store the message\r\n");
        }
        reset_transaction();
    }

    // "<...>" (after optional spaces), then parameters; `params` gets the parameters.
    static bool path(std::string_view s, std::string_view& params) {
        s = trim(s);
        if (s.empty() || s.front() != '<')
            return false;
        std::size_t close = s.find('>');
        if (close == std::string_view::npos)
            return false;
        params = trim(s.substr(close + 1));
        return true;
    }

    // RFC 1870 §6: a declared SIZE above the limit is refused at MAIL.
    static bool too_large(std::string_view params) {
        while (!params.empty()) {
            std::size_t sp = params.find(' ');
            std::string_view p = params.substr(0, sp);
            params = sp == std::string_view::npos ? std::string_view() : trim(params.substr(sp + 1));
            if (!istarts_with(p, "SIZE="))
                continue;
            std::uint64_t size = 0;
            auto [ptr, ec] = std::from_chars(p.data() + 5, p.data() + p.size(), size);
            if (ec == std::errc::result_out_of_range)
                return true;
            if (ec == std::errc() && ptr == p.data() + p.size() && size > kMaxMessage)
                return true;
        }
        return false;
    }

    Action error(std::string_view reply, std::string& out) {
        if (++errors_ >= kMaxErrors) {
            out.append("421 4.7.0 Too many errors, closing connection\r\n");
            return Action::close;
        }
        out.append(reply);
        return Action::read;
    }

    void reset_transaction() {
        in_mail_ = false;
        recipients_ = 0;
    }

    Delivery& delivery_;
    const bool tls_offered_;
    bool tls_ = false;
    bool greeted_ = false;
    bool in_mail_ = false;
    bool keep_ = false;
    std::size_t recipients_ = 0;
    int errors_ = 0;
    State state_ = State::command;
    DataReader reader_{kMaxMessage};
    std::string body_;
};

// --- configuration -----------------------------------------------------------------------

struct Config {
    tcp::endpoint listen;
    std::string cert, key;
    std::string store_dir;
    std::uint64_t store_max = std::numeric_limits<std::uint64_t>::max();
    std::string status_file;
    unsigned threads = 2;
};

// "127.0.0.1:2525" or "[::1]:2525"; loopback addresses only.
bool parse_listen(std::string_view text, tcp::endpoint& out, std::string& error) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        error = "expected ADDRESS:PORT";
        return false;
    }
    std::string_view host = text.substr(0, colon), port_text = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    unsigned port = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() || port > 65535) {
        error = "bad port";
        return false;
    }
    boost::system::error_code aec;
    asio::ip::address address = asio::ip::make_address(std::string(host), aec);
    if (aec) {
        error = "expected an IP address, not \"" + std::string(host) + "\"";
        return false;
    }
    if (!address.is_loopback()) {
        error = "not a loopback address; the sink accepts every message, so it listens on 127.0.0.0/8 or ::1 only";
        return false;
    }
    out = tcp::endpoint(address, static_cast<unsigned short>(port));
    return true;
}

std::string endpoint_text(const tcp::endpoint& ep) {
    std::string a = ep.address().to_string();
    if (ep.address().is_v6())
        a = "[" + a + "]";
    return a + ":" + std::to_string(ep.port());
}

// --- TLS contexts ------------------------------------------------------------------------

std::string openssl_error() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0)
        return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

ssl::context base_server_context() {
    ssl::context ctx(ssl::context::tls_server);
    SSL_CTX* h = ctx.native_handle();
    SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    // Server-side session cache (TLS 1.2 session ids); TLS 1.3 tickets need no state.
    static const unsigned char kSessionContext[] = "bench_sink";
    SSL_CTX_set_session_id_context(h, kSessionContext, sizeof kSessionContext - 1);
    return ctx;
}

ssl::context server_context_from_files(const std::string& cert, const std::string& key) {
    ssl::context ctx = base_server_context();
    SSL_CTX* h = ctx.native_handle();
    if (SSL_CTX_use_certificate_chain_file(h, cert.c_str()) != 1)
        throw std::runtime_error("--cert " + cert + ": " + openssl_error());
    if (SSL_CTX_use_PrivateKey_file(h, key.c_str(), SSL_FILETYPE_PEM) != 1)
        throw std::runtime_error("--key " + key + ": " + openssl_error());
    if (SSL_CTX_check_private_key(h) != 1)
        throw std::runtime_error("--key " + key + " does not match --cert " + cert);
    return ctx;
}

// A throwaway P-256 key and a self-signed certificate for it (CN=bench-sink.test, 1 day).
ssl::context server_context_self_signed() {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(EVP_EC_gen("P-256"), EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
    if (!pkey || !cert)
        throw std::runtime_error("key generation: " + openssl_error());
    X509* x = cert.get();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(kHostname), -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (X509_set_pubkey(x, pkey.get()) != 1 || X509_sign(x, pkey.get(), EVP_sha256()) == 0)
        throw std::runtime_error("self-signed certificate: " + openssl_error());
    ssl::context ctx = base_server_context();
    if (SSL_CTX_use_certificate(ctx.native_handle(), x) != 1 ||
        SSL_CTX_use_PrivateKey(ctx.native_handle(), pkey.get()) != 1)
        throw std::runtime_error("self-signed certificate: " + openssl_error());
    return ctx;
}

// --- files -------------------------------------------------------------------------------

// Writes `data` to `tmp`, then renames it to `path`: a reader sees all of it or nothing.
bool write_file_atomically(const std::string& tmp, const std::string& path, std::string_view data) {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return false;
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ::close(fd);
            ::unlink(tmp.c_str());
            return false;
        }
        off += std::size_t(n);
    }
    if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return false;
    }
    return true;
}

void report_exception(std::exception_ptr e) {
    if (!e)
        return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        std::fprintf(stderr, "bench_sink: %s\n", x.what());
    }
}

// --- the server --------------------------------------------------------------------------

class Server final : public Delivery {
public:
    Server(Config config, ssl::context tls)
        : config_(std::move(config)), tls_(std::move(tls)), acceptor_(asio::make_strand(io_)),
          status_timer_(asio::make_strand(io_)), signals_(io_) {}

    ~Server() override { stop(); join(); }

    // Binds and listens (throws on failure), then starts the I/O threads.
    void start(bool handle_signals) {
        if (!config_.store_dir.empty())
            std::filesystem::create_directories(config_.store_dir);
        acceptor_.open(config_.listen.protocol());
        acceptor_.set_option(tcp::acceptor::reuse_address(true));
        boost::system::error_code ec;
        acceptor_.bind(config_.listen, ec);
        if (!ec)
            acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        if (ec)
            throw std::runtime_error("cannot listen on " + endpoint_text(config_.listen) + ": " + ec.message());
        if (!write_status(true))
            throw std::runtime_error("cannot write --status " + config_.status_file + ": " + std::strerror(errno));
        asio::co_spawn(acceptor_.get_executor(), accept_loop(), report_exception);
        if (!config_.status_file.empty())
            asio::co_spawn(status_timer_.get_executor(), status_loop(), report_exception);
        if (handle_signals) {
            signals_.add(SIGINT);
            signals_.add(SIGTERM);
            signals_.add(SIGUSR1);
            asio::co_spawn(io_, signal_loop(), report_exception);
        }
        for (unsigned i = 0; i < config_.threads; ++i)
            threads_.emplace_back([this] { io_.run(); });
    }

    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

    // Thread-safe; the I/O threads return from run() soon after.
    void stop() { io_.stop(); }

    // Waits for the I/O threads, then writes the final status.
    void join() {
        for (auto& t : threads_)
            t.join();
        if (!threads_.empty())
            refresh_status(true);
        threads_.clear();
    }

    // Delivery
    bool keep_body() const override {
        return !config_.store_dir.empty() && next_id_.load(std::memory_order_relaxed) < config_.store_max;
    }

    std::optional<std::uint64_t> deliver(const std::string* body, std::size_t recipients, bool tls) override {
        std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed) + 1;
        if (body && id <= config_.store_max) {
            std::string n = std::to_string(id);
            if (!write_file_atomically(config_.store_dir + "/." + n + ".eml.tmp", config_.store_dir + "/" + n + ".eml",
                                       *body)) {
                if (!store_failed_.exchange(true))
                    std::fprintf(stderr, "bench_sink: cannot store %s/%s.eml: %s\n", config_.store_dir.c_str(),
                                 n.c_str(), std::strerror(errno));
                return std::nullopt;
            }
        }
        // Recipients and TLS first, so a status showing M messages includes their recipients.
        recipients_.fetch_add(recipients, std::memory_order_relaxed);
        if (tls)
            tls_messages_.fetch_add(1, std::memory_order_relaxed);
        messages_.fetch_add(1, std::memory_order_release);
        return id;
    }

    std::string status_line() const {
        return "messages=" + std::to_string(messages_.load(std::memory_order_acquire)) +
               " recipients=" + std::to_string(recipients_.load()) + " tls=" + std::to_string(tls_messages_.load()) +
               "\n";
    }

    std::string summary() const {
        std::string s = status_line();
        s.pop_back();
        return s + " connections=" + std::to_string(connections_.load()) +
               " tls_failures=" + std::to_string(tls_failures_.load()) + " timeouts=" + std::to_string(timeouts_.load());
    }

    // Rewrites the status file (FILE.tmp, then rename) if it changed or `force`.
    bool write_status(bool force) {
        if (config_.status_file.empty())
            return true;
        std::lock_guard lock(status_mutex_);
        std::string line = status_line();
        if (!force && line == last_status_)
            return true;
        if (!write_file_atomically(config_.status_file + ".tmp", config_.status_file, line))
            return false;
        last_status_ = std::move(line);
        return true;
    }

    // write_status() for the running server: a failure is reported once, not fatal.
    void refresh_status(bool force) {
        if (!write_status(force) && !status_failed_.exchange(true))
            std::fprintf(stderr, "bench_sink: cannot write %s: %s\n", config_.status_file.c_str(), std::strerror(errno));
    }

    ssl::context& tls() { return tls_; }

    // Per-connection bookkeeping, used by Session.
    bool connection_opened() {
        connections_.fetch_add(1, std::memory_order_relaxed);
        return active_.fetch_add(1, std::memory_order_relaxed) < kMaxConnections;
    }
    void connection_closed() { active_.fetch_sub(1, std::memory_order_relaxed); }
    void tls_failed() { tls_failures_.fetch_add(1, std::memory_order_relaxed); }
    void timed_out() { timeouts_.fetch_add(1, std::memory_order_relaxed); }

private:
    asio::awaitable<void> accept_loop();

    asio::awaitable<void> status_loop() {
        for (;;) {
            status_timer_.expires_after(kStatusInterval);
            auto [ec] = co_await status_timer_.async_wait(nothrow);
            if (ec)
                co_return;
            refresh_status(false);
        }
    }

    asio::awaitable<void> signal_loop() {
        for (;;) {
            auto [ec, signo] = co_await signals_.async_wait(nothrow);
            if (ec)
                co_return;
            if (signo == SIGUSR1) {
                refresh_status(true);
                continue;
            }
            stop();
            co_return;
        }
    }

    // Declared before io_ so that they outlive the sessions io_ destroys.
    const Config config_;
    ssl::context tls_;
    std::atomic<std::uint64_t> next_id_{0}, messages_{0}, recipients_{0}, tls_messages_{0};
    std::atomic<std::uint64_t> connections_{0}, tls_failures_{0}, timeouts_{0};
    std::atomic<int> active_{0};
    std::atomic<bool> store_failed_{false}, status_failed_{false};
    std::mutex status_mutex_;
    std::string last_status_;

    asio::io_context io_;
    tcp::acceptor acceptor_;
    asio::steady_timer status_timer_;
    asio::signal_set signals_;
    std::vector<std::thread> threads_;
};

// --- one connection ----------------------------------------------------------------------

class Session {
public:
    Session(Server& server, tcp::socket socket)
        : server_(server), stream_(std::move(socket), server.tls()), deadline_(stream_.get_executor()),
          protocol_(server, true), buf_(kReadBuffer) {}

    static void start(std::shared_ptr<Session> s) {
        auto ex = s->stream_.get_executor();
        asio::co_spawn(ex, s->watchdog(s), report_exception);
        asio::co_spawn(ex, s->run(s), report_exception);
    }

private:
    asio::awaitable<void> run(std::shared_ptr<Session> self) {
        boost::system::error_code ignored;
        stream_.next_layer().set_option(tcp::no_delay(true), ignored);
        if (!server_.connection_opened()) {
            out_ = "421 4.3.2 Too many connections\r\n";
            co_await flush();
        } else {
            co_await serve();
        }
        co_await finish();
        server_.connection_closed();
        done_ = true;
        deadline_.cancel();
        (void)self;
    }

    asio::awaitable<void> serve() {
        Protocol::greeting(out_);
        for (;;) {
            bool ok = co_await flush();
            if (!ok)
                co_return;
            std::size_t used = 0;
            auto action = protocol_.consume(std::string_view(buf_.data() + begin_, end_ - begin_), used, out_);
            begin_ += used;
            if (action == Protocol::Action::close) {
                co_await flush();
                quit_ = true;
                co_return;
            }
            if (action == Protocol::Action::starttls) {
                ok = co_await flush();
                if (!ok)
                    co_return;
                begin_ = end_ = 0;  // RFC 3207 §4.2: nothing sent in plaintext survives
                ok = co_await handshake();
                if (!ok)
                    co_return;
                protocol_.tls_started();
                continue;
            }
            // Replies go out only when the input has none left to answer (RFC 2920 §3.2).
            if (!out_.empty())
                continue;
            ok = co_await read_more();
            if (!ok)
                co_return;
        }
    }

    // Moves what is left of the input to the front and reads more behind it.
    asio::awaitable<bool> read_more() {
        if (begin_ > 0) {
            std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        auto space = asio::buffer(buf_.data() + end_, buf_.size() - end_);
        arm(kIdle);
        boost::system::error_code ec;
        std::size_t n = 0;
        if (tls_)
            std::tie(ec, n) = co_await stream_.async_read_some(space, nothrow);
        else
            std::tie(ec, n) = co_await stream_.next_layer().async_read_some(space, nothrow);
        if (ec)
            co_return false;
        end_ += n;
        co_return true;
    }

    asio::awaitable<bool> flush() {
        if (out_.empty())
            co_return true;
        arm(kIdle);
        boost::system::error_code ec;
        if (tls_)
            std::tie(ec, std::ignore) = co_await asio::async_write(stream_, asio::buffer(out_), nothrow);
        else
            std::tie(ec, std::ignore) = co_await asio::async_write(stream_.next_layer(), asio::buffer(out_), nothrow);
        out_.clear();
        co_return !ec;
    }

    asio::awaitable<bool> handshake() {
        arm(kIdle);
        auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, nothrow);
        if (ec) {
            server_.tls_failed();
            co_return false;
        }
        tls_ = true;
        co_return true;
    }

    // After QUIT on TLS: exchange close_notify (briefly); then close the socket.
    asio::awaitable<void> finish() {
        if (tls_ && quit_ && !timed_out_) {
            arm(kTlsShutdown);
            co_await stream_.async_shutdown(nothrow);
        }
        boost::system::error_code ignored;
        stream_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.next_layer().close(ignored);
    }

    // Deadlines: arm() only moves deadline_at_ (cheap, per operation); the watchdog wakes at
    // the timer's expiry, re-checks and sleeps again, or closes the socket when it has passed.
    void arm(Clock::duration d) {
        deadline_at_ = Clock::now() + d;
        if (deadline_at_ < deadline_.expiry())
            deadline_.expires_at(deadline_at_);
    }

    asio::awaitable<void> watchdog(std::shared_ptr<Session> self) {
        while (!done_) {
            deadline_.expires_at(deadline_at_);
            co_await deadline_.async_wait(nothrow);
            if (done_)
                break;
            if (deadline_at_ <= Clock::now()) {
                timed_out_ = true;
                server_.timed_out();
                boost::system::error_code ignored;
                stream_.next_layer().close(ignored);
                break;
            }
        }
        (void)self;
    }

    Server& server_;
    ssl::stream<tcp::socket> stream_;
    asio::steady_timer deadline_;
    Clock::time_point deadline_at_ = Clock::now() + kIdle;
    bool tls_ = false, quit_ = false, timed_out_ = false, done_ = false;
    Protocol protocol_;
    std::vector<char> buf_;
    std::size_t begin_ = 0, end_ = 0;
    std::string out_;
};

asio::awaitable<void> Server::accept_loop() {
    for (;;) {
        tcp::socket socket(asio::make_strand(io_));
        auto [ec] = co_await acceptor_.async_accept(socket, nothrow);
        if (ec == asio::error::operation_aborted || !acceptor_.is_open())
            co_return;
        if (ec) {  // e.g. out of file descriptors: wait a little rather than spin
            std::fprintf(stderr, "bench_sink: accept: %s\n", ec.message().c_str());
            asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(nothrow);
            continue;
        }
        Session::start(std::make_shared<Session>(*this, std::move(socket)));
    }
}

// --- self-check --------------------------------------------------------------------------

struct Reply {
    int code = 0;
    std::string text;  // every line, CRLF-terminated
};

class CheckFailed : public std::runtime_error {
    using std::runtime_error::runtime_error;
};

void expect(bool ok, const std::string& what) {
    if (!ok)
        throw CheckFailed(what);
}

// A blocking SMTP client, just enough to script the checks.
class TestClient {
public:
    TestClient(asio::io_context& io, ssl::context& tls, const tcp::endpoint& ep) : stream_(io, tls) {
        stream_.next_layer().connect(ep);
        stream_.next_layer().set_option(tcp::no_delay(true));
    }

    void send(std::string_view data) {
        if (tls_)
            asio::write(stream_, asio::buffer(data));
        else
            asio::write(stream_.next_layer(), asio::buffer(data));
    }

    Reply read() {
        Reply r;
        for (;;) {
            std::size_t eol;
            while ((eol = in_.find("\r\n")) != std::string::npos) {
                std::string line = in_.substr(0, eol + 2);
                in_.erase(0, eol + 2);
                expect(line.size() >= 5 && std::isdigit((unsigned char)line[0]), "malformed reply line: " + line);
                r.code = std::atoi(line.substr(0, 3).c_str());
                r.text += line;
                if (line[3] == ' ')
                    return r;
            }
            char buf[4096];
            boost::system::error_code ec;
            std::size_t n = tls_ ? stream_.read_some(asio::buffer(buf), ec)
                                 : stream_.next_layer().read_some(asio::buffer(buf), ec);
            expect(!ec, "reading a reply: " + ec.message());
            in_.append(buf, n);
        }
    }

    // Reads one reply and checks its code and, when given, a piece of its text.
    Reply expect_reply(int code, const std::string& what, std::string_view contains = {}) {
        Reply r = read();
        std::string shown = r.text.substr(0, r.text.size() - 2);
        expect(r.code == code, what + ": expected " + std::to_string(code) + ", got " + shown);
        expect(contains.empty() || r.text.find(contains) != std::string::npos,
               what + ": expected \"" + std::string(contains) + "\" in " + shown);
        return r;
    }

    void starttls() {
        stream_.handshake(ssl::stream_base::client);
        tls_ = true;
    }

    bool tls_version_ok() { return SSL_version(stream_.native_handle()) >= TLS1_2_VERSION; }

    const std::string& pending() const { return in_; }

    // True when the server has closed the connection (after any unread replies).
    bool closed_by_server() {
        char buf[256];
        boost::system::error_code ec;
        std::size_t n = tls_ ? stream_.read_some(asio::buffer(buf), ec)
                             : stream_.next_layer().read_some(asio::buffer(buf), ec);
        return n == 0 && ec;
    }

private:
    ssl::stream<tcp::socket> stream_;
    bool tls_ = false;
    std::string in_;
};

// RFC 5321 §4.5.2, the sender's side: a "." that begins a line (after CRLF) is doubled;
// then the end-of-data line.
std::string dot_stuff(std::string_view message) {
    std::string out;
    bool line_start = true;
    char prev = 0;
    for (char c : message) {
        if (line_start && c == '.')
            out += '.';
        out += c;
        line_start = c == '\n' && prev == '\r';
        prev = c;
    }
    return out + ".\r\n";
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

void check_data_reader() {
    // Every split of the input into two reads yields the same message.
    const std::string message = "Subject: x\r\n\r\n.a\r\n.\r\n..\r\n. \r\nbare\n.\r\nlf\r\n.x\rz\r\nend\r\n";
    const std::string wire = dot_stuff(message) + "NOOP\r\n";
    for (std::size_t split = 0; split <= wire.size(); ++split) {
        std::string body;
        DataReader r(kMaxMessage);
        r.start(&body);
        bool done = false;
        std::size_t used = r.feed(std::string_view(wire).substr(0, split), done);
        std::size_t total = used;
        if (!done) {
            std::string rest = wire.substr(used);
            total += r.feed(rest, done);
        }
        expect(done && body == message && wire.substr(total) == "NOOP\r\n",
               "DataReader split at " + std::to_string(split));
    }
    // "\n.\r\n" after a bare LF is data; the message ends at the next CRLF "." CRLF.
    std::string body;
    DataReader r(kMaxMessage);
    r.start(&body);
    bool done = false;
    std::string_view wire2 = "a\n.\r\nb\r\n.\r\n";
    expect(r.feed(wire2, done) == wire2.size() && done && body == "a\n.\r\nb\r\n", "DataReader bare LF");
    // Over the limit: consumed to the end, flagged, nothing kept.
    DataReader small(8);
    small.start(&body);
    std::string_view wire3 = "0123456789\r\n.\r\n";
    expect(small.feed(wire3, done) == wire3.size() && done && small.too_big() && body.empty(), "DataReader limit");
}

void check_parse_listen() {
    tcp::endpoint ep;
    std::string err;
    expect(parse_listen("127.0.0.1:2525", ep, err) && ep.port() == 2525, "--listen 127.0.0.1:2525");
    expect(parse_listen("127.0.0.2:0", ep, err), "--listen 127.0.0.2:0");
    expect(parse_listen("[::1]:25", ep, err) && ep.address().is_v6(), "--listen [::1]:25");
    for (const char* bad : {"0.0.0.0:25", "[::]:25", "localhost:25", "127.0.0.1", "127.0.0.1:70000"})
        expect(!parse_listen(bad, ep, err), std::string("--listen ") + bad + " must be refused");
}

void check_server(const std::filesystem::path& dir) {
    Config config;
    std::string err;
    expect(parse_listen("127.0.0.1:0", config.listen, err), "--listen 127.0.0.1:0: " + err);
    config.store_dir = (dir / "store").string();
    config.store_max = 2;
    config.status_file = (dir / "status").string();
    auto server = std::make_unique<Server>(config, server_context_self_signed());
    server->start(false);
    const tcp::endpoint ep = server->local_endpoint();

    asio::io_context io;
    ssl::context client_tls(ssl::context::tls_client);
    client_tls.set_verify_mode(ssl::verify_none);

    // 1: EHLO, STARTTLS with plaintext pipelined behind it, fresh EHLO, one message.
    const std::string msg1 =
        "From: <c@d.test>\r\nTo: <a@b.test>\r\nSubject: bench_sink self-check 1\r\n\r\n"
        ".leading dot\r\n..two dots\r\n.\r\n...\r\nnot a . line\r\n. \r\nlast line\r\n";
    {
        TestClient c(io, client_tls, ep);
        c.expect_reply(220, "greeting");
        c.send("EHLO client.test\r\n");
        Reply plain = c.expect_reply(250, "EHLO before TLS");
        for (const char* ext : {"250-PIPELINING\r\n", "250-SIZE 67108864\r\n", "250-8BITMIME\r\n",
                                "250-STARTTLS\r\n", "250 ENHANCEDSTATUSCODES\r\n"})
            expect(plain.text.find(ext) != std::string::npos, "EHLO before TLS lacks " + std::string(ext));
        c.send("STARTTLS\r\nNOOP\r\n");
        c.expect_reply(220, "STARTTLS");
        expect(c.pending().empty(), "data after the STARTTLS 220");
        c.starttls();
        expect(c.tls_version_ok(), "TLS version below 1.2");
        c.send("MAIL FROM:<c@d.test>\r\n");
        c.expect_reply(503, "MAIL before the EHLO after STARTTLS");
        c.send("EHLO client.test\r\n");
        Reply ehlo = c.expect_reply(250, "EHLO after TLS", "250 ENHANCEDSTATUSCODES");
        expect(ehlo.text.find("STARTTLS") == std::string::npos, "STARTTLS offered inside TLS");
        c.send("MAIL FROM:<c@d.test> BODY=8BITMIME\r\n");
        c.expect_reply(250, "MAIL");
        c.send("RCPT TO:<a@b.test>\r\n");
        c.expect_reply(250, "RCPT 1");
        c.send("RCPT TO:<a2@b.test>\r\n");
        c.expect_reply(250, "RCPT 2");
        c.send("DATA\r\n");
        c.expect_reply(354, "DATA");
        c.send(dot_stuff(msg1));
        c.expect_reply(250, "end of data 1", "queued as 1\r\n");
        c.send(std::string(kMaxLine + 100, 'x') + "\r\n");
        c.expect_reply(500, "overlong line");
        c.send("QUIT\r\n");
        c.expect_reply(221, "QUIT");
    }

    // 2: plaintext, pipelined groups, data in small pieces, SIZE refusal, error limit.
    std::string msg2 = "From: <c@d.test>\r\nSubject: bench_sink self-check 2 caf\xc3\xa9\r\n\r\n";
    for (int i = 0; i < 40; ++i)
        msg2 += (i % 3 == 0 ? "." : "") + std::string(60 + i, char('a' + i % 26)) + "\r\n";
    const std::string msg3 = "Subject: 3\r\n\r\nnot stored (--store-max 2)\r\n";
    {
        TestClient c(io, client_tls, ep);
        c.expect_reply(220, "greeting");
        c.send("EHLO client.test\r\n");
        c.expect_reply(250, "EHLO", "PIPELINING");
        c.send("MAIL FROM:<c@d.test> SIZE=100\r\nRCPT TO:<a@b.test>\r\nDATA\r\n");
        c.expect_reply(250, "pipelined MAIL");
        c.expect_reply(250, "pipelined RCPT");
        c.expect_reply(354, "pipelined DATA");
        std::string wire = dot_stuff(msg2);
        for (std::size_t off = 0; off < wire.size(); off += 7) {
            c.send(std::string_view(wire).substr(off, 7));
            if (off % 700 == 0)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        c.expect_reply(250, "end of data 2", "queued as 2\r\n");
        c.send("MAIL FROM:<c@d.test> SIZE=99999999999999\r\n");
        c.expect_reply(552, "MAIL with SIZE over the limit");
        c.send("RSET\r\nNOOP\r\nMAIL FROM:<>\r\nRCPT TO:<a@b.test>\r\nDATA\r\n" + dot_stuff(msg3) + "HELP\r\n");
        c.expect_reply(250, "RSET");
        c.expect_reply(250, "NOOP");
        c.expect_reply(250, "MAIL FROM:<>");
        c.expect_reply(250, "RCPT");
        c.expect_reply(354, "DATA");
        c.expect_reply(250, "end of data 3", "queued as 3\r\n");
        c.expect_reply(502, "HELP (error 1)");
        c.send("DATA\r\nBOGUS\r\nMAIL FROM:nobrackets\r\nxyzzy\r\nNOOP\r\n");
        c.expect_reply(503, "DATA without MAIL (error 2)");
        c.expect_reply(502, "BOGUS (error 3)");
        c.expect_reply(501, "MAIL syntax (error 4)");
        c.expect_reply(421, "error 5");
        expect(c.closed_by_server(), "connection still open after 421");
    }

    server->stop();
    server->join();
    server.reset();

    expect(read_file(dir / "status") == "messages=3 recipients=4 tls=1\n", "status file: " + read_file(dir / "status"));
    expect(read_file(dir / "store" / "1.eml") == msg1, "stored 1.eml differs from the message sent");
    expect(read_file(dir / "store" / "2.eml") == msg2, "stored 2.eml differs from the message sent");
    std::size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir / "store")) {
        (void)entry;
        ++files;
    }
    expect(files == 2, "store holds " + std::to_string(files) + " files, expected 1.eml and 2.eml only");
}

int self_check() {
    // A hard limit, so a hung check fails instead of hanging.
    std::mutex m;
    std::condition_variable cv;
    bool finished = false;
    std::thread guard([&] {
        std::unique_lock lock(m);
        if (!cv.wait_for(lock, std::chrono::seconds(30), [&] { return finished; })) {
            std::fprintf(stderr, "bench_sink: self-check failed: timed out\n");
            std::_Exit(1);
        }
    });
    auto finish = [&](int rc) {
        {
            std::lock_guard lock(m);
            finished = true;
        }
        cv.notify_one();
        guard.join();
        return rc;
    };

    std::string tmpl = (std::filesystem::temp_directory_path() / "bench_sink-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
        std::fprintf(stderr, "bench_sink: self-check failed: mkdtemp: %s\n", std::strerror(errno));
        return finish(1);
    }
    const std::filesystem::path dir = tmpl;
    try {
        check_data_reader();
        check_parse_listen();
        check_server(dir);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_sink: self-check failed: %s (files kept in %s)\n", e.what(), dir.c_str());
        return finish(1);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    std::printf("bench_sink: self-check passed\n");
    return finish(0);
}

// --- command line ------------------------------------------------------------------------

constexpr const char* kUsage = R"(usage: bench_sink --listen ADDR:PORT --cert CERT.pem --key KEY.pem [options]
       bench_sink --self-check
A receiving SMTP server that accepts every message (benchmark sink; loopback only).

  --listen ADDR:PORT   loopback address to listen on (127.0.0.0/8 or [::1]); port 0 = any
  --cert FILE          PEM certificate chain for STARTTLS
  --key FILE           PEM private key for it
  --store DIR          write messages as DIR/<n>.eml (the octets received, dot-unstuffed)
  --store-max N        only the first N messages (default: all)
  --status FILE        "messages=M recipients=R tls=T", rewritten at most every 100 ms,
                       on SIGUSR1 and at exit
  --threads N          I/O threads (default 2)
  --self-check         serve and test itself on an ephemeral loopback port, then exit
Prints "READY ADDR:PORT" once listening. SIGTERM/SIGINT: write the status, exit 0.
Exit status: 0 ok; 1 failure; 2 bad option.
)";

bool parse_number(std::string_view s, std::uint64_t& out) {
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
}

int usage_error(const std::string& what) {
    std::fprintf(stderr, "bench_sink: %s (see --help)\n", what.c_str());
    return 2;
}

int run(int argc, char** argv) {
    Config config;
    bool self = false, have_listen = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (arg == "--self-check") {
            self = true;
            continue;
        }
        static constexpr std::string_view kWithValue[] = {"--listen", "--cert",   "--key",    "--store",
                                                          "--store-max", "--status", "--threads"};
        if (std::find(std::begin(kWithValue), std::end(kWithValue), arg) == std::end(kWithValue))
            return usage_error(std::string(arg) + ": unknown option");
        if (i + 1 >= argc)
            return usage_error(std::string(arg) + ": missing value");
        std::string_view v = argv[++i];
        std::uint64_t n = 0;
        if (arg == "--listen") {
            std::string err;
            if (!parse_listen(v, config.listen, err))
                return usage_error("--listen " + std::string(v) + ": " + err);
            have_listen = true;
        } else if (arg == "--cert") {
            config.cert = v;
        } else if (arg == "--key") {
            config.key = v;
        } else if (arg == "--store") {
            config.store_dir = v;
        } else if (arg == "--store-max") {
            if (!parse_number(v, config.store_max))
                return usage_error("--store-max " + std::string(v) + ": not a number");
        } else if (arg == "--status") {
            config.status_file = v;
        } else if (arg == "--threads") {
            if (!parse_number(v, n) || n < 1 || n > 64)
                return usage_error("--threads " + std::string(v) + ": 1..64");
            config.threads = unsigned(n);
        }
    }
    if (self)
        return self_check();
    if (!have_listen || config.cert.empty() || config.key.empty())
        return usage_error("--listen, --cert and --key are required");
    if (config.store_dir.empty() && config.store_max != std::numeric_limits<std::uint64_t>::max())
        return usage_error("--store-max needs --store");

    try {
        Server server(config, server_context_from_files(config.cert, config.key));
        server.start(true);
        std::printf("READY %s\n", endpoint_text(server.local_endpoint()).c_str());
        std::fflush(stdout);
        server.join();
        std::fprintf(stderr, "bench_sink: %s\n", server.summary().c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_sink: %s\n", e.what());
        return 1;
    }
    return 0;
}

}  // namespace
}  // namespace sink

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    return sink::run(argc, argv);
}
