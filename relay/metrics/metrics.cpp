// relay/metrics/metrics.cpp — registry, /metrics and /healthz (see metrics.hpp).
#include "relay/metrics/metrics.hpp"

#include <atomic>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <prometheus/text_serializer.h>

namespace signpost::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t kMaxConnections = 32;
constexpr std::size_t kMaxHeader = 8192;
constexpr std::chrono::seconds kRequestTimeout{10};
constexpr int kMaxRequestsPerConnection = 100;
}  // namespace

struct MetricsServer::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::io_context& context, std::shared_ptr<prometheus::Registry> metrics)
        : io(context), acceptor(context), registry(std::move(metrics)) {}

    asio::io_context& io;
    tcp::acceptor acceptor;
    std::shared_ptr<prometheus::Registry> registry;
    std::mutex mutex;
    std::function<std::string()> health;  // guarded by mutex
    std::atomic<std::size_t> connections{0};

    http::response<http::string_body> answer(const http::request<http::empty_body>& req) {
        http::response<http::string_body> res;
        res.version(req.version());
        res.set(http::field::server, "signpost");
        res.keep_alive(req.keep_alive());
        const bool head = req.method() == http::verb::head;
        std::string target(req.target());
        if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
        if (req.method() != http::verb::get && !head) {
            res.result(http::status::method_not_allowed);
            res.set(http::field::allow, "GET, HEAD");
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = "method not allowed\n";
        } else if (target == "/metrics") {
            std::ostringstream out;
            prometheus::TextSerializer().Serialize(out, registry->Collect());
            res.result(http::status::ok);
            res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
            res.body() = std::move(out).str();
        } else if (target == "/healthz") {
            std::function<std::string()> check;
            {
                std::lock_guard lock(mutex);
                check = health;
            }
            std::string problem = check ? check() : std::string();
            res.result(problem.empty() ? http::status::ok : http::status::service_unavailable);
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.set(http::field::cache_control, "no-store");
            res.body() = problem.empty() ? "ok\n" : problem + "\n";
        } else {
            res.result(http::status::not_found);
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = "not found; try /metrics or /healthz\n";
        }
        res.prepare_payload();  // Content-Length of the GET answer, also for HEAD
        if (head) res.body().clear();
        return res;
    }

    awaitable<void> serve(tcp::socket socket) {
        struct Count {
            std::atomic<std::size_t>& n;
            ~Count() { --n; }
        } count{connections};
        beast::tcp_stream stream(std::move(socket));
        beast::flat_buffer buffer(kMaxHeader);
        for (int i = 0; i < kMaxRequestsPerConnection; ++i) {
            http::request_parser<http::empty_body> parser;
            parser.header_limit(kMaxHeader);
            parser.body_limit(0);
            boost::system::error_code ec;
            stream.expires_after(kRequestTimeout);
            co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
            if (ec) break;  // closed, timed out, or not HTTP we accept: nothing more to say
            auto res = answer(parser.get());
            stream.expires_after(kRequestTimeout);
            co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
            if (ec || !res.keep_alive()) break;
        }
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream.socket().close(ignored);
    }

    awaitable<void> accept_loop() {
        auto self = shared_from_this();
        for (;;) {
            boost::system::error_code ec;
            tcp::socket socket =
                co_await acceptor.async_accept(asio::make_strand(io), asio::redirect_error(asio::use_awaitable, ec));
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
            if (ec) continue;
            if (connections.load() >= kMaxConnections) {
                socket.close(ec);
                continue;
            }
            ++connections;
            auto ex = socket.get_executor();
            asio::co_spawn(ex, serve(std::move(socket)), [self](std::exception_ptr e) {
                if (e) std::rethrow_exception(e);  // a bug: Beast's errors come back as codes
            });
        }
    }
};

MetricsServer::MetricsServer(asio::io_context& io, const std::optional<config::Endpoint>& listen)
    : registry_(std::make_shared<prometheus::Registry>()) {
    if (!listen) return;
    impl_ = std::make_shared<Impl>(io, registry_);
    boost::system::error_code ec;
    auto address = asio::ip::make_address(listen->host, ec);
    if (ec) throw std::runtime_error("cannot serve metrics on " + listen->to_string() + ": not an IP address");
    tcp::endpoint ep(address, listen->port);
    impl_->acceptor.open(ep.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(ep, ec);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot serve metrics on " + listen->to_string() + ": " + ec.message());
}

MetricsServer::~MetricsServer() { stop(); }

void MetricsServer::set_health_check(std::function<std::string()> check) {
    if (!impl_) return;
    std::lock_guard lock(impl_->mutex);
    impl_->health = std::move(check);
}

std::uint16_t MetricsServer::port() const {
    if (!impl_) return 0;
    boost::system::error_code ec;
    auto ep = impl_->acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
}

void MetricsServer::start() {
    if (!impl_) return;
    asio::co_spawn(impl_->acceptor.get_executor(), impl_->accept_loop(), asio::detached);
}

void MetricsServer::stop() {
    if (!impl_) return;
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
}

}  // namespace signpost::metrics
