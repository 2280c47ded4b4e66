// tests/unit/config/roundtrip_test.cpp — to_toml and config/signpost.example.toml.
//
// to_toml(c) must load back to a Config equal to c; the example file must load without
// errors and mention every key of the schema, so neither can drift from the loader.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "config/config.hpp"
#include "config/internal.hpp"
#include "tests/unit/config/test_util.hpp"

namespace signpost::config {
namespace {

using test::dump;
using test::kMinimal;
using ::testing::HasSubstr;

const char* const kExample = SIGNPOST_SOURCE_DIR "/config/signpost.example.toml";

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Every dotted key the schema has ("server.hostname", "domain.name", ...).
std::set<std::string> schema_keys() {
    std::set<std::string> out;
    for (const auto& s : detail::kSchema)
        for (auto k : s.keys) out.insert(std::string(s.name) + "." + std::string(k));
    return out;
}

// Every "section.key" present in a TOML text (arrays of tables: any element).
std::set<std::string> keys_in(const std::string& text) {
    std::set<std::string> out;
    toml::table root = toml::parse(text);
    for (auto&& [section, node] : root) {
        // A copy: C++20 lambdas cannot capture a structured binding (Clang 14 refuses).
        const std::string name(section.str());
        auto add = [&](const toml::table& t) {
            for (auto&& [k, v] : t) out.insert(name + "." + std::string(k.str()));
        };
        if (auto t = node.as_table()) add(*t);
        if (auto a = node.as_array())
            for (auto&& elem : *a)
                if (auto t = elem.as_table()) add(*t);
    }
    return out;
}

void expect_round_trip(const Config& c) {
    std::string text = to_toml(c);
    auto again = load_string(text, c.source.string(), {}, test::no_file_checks());
    ASSERT_TRUE(again.ok()) << dump(again) << text;
    EXPECT_TRUE(*again.config == c) << text << "----\n" << to_toml(*again.config);
    EXPECT_EQ(to_toml(*again.config), text);  // a fixed point
}

TEST(ConfigExample, LoadsWithoutErrors) {
    auto r = load_file(kExample, test::no_file_checks());
    ASSERT_TRUE(r.ok()) << dump(r);
    const Config& c = *r.config;
    EXPECT_EQ(c.server.hostname, "mail.example.com");
    ASSERT_EQ(c.listeners.size(), 3u);
    EXPECT_EQ(c.listeners[2].kind, ListenerKind::mx);
    ASSERT_EQ(c.domains.size(), 1u);
    ASSERT_EQ(c.inbound.size(), 1u);
    EXPECT_EQ(c.inbound[0].domain, "example.com");
    EXPECT_EQ(c.inbound[0].deliver_fingerprint,
              "3af20c5e91d47b28660fe1b34c95d8721a6ec04f83b925d7e6185ca43f709bc1");
    EXPECT_EQ(c.domains[0].name, "example.com");
    EXPECT_EQ(c.tls.key, "/etc/signpost/tls/privkey.pem");
    EXPECT_EQ(c.keys.dir, "/var/lib/signpost/keys");
    EXPECT_EQ(c.queue.dir, "/var/spool/signpost");
}

// The example's values are the defaults wherever a default exists, so it documents them
// truthfully: loading it gives what loading the bare minimum plus its explicit choices gives.
TEST(ConfigExample, ShowsTheDefaults) {
    auto r = load_file(kExample, test::no_file_checks());
    ASSERT_TRUE(r.ok()) << dump(r);
    const Config& c = *r.config;
    EXPECT_EQ(c.auth.cache_ttl, AuthConfig{}.cache_ttl);
    EXPECT_EQ(c.auth.max_failures, AuthConfig{}.max_failures);
    EXPECT_EQ(c.auth.lockout, AuthConfig{}.lockout);
    EXPECT_EQ(c.limits, LimitsConfig{});
    EXPECT_EQ(c.queue, QueueConfig{});
    EXPECT_EQ(c.keys, KeysConfig{});
    EXPECT_EQ(c.log, LogConfig{});
    DomainConfig d;
    d.name = "example.com";
    d.headers = c.domains[0].headers;
    EXPECT_EQ(c.domains[0], d);
    EXPECT_EQ(c.mta_sts.cache_dir, c.queue.dir / "mta-sts");
    EXPECT_EQ(c.mta_sts_serve.enforce, MtaStsServeConfig{}.enforce);
    EXPECT_EQ(c.mta_sts_serve.max_age, MtaStsServeConfig{}.max_age);
    EXPECT_EQ(c.mta_sts_serve.mx, std::vector<std::string>{c.server.hostname});
    EXPECT_EQ(c.listeners[2].client_connections_per_hour, 600u);
    EXPECT_EQ(c.listeners[2].client_messages_per_hour, 300u);
    EXPECT_EQ(c.dns.timeout, DnsConfig{}.timeout);
    EXPECT_EQ(c.delivery.mode, DeliveryMode::mx);
    EXPECT_EQ(c.delivery.mx_port, 25);
    EXPECT_EQ(c.listeners[0].kind, ListenerConfig{}.kind);
    EXPECT_EQ(c.inbound[0].deliver_tls, InboundConfig{}.deliver_tls);
    EXPECT_EQ(c.inbound[0].any_recipient, InboundConfig{}.any_recipient);
    EXPECT_EQ(c.inbound[0].unreachable_alert, InboundConfig{}.unreachable_alert);
}

TEST(ConfigExample, MentionsEveryKey) {
    auto present = keys_in(read_text(kExample));
    for (const auto& k : schema_keys()) EXPECT_TRUE(present.count(k)) << k << " missing from the example";
    for (const auto& k : present) EXPECT_TRUE(schema_keys().count(k)) << k << " is not in the schema";
}

TEST(ConfigToToml, ExampleRoundTrips) {
    auto r = load_file(kExample, test::no_file_checks());
    ASSERT_TRUE(r.ok()) << dump(r);
    expect_round_trip(*r.config);
}

TEST(ConfigToToml, WritesEveryKeyOfAFullConfig) {
    auto r = load_file(kExample, test::no_file_checks());
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(keys_in(to_toml(*r.config)), schema_keys());
}

TEST(ConfigToToml, MinimalRoundTripsWithDefaultsWritten) {
    auto r = test::load(std::string(kMinimal) + "[[domain]]\nname = \"example.com\"\n");
    ASSERT_TRUE(r.ok()) << dump(r);
    std::string text = to_toml(*r.config);
    EXPECT_THAT(text, HasSubstr("\n[limits]\nmessage_size = \"25MB\"\nmax_recipients = 100\n"));
    EXPECT_THAT(text, HasSubstr("retire_after = \"12d\"\n"));
    EXPECT_THAT(text, HasSubstr("cache_dir = \"/var/spool/signpost/mta-sts\"\n"));
    EXPECT_THAT(text, HasSubstr("name = \"starttls-2587\"\n"));
    EXPECT_THAT(text, HasSubstr("tls = \"starttls\"\nkind = \"submission\"\n"));
    EXPECT_THAT(text, HasSubstr("retry = [\"5m\", \"10m\", \"20m\", \"40m\", \"1h\"]\n"));
    EXPECT_THAT(text, HasSubstr("canonicalization = \"relaxed/relaxed\"\n"));
    expect_round_trip(*r.config);
}

TEST(ConfigToToml, SectionOrderFollowsTheSchema) {
    auto r = load_file(kExample, test::no_file_checks());
    ASSERT_TRUE(r.ok()) << dump(r);
    std::string text = to_toml(*r.config);
    std::size_t last = 0;
    for (const auto& s : detail::kSchema) {
        std::string header = s.is_array ? "[[" + std::string(s.name) + "]]" : "[" + std::string(s.name) + "]";
        std::size_t at = text.find("\n" + header + "\n");
        ASSERT_NE(at, std::string::npos) << header;
        EXPECT_GT(at, last) << header << " out of order";
        last = at;
    }
}

TEST(ConfigToToml, UnusualValuesRoundTrip) {
    auto r = test::load(R"(
[server]
hostname = "relay.example.net"
[[listener]]
name = "v6"
address = "[2001:db8::1]:465"
tls = "implicit"
[[listener]]
address = "0.0.0.0:587"
[tls]
cert = "/etc/signpost/a \"quoted\" dir/cert.pem"
key = "C:\\odd\\key.pem"
min_version = "1.3"
[auth]
users_file = "relative/users"
cache_ttl = "0"
[limits]
message_size = "1MiB"
connection_timeout = "3601s"
[[domain]]
name = "example.com"
algorithms = ["rsa3072"]
rotate_every = "0"
canonicalization = "relaxed"
headers = ["from", "subject"]
sign_subdomains = true
[[domain]]
name = "example.org"
retire_after = "2w"
[queue]
retry = ["1s"]
min_free_space = "0"
[delivery]
mode = "smarthost"
smarthost = "[::1]"
[mta_sts]
enabled = false
[dns]
forwarders = ["::1", "192.0.2.1@5353"]
[metrics]
listen = "[::]:9325"
[log]
level = "off"
format = "json"
)");
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->domains[0].body_canon, Canonicalization::simple);
    expect_round_trip(*r.config);
}

TEST(ConfigToToml, InboundRoundTripsWithEveryKey) {
    auto r = test::load(std::string(kMinimal) + R"(
[[listener]]
address = "[::]:25"
kind = "mx"
[[inbound]]
domain = "Example.org"
recipients = ["Alice", "bob@example.org", "a\"quote"]
recipients_file = "/etc/signpost/recipients file"
any_recipient = true
deliver_to = "[2001:db8::1]:465"
deliver_tls = "implicit"
deliver_credentials_file = "relative/creds"
deliver_fingerprint = "SHA256:3A:F2:0C:5E:91:D4:7B:28:66:0F:E1:B3:4C:95:D8:72:1A:6E:C0:4F:83:B9:25:D7:E6:18:5C:A4:3F:70:9B:C1"
unreachable_alert = "90m"
dmarc = "enforce"
greylist = false
greylist_delay = "1m"
[[inbound]]
domain = "example.net"
recipients_file = "net-recipients"
deliver_to = "home.example.net"
)");
    ASSERT_TRUE(r.ok()) << dump(r);
    std::string text = to_toml(*r.config);
    EXPECT_THAT(text, HasSubstr("[[listener]]\nname = \"mx-25\"\naddress = \"[::]:25\"\ntls = \"starttls\"\n"
                                "kind = \"mx\"\n"));
    EXPECT_THAT(text, HasSubstr("recipients = [\"alice\", \"bob@example.org\", \"a\\\"quote\"]\n"));
    EXPECT_THAT(text, HasSubstr(
                          "deliver_fingerprint = \"3af20c5e91d47b28660fe1b34c95d8721a6ec04f83b925d7e6185ca43f709bc1\"\n"
                          "unreachable_alert = \"90m\"\n"));
    // The second table's unset keys, as comments and defaults.
    EXPECT_THAT(text, HasSubstr("recipients = []\nrecipients_file = \"net-recipients\"\nany_recipient = false\n"
                                "deliver_to = \"home.example.net:25\"\ndeliver_tls = \"starttls\"\n"
                                "# deliver_credentials_file is not set\n# deliver_fingerprint is not set"));
    EXPECT_THAT(text, HasSubstr("unreachable_alert = \"1h\"\n"));
    expect_round_trip(*r.config);
}

TEST(ConfigToToml, MtaStsServeRoundTrips) {
    auto r = test::load(std::string(kMinimal) + R"(
[[listener]]
address = "0.0.0.0:25"
kind = "mx"
[[inbound]]
domain = "example.org"
any_recipient = true
deliver_to = "home.example.org"
[mta_sts_serve]
listen = "127.0.0.1:8443"
cert = "/etc/signpost/mta-sts.pem"
key = "/etc/signpost/mta-sts.key"
mode = "enforce"
max_age = "1d"
)");
    ASSERT_TRUE(r.ok()) << dump(r);
    std::string text = to_toml(*r.config);
    EXPECT_THAT(text, HasSubstr("[mta_sts_serve]\nlisten = \"127.0.0.1:8443\"\n"));
    EXPECT_THAT(text, HasSubstr("mode = \"enforce\"\nmax_age = \"1d\"\nmx = [\""));
    expect_round_trip(*r.config);
}

TEST(ConfigToToml, IsDeterministic) {
    auto a = load_file(kExample, test::no_file_checks());
    auto b = load_file(kExample, test::no_file_checks());
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(to_toml(*a.config), to_toml(*b.config));
}

}  // namespace
}  // namespace signpost::config
