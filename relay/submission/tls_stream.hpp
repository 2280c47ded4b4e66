// relay/submission/tls_stream.hpp — server-side TLS straight on a non-blocking socket.
//
// What it does: runs OpenSSL on the socket's descriptor itself (SSL_set_fd) and waits for
// readiness through Asio (socket.async_wait) whenever OpenSSL wants to read or write. Unlike
// asio::ssl::stream, which keeps two 17 KB buffers of its own plus a BIO pair with two more
// for every connection, nothing is held between records: with SSL_MODE_RELEASE_BUFFERS on
// the context an idle session keeps only OpenSSL's session state (a few KB), and every
// record is read and written once, with no copy through the BIO pair.
//
// Errors are thrown as boost::system::system_error, as Asio's streams do: a clean
// close_notify or a plain TCP close before any TLS data -> asio::error::eof; a TCP close in
// the middle of the TLS stream -> asio::ssl::error::stream_truncated; a socket error -> its
// errno; a TLS protocol error -> the OpenSSL error (asio::error::get_ssl_category()).
// Cancelling the socket (socket.cancel(), close()) ends a waiting operation with
// operation_aborted.
//
// Untrusted input: everything the peer sends, handled by OpenSSL.
// OpenSSL writes to the socket itself, without MSG_NOSIGNAL: the process must ignore
// SIGPIPE (relay/app's serve does), or a write to a peer that has gone ends it.
//
// Threading: one operation at a time (one session's coroutine on its strand); the socket
// outlives the stream.
#pragma once

#include <cstddef>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <openssl/ssl.h>

namespace signpost::submission {

class TlsStream {
public:
    // Puts the socket in non-blocking mode. Throws std::bad_alloc when OpenSSL cannot make
    // the session.
    TlsStream(boost::asio::ip::tcp::socket& socket, SSL_CTX* context);
    ~TlsStream();
    TlsStream(const TlsStream&) = delete;
    TlsStream& operator=(const TlsStream&) = delete;

    boost::asio::awaitable<void> handshake();  // server side
    // At least one octet, as soon as some are there.
    boost::asio::awaitable<std::size_t> read_some(boost::asio::mutable_buffer buf);
    boost::asio::awaitable<void> write(std::string_view data);  // all of it
    // Sends close_notify (does not wait for the peer's).
    boost::asio::awaitable<void> shutdown();

    SSL* native_handle() const { return ssl_; }

private:
    // Runs op() until it makes progress (> 0), waiting for the socket as OpenSSL asks.
    template <typename Op>
    boost::asio::awaitable<int> run(Op op);

    boost::asio::ip::tcp::socket& socket_;
    SSL* ssl_;
    bool established_ = false;  // the handshake finished
};

}  // namespace signpost::submission
