// tests/bench/loadgen/session.cpp — the client side of one submission connection
// (see session.hpp).
#include "session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace loadgen {
namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;

// RFC 4648 base64, for the AUTH PLAIN initial response (RFC 4616 §2).
std::string base64(std::string_view in) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        auto n = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8) |
                 std::uint8_t(in[i + 2]);
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += kAlphabet[(n >> 6) & 63];
        out += kAlphabet[n & 63];
    }
    if (i < in.size()) {
        std::uint32_t n = std::uint32_t(std::uint8_t(in[i])) << 16;
        if (i + 1 < in.size())
            n |= std::uint32_t(std::uint8_t(in[i + 1])) << 8;
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

bool is_closed_by_peer(const boost::system::error_code& ec) {
    return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

}  // namespace

Connection::Connection(asio::any_io_executor ex, asio::ssl::context& tls, const Options& opt)
    : opt_(opt), stream_(ex, tls), deadline_(ex, Clock::time_point::max()) {
    // SNI only for names (RFC 6066 §3: literal addresses are not sent); verification of the
    // name or address only with --cafile.
    const std::string& name = opt_.servername.empty() ? opt_.host : opt_.servername;
    boost::system::error_code ec;
    asio::ip::make_address(name, ec);
    bool is_address = !ec;
    if (!is_address)
        SSL_set_tlsext_host_name(stream_.native_handle(), name.c_str());
    if (!opt_.cafile.empty()) {
        X509_VERIFY_PARAM* param = SSL_get0_param(stream_.native_handle());
        if (is_address)
            X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
        else
            X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
    }
}

// --- deadlines -------------------------------------------------------------------------

void Connection::arm() {
    deadline_at_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt_.timeout));
    // Moving the deadline later needs no timer change (the watchdog re-checks when it wakes);
    // only an earlier one does (after disarm()).
    if (deadline_at_ < deadline_.expiry())
        deadline_.expires_at(deadline_at_);
}

void Connection::disarm() { deadline_at_ = Clock::time_point::max(); }

asio::awaitable<void> Connection::watchdog() {
    while (!watchdog_stop_) {
        deadline_.expires_at(deadline_at_);
        co_await deadline_.async_wait(nothrow);
        if (watchdog_stop_)
            break;
        if (deadline_at_ <= Clock::now()) {
            timed_out_ = true;
            boost::system::error_code ignored;
            stream_.lowest_layer().close(ignored);
            deadline_at_ = Clock::time_point::max();
        }
    }
}

void Connection::stop_watchdog() {
    watchdog_stop_ = true;
    deadline_.cancel();
}

void Connection::close() {
    boost::system::error_code ignored;
    stream_.lowest_layer().close(ignored);
}

// --- failures --------------------------------------------------------------------------

void Connection::fail(const std::string& what) {
    if (failure_.empty())
        failure_ = what;
}

void Connection::fail_io(const boost::system::error_code& ec) {
    if (timed_out_)
        fail("timeout in " + stage_);
    else if (is_closed_by_peer(ec))
        fail("closed by server in " + stage_);
    else
        fail(stage_ + ": " + ec.message());
}

// --- bytes -----------------------------------------------------------------------------

asio::awaitable<bool> Connection::write(const std::string& data) {
    arm();
    boost::system::error_code ec;
    if (tls_active_)
        std::tie(ec, std::ignore) = co_await asio::async_write(stream_, asio::buffer(data), nothrow);
    else
        std::tie(ec, std::ignore) = co_await asio::async_write(stream_.next_layer(), asio::buffer(data), nothrow);
    if (ec) {
        fail_io(ec);
        co_return false;
    }
    co_return true;
}

asio::awaitable<std::optional<Reply>> Connection::read_reply() {
    arm();
    for (;;) {
        Scan scan = scan_reply(in_);
        if (scan.result == ScanResult::complete) {
            auto reply = parse_reply(std::string_view(in_).substr(0, scan.length));
            in_.erase(0, scan.length);
            if (!reply) {
                fail("malformed reply in " + stage_);
                co_return std::nullopt;
            }
            co_return reply;
        }
        if (scan.result == ScanResult::malformed) {
            fail("malformed reply in " + stage_);
            co_return std::nullopt;
        }
        boost::system::error_code ec;
        std::size_t n = 0;
        if (tls_active_)
            std::tie(ec, n) = co_await stream_.async_read_some(asio::buffer(read_buf_), nothrow);
        else
            std::tie(ec, n) = co_await stream_.next_layer().async_read_some(asio::buffer(read_buf_), nothrow);
        if (ec) {
            fail_io(ec);
            co_return std::nullopt;
        }
        in_.append(read_buf_.data(), n);
    }
}

asio::awaitable<bool> Connection::command(const std::string& stage, const std::string& line, int expected,
                                          Reply* out) {
    stage_ = stage;
    bool written = co_await write(line + "\r\n");
    if (!written)
        co_return false;
    auto reply = co_await read_reply();
    if (!reply)
        co_return false;
    if (reply->code != expected) {
        fail(stage + " " + reply->key());
        failure_reply_ = *reply;
        co_return false;
    }
    if (out)
        *out = std::move(*reply);
    co_return true;
}

// --- session setup ---------------------------------------------------------------------

asio::awaitable<bool> Connection::handshake() {
    stage_ = "TLS handshake";
    arm();
    auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::client, nothrow);
    if (ec) {
        fail_io(ec);
        co_return false;
    }
    tls_active_ = true;
    co_return true;
}

asio::awaitable<bool> Connection::ehlo() {
    Reply reply;
    bool ok = co_await command("EHLO", "EHLO " + opt_.ehlo_name, 250, &reply);
    if (!ok)
        co_return false;
    caps_ = parse_ehlo(reply);
    co_return true;
}

asio::awaitable<bool> Connection::open(const std::vector<tcp::endpoint>& endpoints, bool handshake_only) {
    stage_ = "connect";
    arm();
    auto [ec, endpoint] = co_await asio::async_connect(stream_.lowest_layer(), endpoints, nothrow);
    if (ec) {
        fail_io(ec);
        co_return false;
    }
    stream_.lowest_layer().set_option(tcp::no_delay(true), ec);

    bool ok = true;
    if (opt_.tls == TlsMode::implicit) {
        ok = co_await handshake();
        if (!ok)
            co_return false;
        if (handshake_only)
            co_return true;
    }
    stage_ = "greeting";
    auto greeting = co_await read_reply();
    if (!greeting)
        co_return false;
    if (greeting->code != 220) {
        fail("greeting " + greeting->key());
        failure_reply_ = *greeting;
        co_return false;
    }
    ok = co_await ehlo();
    if (!ok)
        co_return false;
    if (opt_.tls == TlsMode::starttls) {
        if (!caps_.starttls) {
            fail("server does not offer STARTTLS");
            co_return false;
        }
        ok = co_await command("STARTTLS", "STARTTLS", 220);
        if (!ok)
            co_return false;
        if (!in_.empty()) {  // RFC 3207 §5: nothing may follow the 220 in plaintext
            fail("server sent data after its STARTTLS 220");
            co_return false;
        }
        ok = co_await handshake();
        if (ok)
            ok = co_await ehlo();
        if (!ok)
            co_return false;
    }
    if (handshake_only)
        co_return true;
    if (!opt_.user.empty()) {
        if (!caps_.auth_plain) {
            fail("server does not offer AUTH PLAIN");
            co_return false;
        }
        std::string plain;  // RFC 4616 §2: authzid NUL authcid NUL passwd
        plain += '\0';
        plain += opt_.user;
        plain += '\0';
        plain += opt_.password;
        ok = co_await command("AUTH", "AUTH PLAIN " + base64(plain), 235);
        if (!ok)
            co_return false;
    }
    if (opt_.bdat && !caps_.chunking) {
        fail("server does not offer CHUNKING");
        co_return false;
    }
    pipelining_ = opt_.pipelining && caps_.pipelining;
    co_return true;
}

// --- transactions ----------------------------------------------------------------------

asio::awaitable<bool> Connection::expect(const char* stage, int ok1, int ok2, TxResult& result) {
    stage_ = stage;
    std::optional<Reply> reply = co_await read_reply();
    if (!reply)
        co_return false;
    // The first refusal is the one reported; later ones in a pipelined group follow from it.
    if (reply->code != ok1 && reply->code != ok2 && result.outcome != TxOutcome::refused) {
        result.outcome = TxOutcome::refused;
        result.refusal = std::move(*reply);
        result.refusal_stage = stage;
    }
    co_return true;
}

asio::awaitable<bool> Connection::step(const std::string& data, const char* stage, int ok1, int ok2,
                                       TxResult& result) {
    stage_ = stage;
    bool ok = co_await write(data);
    if (ok)
        ok = co_await expect(stage, ok1, ok2, result);
    co_return ok;
}

asio::awaitable<TxResult> Connection::submit(const std::string& mail_from_line,
                                             const std::vector<std::string>& rcpt_lines,
                                             const std::string& data, const std::string& stuffed) {
    TxResult result;
    result.outcome = TxOutcome::accepted;  // until a reply refuses it or the connection fails
    auto refused = [&] { return result.outcome == TxOutcome::refused; };

    // The BDAT chunks: "BDAT n" + n octets each, the last one "BDAT n LAST" (RFC 3030 §2).
    std::vector<std::string> chunks;
    if (opt_.bdat) {
        std::size_t step_size = opt_.chunk_size == 0 ? data.size() : opt_.chunk_size;
        for (std::size_t off = 0; off < data.size(); off += step_size) {
            std::size_t n = std::min(step_size, data.size() - off);
            bool last = off + n == data.size();
            chunks.push_back("BDAT " + std::to_string(n) + (last ? " LAST" : "") + "\r\n" + data.substr(off, n));
        }
    }

    bool alive = true;  // false once the connection has failed
    if (pipelining_) {
        // RFC 2920 §3.1: MAIL, RCPT... and DATA (last in the group) or all BDATs in one write.
        std::string group = mail_from_line + "\r\n";
        for (const auto& rcpt : rcpt_lines)
            group += rcpt + "\r\n";
        if (opt_.bdat)
            for (const auto& c : chunks)
                group += c;
        else
            group += "DATA\r\n";
        stage_ = "MAIL";
        alive = co_await write(group);
        if (alive)
            alive = co_await expect("MAIL", 250, 0, result);
        for (std::size_t i = 0; alive && i < rcpt_lines.size(); ++i)
            alive = co_await expect("RCPT", 250, 251, result);
        if (opt_.bdat) {
            for (std::size_t i = 0; alive && i < chunks.size(); ++i)
                alive = co_await expect("BDAT", 250, 0, result);
        } else if (alive) {
            TxResult data_reply;
            data_reply.outcome = TxOutcome::accepted;
            alive = co_await expect("DATA", 354, 0, data_reply);
            if (alive && data_reply.outcome != TxOutcome::refused) {
                // Sent even after a refused MAIL/RCPT: the server said it reads the data.
                alive = co_await step(stuffed, "end of data", 250, 0, result);
            } else if (alive && !refused()) {
                result = std::move(data_reply);
            }
        }
    } else {
        alive = co_await step(mail_from_line + "\r\n", "MAIL", 250, 0, result);
        for (std::size_t i = 0; alive && !refused() && i < rcpt_lines.size(); ++i)
            alive = co_await step(rcpt_lines[i] + "\r\n", "RCPT", 250, 251, result);
        if (opt_.bdat) {
            for (std::size_t i = 0; alive && !refused() && i < chunks.size(); ++i)
                alive = co_await step(chunks[i], "BDAT", 250, 0, result);
        } else if (alive && !refused()) {
            alive = co_await step("DATA\r\n", "DATA", 354, 0, result);
            if (alive && !refused())
                alive = co_await step(stuffed, "end of data", 250, 0, result);
        }
    }
    if (!alive)
        result.outcome = TxOutcome::broken;
    co_return result;
}

asio::awaitable<bool> Connection::rset() {
    bool ok = co_await command("RSET", "RSET", 250);
    co_return ok;
}

asio::awaitable<bool> Connection::noop() {
    bool ok = co_await command("NOOP", "NOOP", 250);
    co_return ok;
}

asio::awaitable<bool> Connection::quit() {
    std::string saved = failure_;
    auto saved_reply = failure_reply_;
    bool ok = co_await command("QUIT", "QUIT", 221);
    failure_ = std::move(saved);
    failure_reply_ = std::move(saved_reply);
    close();
    co_return ok;
}

}  // namespace loadgen
