// Unit tests for relay/submission/tls_stream: the server side of TLS run straight on the
// socket, against Asio's own TLS client on 127.0.0.1: handshake, data both ways (one
// octet to several records), a clean close, a close without close_notify, a plain-TCP
// client, a peer that has gone while we write, and cancellation.
#include <gtest/gtest.h>

#include <csignal>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "relay/submission/tls_stream.hpp"
#include "tests/unit/delivery/fake_server.hpp"

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using signpost::submission::TlsStream;
using namespace std::chrono_literals;

namespace {

struct Pair {
    asio::io_context io;
    tcp::socket server{io};
    tcp::socket client{io};
    Pair() {
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        client.connect(acceptor.local_endpoint());
        acceptor.accept(server);
    }
};

std::shared_ptr<ssl::context> server_ctx() {
    static const auto cert = signpost::delivery::test::make_test_cert();
    auto ctx = signpost::delivery::test::server_context(cert);
    SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

ssl::context client_ctx() {
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_verify_mode(ssl::verify_none);
    return ctx;
}

// A connected pair with Asio's TLS client on one end and a TlsStream server on the other
// (handshakes not done yet).
struct Tls {
    Pair p;
    std::shared_ptr<ssl::context> sctx = server_ctx();
    ssl::context cctx = client_ctx();
    ssl::stream<tcp::socket&> client{p.client, cctx};
    TlsStream server{p.server, sctx->native_handle()};
};

// Runs `f` to completion (or fails the test after 10 s); rethrows what it threw.
void run(asio::io_context& io, std::function<awaitable<void>()> server, std::function<awaitable<void>()> client) {
    std::exception_ptr server_error, client_error;
    bool server_done = false, client_done = false;
    asio::co_spawn(io, server(), [&](std::exception_ptr e) { server_error = e, server_done = true; });
    asio::co_spawn(io, client(), [&](std::exception_ptr e) { client_error = e, client_done = true; });
    io.run_for(10s);
    ASSERT_TRUE(server_done && client_done) << "did not finish";
    if (client_error) std::rethrow_exception(client_error);
    if (server_error) std::rethrow_exception(server_error);
}

}  // namespace

TEST(TlsStream, HandshakeAndDataBothWays) {
    Tls tls;
    auto& p = tls.p;
    auto& client = tls.client;
    auto& server = tls.server;
    const std::string big(70000, 'x');  // several TLS records
    std::string got_by_server, got_by_client(big.size() + 1, '\0');
    run(
        p.io,
        [&]() -> awaitable<void> {
            co_await server.handshake();
            char buf[1024];
            while (got_by_server.size() < big.size() + 5) {
                std::size_t n = co_await server.read_some(asio::buffer(buf));
                EXPECT_GT(n, 0u);
                got_by_server.append(buf, n);
            }
            co_await server.write("!");
            co_await server.write(big);
            co_await server.shutdown();
        },
        [&]() -> awaitable<void> {
            co_await client.async_handshake(ssl::stream_base::client, asio::use_awaitable);
            co_await asio::async_write(client, asio::buffer(std::string("hello")), asio::use_awaitable);
            co_await asio::async_write(client, asio::buffer(big), asio::use_awaitable);
            co_await asio::async_read(client, asio::buffer(got_by_client), asio::use_awaitable);
        });
    EXPECT_EQ(got_by_server, "hello" + big);
    EXPECT_EQ(got_by_client, "!" + big);
    EXPECT_STREQ(SSL_get_version(server.native_handle()), "TLSv1.3");
}

TEST(TlsStream, CloseNotifyIsEofAndAPlainCloseIsTruncation) {
    for (bool clean : {true, false}) {
        Tls tls;
        auto& p = tls.p;
        auto& client = tls.client;
        auto& server = tls.server;
        boost::system::error_code seen;
        run(
            p.io,
            [&]() -> awaitable<void> {
                co_await server.handshake();
                char buf[64];
                try {
                    for (;;) co_await server.read_some(asio::buffer(buf));
                } catch (const boost::system::system_error& e) {
                    seen = e.code();
                }
                if (clean) co_await server.shutdown();  // our close_notify in answer
                p.server.close();
            },
            [&]() -> awaitable<void> {
                co_await client.async_handshake(ssl::stream_base::client, asio::use_awaitable);
                co_await asio::async_write(client, asio::buffer(std::string("data")), asio::use_awaitable);
                if (clean) {
                    boost::system::error_code ec;
                    co_await client.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
                }
                // A FIN, not a reset (close() with the server's unread session tickets
                // still in the receive buffer would send RST).
                p.client.shutdown(tcp::socket::shutdown_send);
            });
        if (clean) EXPECT_EQ(seen, asio::error::eof) << seen.message();
        else EXPECT_EQ(seen, asio::ssl::error::stream_truncated) << seen.message();
    }
}

TEST(TlsStream, APlainTcpClientFailsTheHandshakeWithAnError) {
    Pair p;
    auto sctx = server_ctx();
    TlsStream server(p.server, sctx->native_handle());
    boost::system::error_code seen;
    run(
        p.io,
        [&]() -> awaitable<void> {
            try {
                co_await server.handshake();
            } catch (const boost::system::system_error& e) {
                seen = e.code();
            }
            p.server.close();  // as a session does after a failed handshake
        },
        [&]() -> awaitable<void> {
            co_await asio::async_write(p.client, asio::buffer(std::string("EHLO client.example\r\n")), asio::use_awaitable);
            char buf[256];
            boost::system::error_code ec;
            co_await p.client.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
            p.client.close();
        });
    EXPECT_TRUE(seen);
    EXPECT_EQ(seen.category(), asio::error::get_ssl_category()) << seen.message();
}

// A peer that has gone while we write gets an error, not SIGPIPE (the daemon ignores
// SIGPIPE, as this test does).
TEST(TlsStream, WritingToAPeerThatHasGoneIsAnError) {
    std::signal(SIGPIPE, SIG_IGN);
    Tls tls;
    auto& p = tls.p;
    auto& client = tls.client;
    auto& server = tls.server;
    boost::system::error_code seen;
    run(
        p.io,
        [&]() -> awaitable<void> {
            co_await server.handshake();
            char buf[16];
            co_await server.read_some(asio::buffer(buf));  // the client's "bye": it closes next
            asio::steady_timer t(co_await asio::this_coro::executor, 100ms);
            co_await t.async_wait(asio::use_awaitable);
            const std::string chunk(16384, 'y');
            try {
                for (int i = 0; i < 200; ++i) co_await server.write(chunk);
            } catch (const boost::system::system_error& e) {
                seen = e.code();
            }
        },
        [&]() -> awaitable<void> {
            co_await client.async_handshake(ssl::stream_base::client, asio::use_awaitable);
            co_await asio::async_write(client, asio::buffer(std::string("bye")), asio::use_awaitable);
            p.client.close();
            co_return;
        });
    EXPECT_TRUE(seen == asio::error::broken_pipe || seen == asio::error::connection_reset) << seen.message();
}

TEST(TlsStream, CancellingTheSocketEndsAWaitingRead) {
    Tls tls;
    auto& p = tls.p;
    auto& client = tls.client;
    auto& server = tls.server;
    boost::system::error_code seen;
    run(
        p.io,
        [&]() -> awaitable<void> {
            co_await server.handshake();
            char buf[16];
            try {
                co_await server.read_some(asio::buffer(buf));
            } catch (const boost::system::system_error& e) {
                seen = e.code();
            }
        },
        [&]() -> awaitable<void> {
            co_await client.async_handshake(ssl::stream_base::client, asio::use_awaitable);
            asio::steady_timer t(co_await asio::this_coro::executor, 50ms);
            co_await t.async_wait(asio::use_awaitable);
            p.server.cancel();
        });
    EXPECT_EQ(seen, asio::error::operation_aborted) << seen.message();
}
