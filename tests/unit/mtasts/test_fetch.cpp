// tests/unit/mtasts/test_fetch.cpp — the HTTPS fetcher's parts that need no HTTPS server:
// the URL, the domain check, the options from config, and the failures before TLS (no
// address, refused connection, a peer that never answers, DNS slower than the deadline).
// Fetches against a real server (nginx: valid policy, untrusted CA, redirect, wrong type,
// oversized body) are in tests/integration/mtasts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>

#include "relay/mtasts/fetch.hpp"
#include "tests/unit/mtasts/scripted.hpp"

namespace signpost::mtasts {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using test::ScriptedResolver;

TEST(mtasts_fetch, PolicyUrl) {
    EXPECT_EQ(policy_url("example.com", 443), "https://mta-sts.example.com/.well-known/mta-sts.txt");
    EXPECT_EQ(policy_url("example.com", 8443), "https://mta-sts.example.com:8443/.well-known/mta-sts.txt");
}

TEST(mtasts_fetch, PolicyDomains) {
    for (const char* ok : {"example.com", "a.b-c.example", "x", "1.example", "xn--bcher-kva.example"})
        EXPECT_TRUE(is_policy_domain(ok)) << ok;
    const std::string long_label(64, 'a');
    std::string long_name;
    while (long_name.size() < 254) long_name += "abcdefgh.";
    long_name += "test";
    for (const std::string& bad : {std::string(), std::string("Example.com"), std::string("example.com."),
                                   std::string(".example.com"), std::string("a..b"), std::string("-a.example"),
                                   std::string("a-.example"), std::string("a_b.example"), std::string("a/b"),
                                   std::string("*.example"), std::string("a b"), long_label + ".example", long_name})
        EXPECT_FALSE(is_policy_domain(bad)) << bad;
}

TEST(mtasts_fetch, OptionsFromConfig) {
    config::Config c;
    EXPECT_EQ(fetch_options(c).port, 443);
    c.mta_sts.https_port = 8443;
    c.delivery.extra_ca_file = "/etc/signpost/ca.pem";
    const FetchOptions o = fetch_options(c);
    EXPECT_EQ(o.port, 8443);
    EXPECT_EQ(o.extra_ca_file, "/etc/signpost/ca.pem");
    EXPECT_EQ(o.timeout, 10s);
    EXPECT_EQ(o.max_body, 65536u);
}

class mtasts_fetch_net : public ::testing::Test {
protected:
    FetchResult fetch(std::shared_ptr<dns::Resolver> r, FetchOptions o, const std::string& domain = "example.test") {
        auto f = make_https_fetcher(std::move(r), std::move(o));
        return test::run(io, f->fetch(domain));
    }
    asio::io_context io;
};

TEST_F(mtasts_fetch_net, NoAddress) {
    auto resolver = std::make_shared<ScriptedResolver>();
    const FetchResult r = fetch(resolver, FetchOptions{});
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error,
              "https://mta-sts.example.test/.well-known/mta-sts.txt: no address for mta-sts.example.test "
              "(A mta-sts.example.test: NXDOMAIN; AAAA mta-sts.example.test: NXDOMAIN)");
    EXPECT_EQ(resolver->address_queries, 2);
}

TEST_F(mtasts_fetch_net, InvalidDomainAsksNothing) {
    auto resolver = std::make_shared<ScriptedResolver>();
    const FetchResult r = fetch(resolver, FetchOptions{}, "a/b");
    EXPECT_FALSE(r.ok);
    EXPECT_THAT(r.error, HasSubstr("not a valid domain name"));
    EXPECT_EQ(resolver->address_queries, 0);
}

TEST_F(mtasts_fetch_net, ConnectionRefused) {
    std::uint16_t port;
    {
        asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
        port = a.local_endpoint().port();
    }  // closed: nothing listens there now
    auto resolver = std::make_shared<ScriptedResolver>();
    resolver->set_a("mta-sts.example.test", "127.0.0.1");
    FetchOptions o;
    o.port = port;
    const FetchResult r = fetch(resolver, o);
    EXPECT_FALSE(r.ok);
    EXPECT_THAT(r.error, HasSubstr("https://mta-sts.example.test:" + std::to_string(port) + "/.well-known/mta-sts.txt: "
                                   "connect 127.0.0.1: Connection refused"));
    EXPECT_EQ(resolver->address_queries, 2);  // AAAA asked after the A addresses failed
}

TEST_F(mtasts_fetch_net, PeerThatNeverAnswersTimesOut) {
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    asio::ip::tcp::socket peer(io);
    acceptor.async_accept(peer, [](boost::system::error_code) {});  // accepts, then stays silent
    auto resolver = std::make_shared<ScriptedResolver>();
    resolver->set_a("mta-sts.example.test", "127.0.0.1");
    FetchOptions o;
    o.port = acceptor.local_endpoint().port();
    o.timeout = 300ms;
    const auto start = std::chrono::steady_clock::now();
    const FetchResult r = fetch(resolver, o);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_FALSE(r.ok);
    EXPECT_THAT(r.error, HasSubstr("timeout after 300ms in the TLS handshake"));
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 3s);
}

// A resolver that takes far longer than the fetch deadline to answer A queries.
class SlowResolver final : public dns::Resolver {
public:
    asio::awaitable<dns::MxAnswer> mx(std::string) override { co_return dns::MxAnswer{}; }
    asio::awaitable<dns::AddressAnswer> a(std::string) override {
        asio::steady_timer t(co_await asio::this_coro::executor, 20s);
        boost::system::error_code ec;
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        dns::AddressAnswer r;
        r.status = dns::Status::timeout;
        co_return r;
    }
    asio::awaitable<dns::AddressAnswer> aaaa(std::string name) override { return a(std::move(name)); }
    asio::awaitable<dns::TxtRecords> txt(std::string) override { co_return dns::TxtRecords{}; }
    asio::awaitable<dns::TlsaAnswer> tlsa(std::string) override { co_return dns::TlsaAnswer{}; }
};

TEST_F(mtasts_fetch_net, SlowDnsIsBoundedByTheDeadline) {
    FetchOptions o;
    o.timeout = 200ms;
    const auto start = std::chrono::steady_clock::now();
    const FetchResult r = fetch(std::make_shared<SlowResolver>(), o);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_FALSE(r.ok);
    EXPECT_THAT(r.error, HasSubstr("timeout after 200ms resolving mta-sts.example.test"));
    EXPECT_LT(took, 3s);
}

}  // namespace
}  // namespace signpost::mtasts
