// relay/mtasts/fetch.cpp — HTTPS GET of an MTA-STS policy (see fetch.hpp).
//
// One coroutine per fetch, top to bottom: addresses (A, then AAAA), TCP connect (each
// address in turn), TLS handshake with SNI and host name verification, the request, the
// response header (status and Content-Type checked before any body is read), the body
// under its cap. beast::tcp_stream carries one absolute deadline for every network step;
// the DNS queries race a timer with the same deadline.
#include "relay/mtasts/fetch.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdexcept>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace signpost::mtasts {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kPath = "/.well-known/mta-sts.txt";  // §3.3
constexpr std::uint32_t kHeaderLimit = 16 * 1024;

std::shared_ptr<ssl::context> make_tls_context(const std::filesystem::path& extra_ca_file) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    error_code ec;
    ctx->set_default_verify_paths(ec);
    if (ec) throw std::runtime_error("MTA-STS: cannot load the system's trusted CAs: " + ec.message());
    if (!extra_ca_file.empty()) {
        ctx->load_verify_file(extra_ca_file.string(), ec);
        if (ec) throw std::runtime_error("delivery.extra_ca_file: cannot load CA file " + extra_ca_file.string() + ": " + ec.message());
    }
    return ctx;
}

// "text/plain", "text/plain; charset=utf-8", "Text/Plain ;charset=..." but not
// "text/plainx" or "text/html".
bool is_text_plain(std::string_view content_type) {
    const std::size_t semi = content_type.find(';');
    std::string_view type = content_type.substr(0, semi);
    while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
    constexpr std::string_view want = "text/plain";
    if (type.size() != want.size()) return false;
    for (std::size_t i = 0; i < want.size(); ++i) {
        char c = type[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != want[i]) return false;
    }
    return true;
}

std::string seconds_text(std::chrono::milliseconds d) {
    if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
    return std::to_string(d.count()) + "ms";
}

class HttpsFetcher final : public Fetcher {
public:
    HttpsFetcher(std::shared_ptr<dns::Resolver> resolver, FetchOptions options)
        : resolver_(std::move(resolver)), opt_(std::move(options)), tls_(make_tls_context(opt_.extra_ca_file)) {}

    awaitable<FetchResult> fetch(std::string domain) override;

private:
    // The addresses of `host` of one family, or a failure text; bounded by `deadline`.
    awaitable<std::vector<asio::ip::address>> addresses(const std::string& host, bool v6, Clock::time_point deadline,
                                                        std::string& why);

    std::shared_ptr<dns::Resolver> resolver_;
    FetchOptions opt_;
    std::shared_ptr<ssl::context> tls_;
};

awaitable<std::vector<asio::ip::address>> HttpsFetcher::addresses(const std::string& host, bool v6,
                                                                   Clock::time_point deadline, std::string& why) {
    using namespace asio::experimental::awaitable_operators;
    const char* type = v6 ? "AAAA" : "A";
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    auto query = v6 ? resolver_->aaaa(host) : resolver_->a(host);
    std::variant<dns::AddressAnswer, std::monostate> raced =
        co_await (std::move(query) || timer.async_wait(use_awaitable));
    if (raced.index() == 1) {
        why = std::string(type) + " " + host + ": timeout after " + seconds_text(opt_.timeout);
        co_return std::vector<asio::ip::address>{};
    }
    dns::AddressAnswer& answer = std::get<0>(raced);
    std::vector<asio::ip::address> out;
    if (answer.status != dns::Status::ok) {
        const char* status = answer.status == dns::Status::nxdomain ? "NXDOMAIN"
                             : answer.status == dns::Status::timeout ? "timeout"
                                                                     : "SERVFAIL";
        why = std::string(type) + " " + host + ": " + (answer.why.empty() ? std::string(status) : answer.why);
        co_return out;
    }
    for (const auto& a : answer.addresses)
        if (a.is_v6() == v6) out.push_back(a);
    if (out.empty()) why = std::string(type) + " " + host + ": no address";
    co_return out;
}

awaitable<FetchResult> HttpsFetcher::fetch(std::string domain) {
    FetchResult result;
    const std::string url = policy_url(domain, opt_.port);
    const auto failed = [&](std::string what) {
        result.ok = false;
        result.error = url + ": " + what;
        return result;
    };
    if (!is_policy_domain(domain)) co_return failed("not a valid domain name");

    const std::string host = "mta-sts." + domain;
    const Clock::time_point deadline = Clock::now() + opt_.timeout;
    const auto executor = co_await asio::this_coro::executor;

    // --- connect: A addresses first, then AAAA (§3.3 names no family preference) ----------
    beast::tcp_stream stream(executor);
    stream.expires_at(deadline);
    std::string why_a, why_aaaa, connect_errors;
    bool connected = false;
    for (bool v6 : {false, true}) {
        std::string& why = v6 ? why_aaaa : why_a;
        std::vector<asio::ip::address> addrs = co_await addresses(host, v6, deadline, why);
        for (const auto& a : addrs) {
            if (Clock::now() >= deadline) break;
            error_code ec;
            co_await stream.async_connect(tcp::endpoint(a, opt_.port), asio::redirect_error(use_awaitable, ec));
            if (!ec) {
                connected = true;
                break;
            }
            if (!connect_errors.empty()) connect_errors += "; ";
            connect_errors += "connect " + tcp::endpoint(a, opt_.port).address().to_string() + ": " +
                              (ec == beast::error::timeout ? "timeout after " + seconds_text(opt_.timeout) : ec.message());
            if (ec == beast::error::timeout) break;
            // beast::tcp_stream closes the socket on a failed connect; the next attempt
            // opens a new one. The deadline still holds.
            stream.expires_at(deadline);
        }
        if (connected || Clock::now() >= deadline) break;
    }
    if (!connected) {
        if (!connect_errors.empty()) co_return failed(connect_errors);
        if (Clock::now() >= deadline) co_return failed("timeout after " + seconds_text(opt_.timeout) + " resolving " + host);
        co_return failed("no address for " + host + " (" + why_a + "; " + why_aaaa + ")");
    }

    // --- TLS: SNI, chain against the trusted CAs, certificate valid for mta-sts.<domain> ---
    beast::ssl_stream<beast::tcp_stream> tls(std::move(stream), *tls_);
    SSL* ssl_handle = tls.native_handle();
    SSL_set_tlsext_host_name(ssl_handle, host.c_str());
    tls.set_verify_mode(ssl::verify_peer);
    SSL_set_hostflags(ssl_handle, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl_handle, host.c_str()) != 1) co_return failed("cannot set the host name to verify");
    error_code ec;
    co_await tls.async_handshake(ssl::stream_base::client, asio::redirect_error(use_awaitable, ec));
    if (ec) {
        const long v = SSL_get_verify_result(ssl_handle);
        if (ec == beast::error::timeout) co_return failed("timeout after " + seconds_text(opt_.timeout) + " in the TLS handshake");
        if (v != X509_V_OK)
            co_return failed(std::string("certificate of ") + host + " not verified: " + X509_verify_cert_error_string(v));
        co_return failed("TLS handshake: " + ec.message());
    }

    // --- the request ----------------------------------------------------------------------
    http::request<http::empty_body> req{http::verb::get, kPath, 11};
    req.set(http::field::host, opt_.port == 443 ? host : host + ":" + std::to_string(opt_.port));
    req.set(http::field::user_agent, "signpost");
    req.set(http::field::accept, "text/plain");
    req.set(http::field::connection, "close");
    co_await http::async_write(tls, req, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return failed("sending the request: " + (ec == beast::error::timeout ? "timeout" : ec.message()));

    // --- the response: header first, so a redirect or a wrong type is named as such -------
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(boost::none);  // checked below, after the status
    co_await http::async_read_header(tls, buffer, parser, asio::redirect_error(use_awaitable, ec));
    if (ec) {
        if (ec == beast::error::timeout) co_return failed("timeout after " + seconds_text(opt_.timeout) + " waiting for the response");
        co_return failed("reading the response header: " + ec.message());
    }
    const unsigned status = parser.get().result_int();
    if (status / 100 == 3) co_return failed("HTTP " + std::to_string(status) + ": redirects are not followed (RFC 8461 §3.3)");
    if (status != 200) co_return failed("HTTP " + std::to_string(status) + " (only 200 is a policy)");
    const auto type_it = parser.get().find(http::field::content_type);
    if (type_it == parser.get().end()) co_return failed("no Content-Type (must be text/plain)");
    if (!is_text_plain(type_it->value())) co_return failed("Content-Type is not text/plain");
    const auto length = parser.content_length();
    if (length && *length > opt_.max_body)
        co_return failed("body of " + std::to_string(*length) + " octets, more than the limit of " +
                         std::to_string(opt_.max_body));
    parser.body_limit(opt_.max_body);  // chunked or read-to-end bodies
    co_await http::async_read(tls, buffer, parser, asio::redirect_error(use_awaitable, ec));
    if (ec == http::error::body_limit) co_return failed("body larger than the limit of " + std::to_string(opt_.max_body) + " octets");
    if (ec == beast::error::timeout) co_return failed("timeout after " + seconds_text(opt_.timeout) + " reading the body");
    if (ec) co_return failed("reading the body: " + ec.message());

    result.ok = true;
    result.body = parser.release().body();
    // No close_notify exchange: the body is complete and the connection is dropped.
    co_return result;
}

}  // namespace

FetchOptions fetch_options(const config::Config& config) {
    FetchOptions o;
    o.port = config.mta_sts.https_port;
    o.extra_ca_file = config.delivery.extra_ca_file;
    return o;
}

std::string policy_url(const std::string& domain, std::uint16_t port) {
    std::string url = "https://mta-sts." + domain;
    if (port != 443) url += ":" + std::to_string(port);
    url += kPath;
    return url;
}

std::shared_ptr<Fetcher> make_https_fetcher(std::shared_ptr<dns::Resolver> resolver, FetchOptions options) {
    return std::make_shared<HttpsFetcher>(std::move(resolver), std::move(options));
}

}  // namespace signpost::mtasts
