// relay/tlsrpt/post.cpp — HTTPS POST of a TLS report (see post.hpp).
#include "relay/tlsrpt/post.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <charconv>
#include <vector>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace signpost::tlsrpt {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

bool host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

}  // namespace

std::optional<HttpsUrl> parse_https_url(std::string_view url) {
    constexpr std::string_view scheme = "https://";
    if (url.size() <= scheme.size()) return std::nullopt;
    for (std::size_t i = 0; i < scheme.size(); ++i)
        if (static_cast<char>(std::tolower(static_cast<unsigned char>(url[i]))) != scheme[i]) return std::nullopt;
    url.remove_prefix(scheme.size());
    const std::size_t end = url.find_first_of("/?#");
    std::string_view authority = url.substr(0, end);
    HttpsUrl u;
    if (end != std::string_view::npos) {
        std::string_view rest = url.substr(end);
        rest = rest.substr(0, rest.find('#'));
        u.target = rest.empty() || rest[0] != '/' ? "/" + std::string(rest) : std::string(rest);
    }
    if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no userinfo
    const std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
        std::string_view p = authority.substr(colon + 1);
        unsigned port = 0;
        auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
        if (ec != std::errc{} || ptr != p.data() + p.size() || port == 0 || port > 65535) return std::nullopt;
        u.port = static_cast<std::uint16_t>(port);
        authority = authority.substr(0, colon);
    }
    if (authority.empty() || authority.size() > 253) return std::nullopt;
    for (char c : authority)
        if (!host_char(c)) return std::nullopt;
    for (char c : authority) u.host.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    for (char c : u.target)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
    return u;
}

asio::awaitable<PostResult> https_post(dns::Resolver& resolver, std::shared_ptr<ssl::context> tls_ctx, std::string url,
                                       std::string content_type, std::string body, std::chrono::milliseconds timeout) {
    PostResult result;
    auto failed = [&](std::string what) {
        result.ok = false;
        result.error = url + ": " + what;
        return result;
    };
    auto parsed = parse_https_url(url);
    if (!parsed) co_return failed("not an https URL this client can use");
    const HttpsUrl u = *parsed;
    const auto deadline = Clock::now() + timeout;

    std::vector<asio::ip::address> addresses;
    error_code literal_ec;
    auto literal = asio::ip::make_address(u.host, literal_ec);
    std::string dns_why;
    if (!literal_ec) {
        addresses.push_back(literal);
    } else {
        dns::AddressAnswer v4 = co_await resolver.a(u.host);
        dns::AddressAnswer v6 = co_await resolver.aaaa(u.host);
        for (const auto* a : {&v4, &v6}) {
            addresses.insert(addresses.end(), a->addresses.begin(), a->addresses.end());
            if (a->status != dns::Status::ok && !a->why.empty()) dns_why = a->why;
        }
    }
    if (addresses.empty()) {
        std::string why = "no address for " + u.host;  // no `?:` over strings in coroutines (GCC 12)
        if (!dns_why.empty()) why += " (" + dns_why + ")";
        co_return failed(why);
    }

    beast::tcp_stream stream(co_await asio::this_coro::executor);
    std::string connect_errors;
    bool connected = false;
    for (const auto& a : addresses) {
        if (Clock::now() >= deadline) break;
        stream.expires_at(deadline);
        error_code ec;
        co_await stream.async_connect(tcp::endpoint(a, u.port), asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) {
            connected = true;
            break;
        }
        if (!connect_errors.empty()) connect_errors += "; ";
        connect_errors += a.to_string() + ": " + ec.message();
    }
    if (!connected) co_return failed("cannot connect (" + connect_errors + ")");

    beast::ssl_stream<beast::tcp_stream> tls(std::move(stream), *tls_ctx);
    SSL* handle = tls.native_handle();
    tls.set_verify_mode(ssl::verify_peer);
    if (literal_ec) {
        SSL_set_tlsext_host_name(handle, u.host.c_str());
        SSL_set_hostflags(handle, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(handle, u.host.c_str()) != 1) co_return failed("cannot set the host name to verify");
    } else if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle), u.host.c_str()) != 1) {
        co_return failed("cannot set the address to verify");
    }
    error_code ec;
    co_await tls.async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        const long v = SSL_get_verify_result(handle);
        if (v != X509_V_OK) co_return failed(std::string("certificate not verified: ") + X509_verify_cert_error_string(v));
        co_return failed("TLS handshake: " + ec.message());
    }

    http::request<http::string_body> req{http::verb::post, u.target, 11};
    std::string host_field = u.host;
    if (u.port != 443) host_field += ":" + std::to_string(u.port);
    req.set(http::field::host, host_field);
    req.set(http::field::user_agent, "signpost");
    req.set(http::field::content_type, content_type);
    req.set(http::field::connection, "close");
    req.body() = std::move(body);
    req.prepare_payload();
    co_await http::async_write(tls, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return failed("sending the report: " + ec.message());
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(16 * 1024);
    co_await http::async_read(tls, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec && ec != http::error::body_limit) co_return failed("reading the response: " + ec.message());
    result.status = parser.get().result_int();
    if (result.status / 100 != 2) co_return failed("HTTP " + std::to_string(result.status));
    result.ok = true;
    co_return result;
}

}  // namespace signpost::tlsrpt
