// relay/inbound/policy_server.cpp — the MTA-STS policy over HTTPS (see policy_server.hpp).
#include "relay/inbound/policy_server.hpp"

#include <atomic>
#include <mutex>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <prometheus/counter.h>

#include "relay/inbound/mta_sts_policy.hpp"
#include "relay/inbound/text.hpp"

namespace signpost::inbound {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t kMaxConnections = 64;
constexpr std::size_t kMaxHeader = 8192;
constexpr std::size_t kMaxBody = 1024;  // read (and refused) so that a POST gets its 405
constexpr std::chrono::seconds kTimeout{10};
constexpr int kMaxRequestsPerConnection = 20;
constexpr std::string_view kPolicyPath = "/.well-known/mta-sts.txt";

// "MTA-STS.Example.COM.:443" -> "mta-sts.example.com".
std::string host_name(std::string_view host) {
    if (auto colon = host.rfind(':'); colon != std::string_view::npos && host.find(']') == std::string_view::npos)
        host = host.substr(0, colon);
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    return ascii_lower(host);
}
}  // namespace

PolicyTable served_policies(const config::Config& cfg) {
    PolicyTable table;
    if (!cfg.mta_sts_serve.listen) return table;
    for (const config::InboundConfig& entry : cfg.inbound)
        table.emplace("mta-sts." + entry.domain, policy_file(served_policy(cfg, entry)));
    return table;
}

std::vector<std::string> names_not_covered(const asio::ssl::context& tls, const PolicyTable& table) {
    std::vector<std::string> out;
    X509* cert = SSL_CTX_get0_certificate(const_cast<asio::ssl::context&>(tls).native_handle());
    for (const auto& [host, policy] : table)
        if (!cert || X509_check_host(cert, host.data(), host.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) != 1)
            out.push_back(host);
    return out;
}

struct PolicyServer::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::io_context& context, prometheus::Registry& registry)
        : io(context), acceptor(context) {
        auto& family = prometheus::BuildCounter()
                           .Name("signpost_mta_sts_policy_requests_total")
                           .Help("HTTPS requests to [mta_sts_serve], by result: served, not_found, bad_request")
                           .Register(registry);
        served = &family.Add({{"result", "served"}});
        not_found = &family.Add({{"result", "not_found"}});
        bad_request = &family.Add({{"result", "bad_request"}});
    }

    asio::io_context& io;
    tcp::acceptor acceptor;
    std::mutex mutex;
    std::shared_ptr<const PolicyTable> policies;   // guarded by mutex
    std::shared_ptr<asio::ssl::context> tls;       // guarded by mutex
    std::atomic<std::size_t> connections{0};
    prometheus::Counter* served;
    prometheus::Counter* not_found;
    prometheus::Counter* bad_request;

    http::response<http::string_body> answer(const http::request<http::string_body>& req, const PolicyTable& table) {
        http::response<http::string_body> res;
        res.version(req.version());
        res.set(http::field::server, "signpost");
        res.keep_alive(req.keep_alive());
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        const bool head = req.method() == http::verb::head;
        std::string_view target = req.target();
        if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
        const auto found = table.find(host_name(req[http::field::host]));
        if (req.method() != http::verb::get && !head) {
            bad_request->Increment();
            res.result(http::status::method_not_allowed);
            res.set(http::field::allow, "GET, HEAD");
            res.body() = "method not allowed\n";
        } else if (!req.body().empty()) {  // no policy fetch has a body
            bad_request->Increment();
            res.result(http::status::bad_request);
            res.body() = "a GET or HEAD without a body is expected\n";
        } else if (target != kPolicyPath || found == table.end()) {
            not_found->Increment();
            res.result(http::status::not_found);
            res.body() = "not found: this server has only https://mta-sts.<domain>" + std::string(kPolicyPath) +
                         " for the domains it receives mail for\n";
        } else {
            served->Increment();
            res.result(http::status::ok);
            res.set(http::field::cache_control, "no-cache");
            res.body() = found->second;
        }
        res.prepare_payload();
        if (head) res.body().clear();
        return res;
    }

    awaitable<void> serve(tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx,
                          std::shared_ptr<const PolicyTable> table) {
        struct Count {
            std::atomic<std::size_t>& n;
            ~Count() { --n; }
        } count{connections};
        beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *ctx);
        boost::system::error_code ec;
        beast::get_lowest_layer(stream).expires_after(kTimeout);
        co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;  // not TLS, or a client that gave up on our certificate
        beast::flat_buffer buffer(kMaxHeader);
        for (int i = 0; i < kMaxRequestsPerConnection; ++i) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(kMaxHeader);
            parser.body_limit(kMaxBody);
            beast::get_lowest_layer(stream).expires_after(kTimeout);
            co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                if (ec != http::error::end_of_stream && ec != asio::ssl::error::stream_truncated &&
                    ec != beast::error::timeout && ec != asio::error::eof)
                    bad_request->Increment();
                break;
            }
            auto res = answer(parser.get(), *table);
            const bool last = !res.keep_alive() || i + 1 == kMaxRequestsPerConnection;
            if (last) res.keep_alive(false);
            beast::get_lowest_layer(stream).expires_after(kTimeout);
            co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
            if (ec || last) break;
        }
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
        if (!ec) co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
        beast::get_lowest_layer(stream).socket().close(ec);
    }

    awaitable<void> accept_loop() {
        auto self = shared_from_this();
        for (;;) {
            boost::system::error_code ec;
            tcp::socket socket =
                co_await acceptor.async_accept(asio::make_strand(io), asio::redirect_error(asio::use_awaitable, ec));
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
            if (ec) continue;
            std::shared_ptr<asio::ssl::context> ctx;
            std::shared_ptr<const PolicyTable> table;
            {
                std::lock_guard lock(mutex);
                ctx = tls;
                table = policies;
            }
            if (!ctx || !table || connections.load() >= kMaxConnections) {
                socket.close(ec);
                continue;
            }
            ++connections;
            auto ex = socket.get_executor();
            asio::co_spawn(ex, serve(std::move(socket), std::move(ctx), std::move(table)), [self](std::exception_ptr e) {
                if (e) std::rethrow_exception(e);  // a bug: Beast's and Asio's errors come back as codes
            });
        }
    }
};

PolicyServer::PolicyServer(asio::io_context& io, const config::Endpoint& listen, prometheus::Registry& registry)
    : impl_(std::make_shared<Impl>(io, registry)) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(listen.host, ec);
    if (ec) throw std::runtime_error("[mta_sts_serve] cannot listen on " + listen.to_string() + ": not an IP address");
    tcp::endpoint ep(address, listen.port);
    impl_->acceptor.open(ep.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(ep, ec);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("[mta_sts_serve] cannot listen on " + listen.to_string() + ": " + ec.message());
}

PolicyServer::~PolicyServer() { stop(); }

void PolicyServer::update(PolicyTable policies, std::shared_ptr<asio::ssl::context> tls) {
    auto table = std::make_shared<const PolicyTable>(std::move(policies));
    std::lock_guard lock(impl_->mutex);
    impl_->policies = std::move(table);
    impl_->tls = std::move(tls);
}

std::uint16_t PolicyServer::port() const {
    boost::system::error_code ec;
    auto ep = impl_->acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
}

void PolicyServer::start() { asio::co_spawn(impl_->acceptor.get_executor(), impl_->accept_loop(), asio::detached); }

void PolicyServer::stop() {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
}

}  // namespace signpost::inbound
