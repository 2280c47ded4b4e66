// relay/submission/tls_stream.cpp — server-side TLS on a non-blocking socket (see tls_stream.hpp).
#include "relay/submission/tls_stream.hpp"

#include <cerrno>
#include <climits>
#include <new>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <openssl/err.h>

namespace signpost::submission {
namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;

namespace {

// What an OpenSSL call that returned `ret` <= 0 means, as an error code.
// `established`: the handshake had finished (OpenSSL's own state says "in init" again
// after a fatal error, so it cannot tell).
boost::system::error_code failure(SSL* ssl, int ret, int saved_errno, bool established) {
    const int reason = SSL_get_error(ssl, ret);
    if (reason == SSL_ERROR_ZERO_RETURN) return asio::error::eof;  // close_notify
    if (reason == SSL_ERROR_SYSCALL) {
        ERR_clear_error();
        if (saved_errno != 0) return {saved_errno, boost::system::system_category()};
        // The TCP connection ended with no close_notify: before any TLS data it is a plain
        // disconnect, after it a truncated stream.
        return established ? boost::system::error_code(asio::ssl::error::stream_truncated)
                           : boost::system::error_code(asio::error::eof);
    }
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return established ? boost::system::error_code(asio::ssl::error::stream_truncated)
                           : boost::system::error_code(asio::error::eof);
    if (e == 0) return asio::error::connection_reset;
    return {static_cast<int>(e), asio::error::get_ssl_category()};
}

}  // namespace

TlsStream::TlsStream(tcp::socket& socket, SSL_CTX* context) : socket_(socket), ssl_(SSL_new(context)) {
    if (!ssl_) throw std::bad_alloc();
    socket_.non_blocking(true);
    SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle()));
    // Read what the socket holds in one recv, not each record's 5-octet header and then its
    // body in two. Safe here: read_some() always asks SSL_read before waiting on the socket,
    // so records OpenSSL has already read are never waited for.
    SSL_set_read_ahead(ssl_, 1);
    SSL_set_accept_state(ssl_);
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

template <typename Op>
awaitable<int> TlsStream::run(Op op) {
    for (;;) {
        ERR_clear_error();
        errno = 0;
        const int ret = op();
        if (ret > 0) co_return ret;
        const int saved_errno = errno;
        const int reason = SSL_get_error(ssl_, ret);
        if (reason == SSL_ERROR_WANT_READ) {
            co_await socket_.async_wait(tcp::socket::wait_read, asio::use_awaitable);
            continue;
        }
        if (reason == SSL_ERROR_WANT_WRITE) {
            co_await socket_.async_wait(tcp::socket::wait_write, asio::use_awaitable);
            continue;
        }
        throw boost::system::system_error(failure(ssl_, ret, saved_errno, established_));
    }
}

awaitable<void> TlsStream::handshake() {
    co_await run([this] { return SSL_do_handshake(ssl_); });
    established_ = true;
}

awaitable<std::size_t> TlsStream::read_some(asio::mutable_buffer buf) {
    const int want = static_cast<int>(std::min<std::size_t>(buf.size(), INT_MAX));
    const int n = co_await run([this, &buf, want] { return SSL_read(ssl_, buf.data(), want); });
    co_return static_cast<std::size_t>(n);
}

awaitable<void> TlsStream::write(std::string_view data) {
    while (!data.empty()) {
        const int want = static_cast<int>(std::min<std::size_t>(data.size(), INT_MAX));
        const int n = co_await run([this, &data, want] { return SSL_write(ssl_, data.data(), want); });
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

awaitable<void> TlsStream::shutdown() {
    // 0: our close_notify is sent (the peer's is not awaited); 1: both; < 0: retry or error.
    for (;;) {
        ERR_clear_error();
        errno = 0;
        const int ret = SSL_shutdown(ssl_);
        if (ret >= 0) co_return;
        const int saved_errno = errno;
        const int reason = SSL_get_error(ssl_, ret);
        if (reason == SSL_ERROR_WANT_WRITE) {
            co_await socket_.async_wait(tcp::socket::wait_write, asio::use_awaitable);
            continue;
        }
        if (reason == SSL_ERROR_WANT_READ) co_return;  // only the peer's close_notify is missing
        throw boost::system::system_error(failure(ssl_, ret, saved_errno, established_));
    }
}

}  // namespace signpost::submission
