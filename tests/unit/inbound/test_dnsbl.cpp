// tests/unit/inbound/test_dnsbl.cpp — DNSBL query names (RFC 5782 §2.1, §2.4, with the
// RFC's IPv6 example) and which answers mean "listed".
#include <gtest/gtest.h>

#include "relay/inbound/dnsbl.hpp"

namespace {

using namespace signpost;
using boost::asio::ip::make_address;

TEST(InboundDnsbl, QueryNames) {
    EXPECT_EQ(inbound::dnsbl_name(make_address("192.0.2.99"), "bl.example"), "99.2.0.192.bl.example");
    EXPECT_EQ(inbound::dnsbl_name(make_address("::ffff:127.0.0.2"), "bl.example"), "2.0.0.127.bl.example");
    // RFC 5782 §2.4's example address.
    EXPECT_EQ(inbound::dnsbl_name(make_address("2001:db8:1:2:3:4:567:89ab"), "ugly.example.com"),
              "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com");
}

dns::AddressAnswer answer(dns::Status status, std::vector<const char*> addresses) {
    dns::AddressAnswer a;
    a.status = status;
    for (const char* s : addresses) a.addresses.push_back(make_address(s));
    return a;
}

TEST(InboundDnsbl, ListedAnswers) {
    EXPECT_TRUE(inbound::dnsbl_listed(answer(dns::Status::ok, {"127.0.0.2"})));
    EXPECT_TRUE(inbound::dnsbl_listed(answer(dns::Status::ok, {"127.0.0.10", "127.0.0.4"})));
    EXPECT_FALSE(inbound::dnsbl_listed(answer(dns::Status::nxdomain, {})));
    EXPECT_FALSE(inbound::dnsbl_listed(answer(dns::Status::timeout, {})));
    EXPECT_FALSE(inbound::dnsbl_listed(answer(dns::Status::servfail, {})));
    EXPECT_FALSE(inbound::dnsbl_listed(answer(dns::Status::ok, {"127.255.255.254"})));  // "query refused"
    EXPECT_FALSE(inbound::dnsbl_listed(answer(dns::Status::ok, {"127.0.0.1"})));
    EXPECT_FALSE(inbound::dnsbl_listed(answer(dns::Status::ok, {"192.0.2.1"})));       // not a list's answer
}

}  // namespace
