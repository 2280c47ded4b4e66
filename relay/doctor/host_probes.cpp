// relay/doctor/host_probes.cpp — the relay-host checks of `signpost doctor` that connect
// out (see host_checks.hpp): outbound port 25 and the smarthost.
//
// Both share SmtpLink: one TCP connection (beast::tcp_stream, so every step has a
// deadline), TLS on it when asked, and relay/smtp's ReplyParser for the replies. Nothing
// here sends MAIL: the probes stop at the greeting (port 25) or after AUTH (smarthost) and
// say QUIT.
#include "relay/doctor/host_checks.hpp"

#if defined(__GNUC__) && !defined(__clang__)
// A false positive of GCC 12 on awaitable frames (see relay/delivery/mx.cpp).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "relay/delivery/smtp_session.hpp"  // make_client_tls_context, describe_endpoint
#include "relay/doctor/host_detail.hpp"
#include "relay/smtp/client.hpp"
#include "relay/smtp/sasl.hpp"  // secure_clear

namespace signpost::doctor {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using namespace detail;
using asio::awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

// "535 5.7.8 Authentication failed" (all lines on one).
std::string reply_text(const smtp::Reply& r) {
    std::string out = std::to_string(r.code);
    if (!r.enhanced.empty()) out += " " + r.enhanced;
    for (const auto& l : r.lines)
        if (!l.empty()) out += " " + l;
    return printable(out);
}

// The addresses of a host: an IP literal itself, else its A then its AAAA records.
struct Addresses {
    std::vector<asio::ip::address> list;
    std::string why;         // when `list` is empty
    bool temporary = false;  // the lookup failed for now (SERVFAIL, timeout)
};

awaitable<Addresses> resolve_host(dns::Resolver& resolver, std::string host) {
    Addresses out;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    error_code ec;
    const asio::ip::address literal = asio::ip::make_address(host, ec);
    if (!ec) {
        out.list.push_back(literal);
        co_return out;
    }
    dns::AddressAnswer a = co_await resolver.a(host);
    dns::AddressAnswer aaaa = co_await resolver.aaaa(host);
    for (const dns::AddressAnswer* answer : {&a, &aaaa}) {
        if (answer->status != dns::Status::ok) continue;
        for (const auto& addr : answer->addresses)
            if (out.list.size() < kMaxAddresses) out.list.push_back(normalized(addr));
    }
    if (out.list.empty()) {
        out.temporary = temporary(a.status) || temporary(aaaa.status);
        out.why = "A " + dns_reason(a) + ", AAAA " + dns_reason(aaaa);
    }
    co_return out;
}

// --- SmtpLink: one connection, plaintext then perhaps TLS, every step with a deadline ------

class SmtpLink {
public:
    explicit SmtpLink(const asio::any_io_executor& ex) : tcp_(ex) {}
    SmtpLink(const SmtpLink&) = delete;
    SmtpLink& operator=(const SmtpLink&) = delete;

    awaitable<error_code> connect(tcp::endpoint endpoint, Clock::time_point deadline) {
        tcp_.expires_at(deadline);
        error_code ec;
        co_await tcp_.async_connect(endpoint, asio::redirect_error(asio::use_awaitable, ec));
        co_return ec;
    }

    // TLS as a client verifying the certificate for `host` (RFC 6125 through OpenSSL's
    // host checking; an IP literal against the IP SANs), with SNI for a name.
    awaitable<error_code> handshake(ssl::context& ctx, std::string host, Clock::time_point deadline) {
        tls_ = std::make_unique<ssl::stream<beast::tcp_stream&>>(tcp_, ctx);
        SSL* h = tls_->native_handle();
        if (is_ip_literal(host)) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(h), host.c_str());
        } else {
            SSL_set_tlsext_host_name(h, host.c_str());
            SSL_set_hostflags(h, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            SSL_set1_host(h, host.c_str());
        }
        tls_->set_verify_mode(ssl::verify_peer);
        tcp_.expires_at(deadline);
        error_code ec;
        co_await tls_->async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
        co_return ec;
    }
    SSL* ssl() { return tls_ ? tls_->native_handle() : nullptr; }

    awaitable<error_code> write(std::string_view data, Clock::time_point deadline) {
        tcp_.expires_at(deadline);
        error_code ec;
        auto buffer = asio::buffer(data.data(), data.size());
        if (tls_) {
            co_await asio::async_write(*tls_, buffer, asio::redirect_error(asio::use_awaitable, ec));
        } else {
            co_await asio::async_write(tcp_, buffer, asio::redirect_error(asio::use_awaitable, ec));
        }
        co_return ec;
    }

    awaitable<smtp::Result<smtp::Reply>> read(Clock::time_point deadline) {
        tcp_.expires_at(deadline);
        std::array<char, 4096> buf;
        for (;;) {
            const std::size_t used = parser_.feed(in_);
            in_.erase(0, used);
            if (parser_.complete()) {
                auto reply = parser_.take();
                co_return reply;
            }
            error_code ec;
            std::size_t n = 0;
            if (tls_) {
                n = co_await tls_->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
            } else {
                n = co_await tcp_.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
            }
            if (ec) co_return ec;
            in_.append(buf.data(), n);
        }
    }

    awaitable<smtp::Result<smtp::Reply>> command(std::string_view line, Clock::time_point deadline) {
        error_code ec = co_await write(line, deadline);
        if (ec) co_return ec;
        auto reply = co_await read(deadline);
        co_return reply;
    }

    // RFC 3207 §4.2: nothing the server sent before TLS is kept.
    void forget_input() {
        in_.clear();
        parser_ = smtp::ReplyParser{};
    }

    // QUIT (RFC 5321 §4.1.1.10) and its reply, best effort, then close.
    awaitable<void> quit(Clock::time_point deadline) {
        auto reply = co_await command("QUIT\r\n", deadline);
        (void)reply;
        close();
    }

    void close() {
        error_code ignored;
        tcp_.socket().close(ignored);
    }

private:
    beast::tcp_stream tcp_;
    std::unique_ptr<ssl::stream<beast::tcp_stream&>> tls_;
    std::string in_;
    smtp::ReplyParser parser_;
};

// Each address in turn, each attempt until its own timeout or `deadline`, whichever is first.
struct Connected {
    bool ok = false;
    tcp::endpoint endpoint;  // the one that answered, else the last tried
    bool timed_out = false;
    bool refused = false;
    std::string errors;  // "host[ip]:port: Connection refused; ..."
};

awaitable<Connected> connect_any(SmtpLink& link, std::vector<asio::ip::address> addresses, std::string host,
                                 std::uint16_t port, Ms attempt, Clock::time_point deadline) {
    Connected out;
    for (const auto& address : addresses) {
        const Clock::time_point now = Clock::now();
        if (now >= deadline) break;
        const Clock::time_point until = std::min(deadline, now + attempt);
        tcp::endpoint endpoint(address, port);
        out.endpoint = endpoint;
        error_code ec = co_await link.connect(endpoint, until);
        if (!ec) {
            out.ok = true;
            co_return out;
        }
        if (!out.errors.empty()) out.errors += "; ";
        out.errors += delivery::describe_endpoint(host, endpoint) + ": ";
        if (ec == beast::error::timeout) {
            out.timed_out = true;
            out.errors += "timeout after " + duration_text(std::chrono::duration_cast<Ms>(until - now));
        } else {
            if (ec == asio::error::connection_refused) out.refused = true;
            out.errors += ec.message();
        }
    }
    co_return out;
}

std::string io_error(error_code ec, Ms timeout) {
    if (ec == beast::error::timeout) return "timeout after " + duration_text(timeout);
    return ec.message();
}

// Why the TLS handshake with the smarthost failed, and what to change.
void tls_failure(SSL* ssl, error_code ec, const SmarthostProbe& probe, const std::string& remote, std::string& evidence,
                 std::string& fix) {
    const long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    X509* peer = ssl ? SSL_get0_peer_certificate(ssl) : nullptr;
    if (!peer && ssl) {  // a client keeps the chain, not the peer, when verification failed
        STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
        if (chain && sk_X509_num(chain) > 0) peer = sk_X509_value(chain, 0);
    }
    if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        evidence = "the certificate of " + remote + " is not valid for " + probe.endpoint.host;
        std::string names;
        if (peer) names = join(certificate_names(peer), ", ");
        if (!names.empty()) evidence += " (it names " + names + ")";
        fix = "[delivery] smarthost: name the smarthost as its certificate does";
        if (!names.empty()) fix += " (" + names + ")";
        return;
    }
    if (v != X509_V_OK) {
        evidence = "the certificate of " + remote + " is not verified: " + X509_verify_cert_error_string(v);
        if (peer) evidence += " (" + common_name(peer) + ")";
        fix = "if the smarthost uses a private CA or a self-signed certificate, set [delivery] extra_ca_file to a PEM "
              "file with that CA (or certificate); else tell the smarthost's operator";
        return;
    }
    if (probe.tls == config::TlsMode::implicit) {
        evidence = "implicit TLS with " + remote + " failed: " + io_error(ec, probe.timeout);
        fix = "if port " + std::to_string(probe.endpoint.port) +
              " expects STARTTLS (587, 25), set [delivery] smarthost_tls = \"starttls\"";
        return;
    }
    evidence = "the TLS handshake with " + remote + " after STARTTLS failed: " + io_error(ec, probe.timeout);
    fix = "ask the smarthost's operator (Signpost needs TLS 1.2 or later)";
}

Check smarthost_check(const std::string& subject, Status status, std::string evidence, std::string fix = {}) {
    return make_check("smarthost", "", subject, status, std::move(evidence), std::move(fix));
}

// The smarthost probe after the TCP connect, step by step (as delivery's session does it):
// each step returns false when the probe is over, `evidence` and `fix` set.
class SmarthostSession {
public:
    SmarthostSession(const SmarthostProbe& probe, SmtpLink& link, ssl::context& ctx, std::string remote)
        : probe_(probe), link_(link), ctx_(ctx), remote_(std::move(remote)) {}

    awaitable<void> run() {
        const bool implicit = probe_.tls == config::TlsMode::implicit;
        bool ok = true;
        if (implicit) ok = co_await handshake();
        if (ok) ok = co_await greeting();
        if (ok) ok = co_await hello();
        if (ok && !implicit) ok = co_await starttls();
        if (ok) {
            summary_ = remote_ + " ";
            if (implicit) summary_ += "implicit TLS ";
            else summary_ += "STARTTLS ";
            summary_ += std::string(SSL_get_version(link_.ssl())) + ", certificate verified";
            co_await authenticate();
        }
        if (quit_) {
            co_await link_.quit(step());
        } else {
            link_.close();
        }
    }

    Status status = Status::fail;
    std::string evidence, fix;

private:
    Clock::time_point step() const { return Clock::now() + probe_.timeout; }
    bool failed(std::string what, std::string how) {
        evidence = std::move(what);
        fix = std::move(how);
        return false;
    }
    // A reply that failed to arrive leaves the connection out of step: no QUIT.
    std::string reply_or_error(const smtp::Result<smtp::Reply>& r) {
        if (r) return reply_text(*r);
        quit_ = false;
        return io_error(r.error(), probe_.timeout);
    }

    awaitable<bool> handshake() {
        const Clock::time_point until = step();
        error_code ec = co_await link_.handshake(ctx_, probe_.endpoint.host, until);
        if (!ec) co_return true;
        quit_ = false;
        tls_failure(link_.ssl(), ec, probe_, remote_, evidence, fix);
        co_return false;
    }

    awaitable<bool> greeting() {
        auto r = co_await link_.read(step());
        if (r && r->code == 220) co_return true;
        if (!r && probe_.tls != config::TlsMode::implicit) {
            quit_ = false;
            co_return failed("no greeting from " + remote_ + ": " + io_error(r.error(), probe_.timeout),
                             "if the smarthost takes TLS from the first byte (port 465), set [delivery] "
                             "smarthost_tls = \"implicit\"");
        }
        co_return failed(remote_ + " greeting: " + reply_or_error(r),
                         "the smarthost refuses this connection: ask its operator whether this host may connect");
    }

    awaitable<bool> hello() {
        auto line = smtp::format_ehlo(probe_.helo);
        if (!line)
            co_return failed("our host name \"" + printable(probe_.helo) + "\" cannot be sent in EHLO",
                             "[server] hostname: set the relay's host name");
        auto r = co_await link_.command(*line, step());
        if (r && r->code / 100 == 2) {
            caps_ = smtp::parse_ehlo(*r);
            co_return true;
        }
        co_return failed(remote_ + " refused EHLO " + printable(probe_.helo) + ": " + reply_or_error(r),
                         "ask the smarthost's operator why EHLO " + printable(probe_.helo) + " is refused");
    }

    // STARTTLS (RFC 3207), the handshake, and EHLO again (§4.2: what was said before TLS
    // is forgotten).
    awaitable<bool> starttls() {
        if (!caps_.starttls)
            co_return failed(remote_ + " does not offer STARTTLS",
                             "if the smarthost takes TLS from the first byte (port 465), set [delivery] smarthost_tls "
                             "= \"implicit\"; else use its submission port with STARTTLS (587)");
        auto r = co_await link_.command("STARTTLS\r\n", step());
        if (!r || r->code != 220)
            co_return failed(remote_ + " refused STARTTLS: " + reply_or_error(r),
                             "ask the smarthost's operator why STARTTLS is refused");
        link_.forget_input();
        bool ok = co_await handshake();
        if (!ok) co_return false;
        ok = co_await hello();
        co_return ok;
    }

    // AUTH (RFC 4954) inside TLS, PLAIN preferred, else LOGIN.
    awaitable<void> authenticate() {
        if (!probe_.credentials) {
            evidence = summary_ + ", no AUTH tried (no credentials configured; ";
            if (caps_.auth.empty()) evidence += "AUTH not offered)";
            else evidence += "offered: " + join(caps_.auth, " ") + ")";
            status = Status::ok;
            co_return;
        }
        const std::string user = printable(probe_.credentials->first);
        if (caps_.auth.empty()) {
            status = Status::warn;
            failed(summary_ + ", but AUTH is not offered (credentials are configured)",
                   "[delivery] smarthost_credentials_file: the smarthost does not offer AUTH; remove the file if it "
                   "relays for this host without it, else ask its operator");
            co_return;
        }
        std::string mechanism = "PLAIN";
        smtp::Result<smtp::Reply> r = smtp::Reply{};
        if (caps_.has_auth("PLAIN")) {
            auto line = smtp::format_auth_plain(probe_.credentials->first, probe_.credentials->second);
            if (!line) {
                failed(summary_ + ", AUTH not tried",
                       "[delivery] smarthost_credentials_file: the user or the password is empty");
                co_return;
            }
            r = co_await link_.command(*line, step());
            smtp::secure_clear(*line);
        } else if (caps_.has_auth("LOGIN")) {
            mechanism = "LOGIN";
            r = co_await link_.command(smtp::auth_login_command, step());
            if (r && r->code == 334) {
                std::string line = smtp::auth_login_response(probe_.credentials->first);
                r = co_await link_.command(line, step());
            }
            if (r && r->code == 334) {
                std::string line = smtp::auth_login_response(probe_.credentials->second);
                r = co_await link_.command(line, step());
                smtp::secure_clear(line);
            }
        } else {
            failed(summary_ + ", AUTH offered only as " + join(caps_.auth, " "),
                   "ask the smarthost's operator to offer AUTH PLAIN or LOGIN over TLS (Signpost speaks those)");
            co_return;
        }
        if (r && r->code == 235) {
            status = Status::ok;
            evidence = summary_ + ", AUTH " + mechanism + " accepted for user " + user;
            co_return;
        }
        if (r && r->code == 334) quit_ = false;  // mid-exchange: the server waits for SASL, not QUIT
        const std::string reply = reply_or_error(r);
        failed(summary_ + ", AUTH " + mechanism + " refused for user " + user + ": " + reply,
               "[delivery] smarthost_credentials_file: the smarthost refused user " + user + " (" + reply +
                   "); put the right \"user:password\" in it");
    }

    const SmarthostProbe& probe_;
    SmtpLink& link_;
    ssl::context& ctx_;
    std::string remote_;
    std::string summary_;  // "host[ip]:port STARTTLS TLSv1.3, certificate verified"
    smtp::Capabilities caps_;
    bool quit_ = true;  // the server is waiting for a command: say QUIT
};

}  // namespace

awaitable<Check> check_port25(dns::Resolver& resolver, std::string host, std::uint16_t port, Ms timeout) {
    config::Endpoint endpoint{host, port};
    const std::string subject = endpoint.to_string();
    const std::string fix = "ask your provider to open outbound port 25, or use mode = \"smarthost\" ([delivery] "
                            "smarthost = \"<your provider's relay>:587\", with smarthost_credentials_file)";
    const Clock::time_point deadline = Clock::now() + timeout;
    Addresses addresses = co_await resolve_host(resolver, host);
    if (addresses.list.empty()) {
        Check c = make_check("port25", "", subject, Status::warn, "cannot resolve " + host + ": " + addresses.why,
                             "check the resolver ([dns] forwarders, /etc/resolv.conf), then run signpost doctor again");
        co_return c;
    }
    const auto ex = co_await asio::this_coro::executor;
    SmtpLink link(ex);
    Connected conn = co_await connect_any(link, addresses.list, host, port, timeout, deadline);
    if (!conn.ok) {
        std::string evidence;
        if (conn.timed_out || conn.refused) evidence = "outbound port " + std::to_string(port) + " appears blocked (";
        else evidence = "cannot connect (";
        if (conn.errors.empty()) evidence += "timeout after " + duration_text(timeout);
        else evidence += conn.errors;
        evidence += ")";
        Check c = make_check("port25", "", subject, Status::fail, evidence, fix);
        co_return c;
    }
    const std::string remote = delivery::describe_endpoint(host, conn.endpoint);
    auto greeting = co_await link.read(deadline);
    if (!greeting) {
        const std::string why = io_error(greeting.error(), timeout);
        link.close();
        Check c = make_check("port25", "", subject, Status::fail,
                             "connected to " + remote + " but no greeting (" + why +
                                 "): something between here and there holds port 25",
                             fix);
        co_return c;
    }
    const std::string text = reply_text(*greeting);
    if (greeting->code != 220) {
        link.close();
        Check c = make_check("port25", "", subject, Status::warn, "connected to " + remote + ", greeting " + text,
                             "port 25 is open, but " + host +
                                 " refused this host; check the relay's address against DNS blocklists");
        co_return c;
    }
    co_await link.quit(deadline);
    Check c = make_check("port25", "", subject, Status::ok, "connected to " + remote + ", greeting " + text);
    co_return c;
}

awaitable<Check> check_smarthost(dns::Resolver& resolver, SmarthostProbe probe) {
    const std::string subject = probe.endpoint.to_string();
    const std::string host = probe.endpoint.host;
    Addresses addresses = co_await resolve_host(resolver, host);
    if (addresses.list.empty()) {
        Status status = Status::fail;
        std::string fix = "[delivery] smarthost: \"" + host + "\" has no address; check the name";
        if (addresses.temporary) {
            status = Status::warn;
            fix = "check the resolver ([dns] forwarders, /etc/resolv.conf), then run signpost doctor again";
        }
        Check c = smarthost_check(subject, status, "cannot resolve " + host + ": " + addresses.why, fix);
        co_return c;
    }
    std::string error;
    auto ctx = delivery::make_client_tls_context(probe.extra_ca_file, error);
    if (!ctx) {
        Check c = smarthost_check(subject, Status::fail, error,
                                  "[delivery] extra_ca_file: name a readable PEM file of CA certificates");
        co_return c;
    }
    const auto ex = co_await asio::this_coro::executor;
    SmtpLink link(ex);
    Connected conn = co_await connect_any(link, addresses.list, host, probe.endpoint.port, probe.timeout,
                                          Clock::time_point::max());
    if (!conn.ok) {
        Check c = smarthost_check(subject, Status::fail, "cannot connect: " + conn.errors,
                                  "check [delivery] smarthost = \"" + subject + "\" and that this host may connect out "
                                  "to port " + std::to_string(probe.endpoint.port));
        co_return c;
    }
    SmarthostSession session(probe, link, *ctx, delivery::describe_endpoint(host, conn.endpoint));
    co_await session.run();
    Check c = smarthost_check(subject, session.status, session.evidence, session.fix);
    co_return c;
}

}  // namespace signpost::doctor
