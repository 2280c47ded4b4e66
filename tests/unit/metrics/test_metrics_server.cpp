// The /metrics and /healthz endpoint over a real loopback socket: status codes, bodies,
// content types, HEAD, keep-alive, and refusal of other methods and paths.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <prometheus/counter.h>

#include "relay/metrics/health_probe.hpp"
#include "relay/metrics/metrics.hpp"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using signpost::metrics::MetricsServer;

struct MetricsEndpoint : ::testing::Test {
    asio::io_context io;
    std::unique_ptr<MetricsServer> server;
    std::thread runner;
    std::string problem;  // what the health check reports; "" = healthy
    std::mutex mutex;

    void SetUp() override {
        server = std::make_unique<MetricsServer>(io, signpost::config::Endpoint{"127.0.0.1", 0});
        server->set_health_check([this] {
            std::lock_guard lock(mutex);
            return problem;
        });
        server->start();
        runner = std::thread([this] { io.run(); });
    }
    void TearDown() override {
        asio::post(io, [this] { server->stop(); });
        io.stop();
        runner.join();
    }

    // One request on a fresh connection (or `sock` when given).
    http::response<http::string_body> request(http::verb verb, const std::string& target,
                                              asio::ip::tcp::socket* sock = nullptr) {
        asio::io_context client;
        asio::ip::tcp::socket own(client);
        if (!sock) {
            own.connect({asio::ip::make_address("127.0.0.1"), server->port()});
            sock = &own;
        }
        http::request<http::empty_body> req(verb, target, 11);
        req.set(http::field::host, "127.0.0.1");
        req.keep_alive(true);
        http::write(*sock, req);
        boost::beast::flat_buffer buf;
        http::response_parser<http::string_body> parser;
        if (verb == http::verb::head) parser.skip(true);
        http::read(*sock, buf, parser);
        return parser.release();
    }
};

TEST_F(MetricsEndpoint, MetricsInTextFormat) {
    prometheus::BuildCounter().Name("signpost_test_total").Help("a test counter").Register(server->registry()).Add({}).Increment(3);
    auto res = request(http::verb::get, "/metrics");
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_NE(res.body().find("# TYPE signpost_test_total counter"), std::string::npos) << res.body();
    EXPECT_NE(res.body().find("signpost_test_total 3"), std::string::npos) << res.body();
}

TEST_F(MetricsEndpoint, HealthFollowsTheCheck) {
    auto ok = request(http::verb::get, "/healthz");
    EXPECT_EQ(ok.result(), http::status::ok);
    EXPECT_EQ(ok.body(), "ok\n");
    {
        std::lock_guard lock(mutex);
        problem = "the queue directory is not writable";
    }
    auto bad = request(http::verb::get, "/healthz?verbose=1");  // a query string is ignored
    EXPECT_EQ(bad.result(), http::status::service_unavailable);
    EXPECT_EQ(bad.body(), "the queue directory is not writable\n");
}

// `signpost health` (health_probe.hpp) against the real endpoint: 200 and 503 with the
// reason, and a port where nothing listens.
TEST_F(MetricsEndpoint, ProbeReportsStatusAndReason) {
    const signpost::config::Endpoint at{"127.0.0.1", server->port()};
    auto ok = signpost::metrics::probe_health(at, std::chrono::seconds(5));
    EXPECT_TRUE(ok.reached);
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.text, "ok");
    {
        std::lock_guard lock(mutex);
        problem = "queue directory is not writable";
    }
    auto bad = signpost::metrics::probe_health(at, std::chrono::seconds(5));
    EXPECT_TRUE(bad.reached);
    EXPECT_EQ(bad.status, 503);
    EXPECT_NE(bad.text.find("queue directory is not writable"), std::string::npos) << bad.text;
}

TEST(HealthProbe, NothingListeningIsNotReached) {
    // Bind a port, then close it: nothing listens there any more.
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    const auto port = acceptor.local_endpoint().port();
    acceptor.close();
    auto answer = signpost::metrics::probe_health({"127.0.0.1", port}, std::chrono::seconds(2));
    EXPECT_FALSE(answer.reached);
    EXPECT_NE(answer.text.find("cannot connect"), std::string::npos) << answer.text;
}

TEST(HealthProbe, WildcardListenAddressesAreAskedOnLoopback) {
    EXPECT_EQ(signpost::metrics::connect_host_for("0.0.0.0"), "127.0.0.1");
    EXPECT_EQ(signpost::metrics::connect_host_for("::"), "::1");
    EXPECT_EQ(signpost::metrics::connect_host_for("127.0.0.5"), "127.0.0.5");
}

TEST_F(MetricsEndpoint, HeadHasNoBodyOtherMethodsAndPathsAreRefused) {
    auto head = request(http::verb::head, "/healthz");
    EXPECT_EQ(head.result(), http::status::ok);
    EXPECT_EQ(head[http::field::content_length], "3");
    EXPECT_TRUE(head.body().empty());
    auto post = request(http::verb::post, "/metrics");
    EXPECT_EQ(post.result(), http::status::method_not_allowed);
    EXPECT_EQ(post[http::field::allow], "GET, HEAD");
    EXPECT_EQ(request(http::verb::get, "/").result(), http::status::not_found);
    EXPECT_EQ(request(http::verb::get, "/metrics/../etc/passwd").result(), http::status::not_found);
}

TEST_F(MetricsEndpoint, KeepAliveServesSeveralRequestsOnOneConnection) {
    asio::io_context client;
    asio::ip::tcp::socket sock(client);
    sock.connect({asio::ip::make_address("127.0.0.1"), server->port()});
    for (int i = 0; i < 3; ++i) EXPECT_EQ(request(http::verb::get, "/healthz", &sock).result(), http::status::ok);
}

TEST(MetricsServer, NoEndpointServesNothing) {
    asio::io_context io;
    MetricsServer server(io, std::nullopt);
    EXPECT_EQ(server.port(), 0);
    server.start();  // nothing to start
    server.registry();
}

TEST(MetricsServer, AnAddressInUseIsAnErrorNamingIt) {
    asio::io_context io;
    MetricsServer first(io, signpost::config::Endpoint{"127.0.0.1", 0});
    const std::uint16_t taken = first.port();
    try {
        MetricsServer second(io, signpost::config::Endpoint{"127.0.0.1", taken});
        FAIL() << "a second server bound the same port";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(taken)), std::string::npos) << e.what();
    }
}

}  // namespace
