// relay/metrics/health_probe.cpp — GET /healthz as a client (see health_probe.hpp).
#include "relay/metrics/health_probe.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace signpost::metrics {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string connect_host_for(const std::string& listen_host) {
    if (listen_host == "0.0.0.0") return "127.0.0.1";
    if (listen_host == "::") return "::1";
    return listen_host;
}

HealthAnswer probe_health(const config::Endpoint& listen, std::chrono::milliseconds timeout) {
    HealthAnswer answer;
    const std::string host = connect_host_for(listen.host);
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) {
        answer.text = "\"" + host + "\" is not an IP address";
        return answer;
    }
    asio::io_context io;
    beast::tcp_stream stream(io);
    beast::flat_buffer buffer;
    http::request<http::empty_body> request{http::verb::get, "/healthz", 11};
    request.set(http::field::host,
                address.is_v6() ? "[" + host + "]:" + std::to_string(listen.port)
                                : host + ":" + std::to_string(listen.port));
    request.set(http::field::user_agent, "signpost-health");
    request.set(http::field::connection, "close");
    http::response_parser<http::string_body> parser;
    parser.body_limit(4096);
    std::string failure;

    stream.expires_after(timeout);
    stream.async_connect(tcp::endpoint(address, listen.port), [&](beast::error_code cec) {
        if (cec) {
            failure = "cannot connect to " + listen.to_string() + ": " + cec.message();
            return;
        }
        http::async_write(stream, request, [&](beast::error_code wec, std::size_t) {
            if (wec) {
                failure = "cannot send the request: " + wec.message();
                return;
            }
            http::async_read(stream, buffer, parser, [&](beast::error_code rec, std::size_t) {
                if (rec) failure = "no answer: " + rec.message();
            });
        });
    });
    io.run();

    if (!failure.empty() || !parser.is_done()) {
        answer.text = failure.empty() ? "incomplete answer" : failure;
        if (failure.find("timed out") != std::string::npos || failure.find("timeout") != std::string::npos)
            answer.text += " (after " + std::to_string(timeout.count()) + " ms)";
        return answer;
    }
    const auto& response = parser.get();
    answer.reached = true;
    answer.status = static_cast<int>(response.result_int());
    answer.text = response.body().substr(0, response.body().find('\n'));
    return answer;
}

}  // namespace signpost::metrics
