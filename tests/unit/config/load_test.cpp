// tests/unit/config/load_test.cpp — load_string: defaults, every key's parsing, and every
// class of error with its exact line, column and key path. No file checks here (see
// files_test.cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>

#include "config/config.hpp"
#include "tests/unit/config/test_util.hpp"

namespace signpost::config {
namespace {

using namespace std::chrono_literals;
using test::dump;
using test::kMinimal;
using test::kMinimalLines;
using test::load;
using ::testing::HasSubstr;

constexpr Duration kDay{86400};

// ---- defaults --------------------------------------------------------------------------------

TEST(ConfigLoad, MinimalGetsEveryDefault) {
    auto r = load(kMinimal);
    ASSERT_TRUE(r.ok()) << dump(r);
    const Config& c = *r.config;
    EXPECT_EQ(c.source, "test.toml");

    char host[256] = {};
    ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
    EXPECT_EQ(c.server.hostname, host);

    ASSERT_EQ(c.listeners.size(), 1u);
    EXPECT_EQ(c.listeners[0].name, "starttls-2587");
    EXPECT_EQ(c.listeners[0].address, (Endpoint{"127.0.0.1", 2587}));
    EXPECT_EQ(c.listeners[0].tls, TlsMode::starttls);
    EXPECT_EQ(c.listeners[0].kind, ListenerKind::submission);

    EXPECT_EQ(c.tls.cert, "/etc/signpost/cert.pem");
    EXPECT_EQ(c.tls.key, "/etc/signpost/key.pem");
    EXPECT_EQ(c.tls.min_version, TlsVersion::tls1_2);
    EXPECT_EQ(c.auth.users_file, "/etc/signpost/users");
    EXPECT_EQ(c.auth.cache_ttl, 5min);
    EXPECT_EQ(c.auth.max_failures, 5u);
    EXPECT_EQ(c.auth.lockout, 15min);

    EXPECT_EQ(c.limits, LimitsConfig{});
    EXPECT_EQ(c.limits.message_size, 25'000'000u);
    EXPECT_EQ(c.keys.dir, "/var/lib/signpost/keys");
    EXPECT_EQ(c.queue, QueueConfig{});
    EXPECT_EQ(c.delivery, DeliveryConfig{});
    EXPECT_EQ(c.delivery.mode, DeliveryMode::mx);
    EXPECT_EQ(c.delivery.mx_port, 25);
    EXPECT_TRUE(c.mta_sts.enabled);
    EXPECT_EQ(c.mta_sts.cache_dir, "/var/spool/signpost/mta-sts");  // <queue.dir>/mta-sts
    EXPECT_EQ(c.dns, DnsConfig{});
    EXPECT_FALSE(c.metrics.listen.has_value());
    EXPECT_EQ(c.log.level, LogLevel::info);
    EXPECT_EQ(c.log.format, LogFormat::text);
    EXPECT_TRUE(c.domains.empty());
    EXPECT_TRUE(c.inbound.empty());
}

TEST(ConfigLoad, DomainDefaults) {
    auto r = load(std::string(kMinimal) + "[[domain]]\nname = \"Example.COM.\"\n");
    ASSERT_TRUE(r.ok()) << dump(r);
    ASSERT_EQ(r.config->domains.size(), 1u);
    const DomainConfig& d = r.config->domains[0];
    EXPECT_EQ(d.name, "example.com");  // lower-cased, trailing dot dropped
    EXPECT_EQ(d.selector_prefix, "sp");
    EXPECT_EQ(d.algorithms, (std::vector{DkimAlgorithm::ed25519, DkimAlgorithm::rsa2048}));
    EXPECT_EQ(d.rotate_every, 90 * kDay);
    EXPECT_EQ(d.publish_lead, 7 * kDay);
    EXPECT_EQ(d.retire_after, 12 * kDay);  // queue.max_lifetime (5d) + 7d
    EXPECT_EQ(d.header_canon, Canonicalization::relaxed);
    EXPECT_EQ(d.body_canon, Canonicalization::relaxed);
    EXPECT_TRUE(d.headers.empty());
    EXPECT_FALSE(d.sign_subdomains);
}

TEST(ConfigLoad, ComputedDefaultsFollowTheKeysTheyDependOn) {
    auto r = load(std::string(kMinimal) +
                  "[queue]\ndir = \"/srv/spool\"\nmax_lifetime = \"10d\"\n"
                  "[[domain]]\nname = \"example.com\"\n");
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->domains[0].retire_after, 17 * kDay);
    EXPECT_EQ(r.config->mta_sts.cache_dir, "/srv/spool/mta-sts");
}

TEST(ConfigLoad, EveryKeyIsRead) {
    auto r = load(R"([server]
hostname = "mail.example.com."
[[listener]]
name = "sub"
address = "[0:0::1]:587"
tls = "implicit"
[tls]
cert = "c.pem"
key = "k.pem"
min_version = "1.3"
[auth]
users_file = "users"
cache_ttl = "0"
max_failures = 3
lockout = "1h"
[limits]
message_size = "10MiB"
max_recipients = 50
max_connections = 10
max_connections_per_ip = 2
command_timeout = "1m"
data_timeout = "2m"
connection_timeout = "3m"
bare_lf = "refuse"
max_line_length = "64KB"
[[domain]]
name = "example.org"
selector_prefix = "mail-1"
algorithms = ["rsa4096", "ed25519"]
rotate_every = "0"
publish_lead = "30d"
retire_after = "30d"
canonicalization = "simple/relaxed"
headers = ["From", "Subject", "X-Custom"]
sign_subdomains = true
[keys]
dir = "/k"
[queue]
dir = "/q"
max_lifetime = "2d"
retry = ["1m", "1h"]
warn_after = "0"
min_free_space = "1GB"
in_flow_delay = "0s"
[delivery]
mode = "smarthost"
smarthost = "relay.example.net"
smarthost_tls = "implicit"
smarthost_credentials_file = "/creds"
mx_port = 2525
capture_dir = "/cap"
extra_ca_file = "/ca.pem"
[mta_sts]
enabled = false
cache_dir = "/sts"
[dns]
forwarders = ["127.0.0.1", "::1@5353"]
dnssec = true
trust_anchor_file = "/root.key"
timeout = "3s"
[metrics]
listen = "[::1]:9325"
[log]
level = "debug"
format = "json"
)");
    ASSERT_TRUE(r.ok()) << dump(r);
    const Config& c = *r.config;
    EXPECT_EQ(c.server.hostname, "mail.example.com");
    ASSERT_EQ(c.listeners.size(), 1u);
    EXPECT_EQ(c.listeners[0].name, "sub");
    EXPECT_EQ(c.listeners[0].address, (Endpoint{"::1", 587}));
    EXPECT_EQ(c.listeners[0].tls, TlsMode::implicit);
    EXPECT_EQ(c.tls.cert, "c.pem");  // no base_dir: relative paths kept as written
    EXPECT_EQ(c.tls.min_version, TlsVersion::tls1_3);
    EXPECT_EQ(c.auth.cache_ttl, 0s);
    EXPECT_EQ(c.auth.max_failures, 3u);
    EXPECT_EQ(c.auth.lockout, 1h);
    EXPECT_EQ(c.limits.message_size, 10u * 1024 * 1024);
    EXPECT_EQ(c.limits.max_recipients, 50u);
    EXPECT_EQ(c.limits.bare_lf, BareLf::refuse);
    EXPECT_EQ(c.limits.max_line_length, 64000u);
    EXPECT_EQ(c.limits.max_connections, 10u);
    EXPECT_EQ(c.limits.max_connections_per_ip, 2u);
    EXPECT_EQ(c.limits.command_timeout, 1min);
    EXPECT_EQ(c.limits.data_timeout, 2min);
    EXPECT_EQ(c.limits.connection_timeout, 3min);
    ASSERT_EQ(c.domains.size(), 1u);
    const DomainConfig& d = c.domains[0];
    EXPECT_EQ(d.selector_prefix, "mail-1");
    EXPECT_EQ(d.algorithms, (std::vector{DkimAlgorithm::rsa4096, DkimAlgorithm::ed25519}));
    EXPECT_EQ(d.rotate_every, 0s);
    EXPECT_EQ(d.publish_lead, 30 * kDay);  // no publish_lead rule under manual rotation
    EXPECT_EQ(d.retire_after, 30 * kDay);
    EXPECT_EQ(d.header_canon, Canonicalization::simple);
    EXPECT_EQ(d.body_canon, Canonicalization::relaxed);
    EXPECT_EQ(d.headers, (std::vector<std::string>{"from", "subject", "x-custom"}));
    EXPECT_TRUE(d.sign_subdomains);
    EXPECT_EQ(c.keys.dir, "/k");
    EXPECT_EQ(c.queue.dir, "/q");
    EXPECT_EQ(c.queue.max_lifetime, 2 * kDay);
    EXPECT_EQ(c.queue.retry, (std::vector<Duration>{1min, 1h}));
    EXPECT_EQ(c.queue.warn_after, 0s);
    EXPECT_EQ(c.queue.min_free_space, 1'000'000'000u);
    EXPECT_EQ(c.queue.in_flow_delay, 0s);
    EXPECT_EQ(c.delivery.mode, DeliveryMode::smarthost);
    EXPECT_EQ(c.delivery.smarthost, (Endpoint{"relay.example.net", 587}));
    EXPECT_EQ(c.delivery.smarthost_tls, TlsMode::implicit);
    EXPECT_EQ(c.delivery.smarthost_credentials_file, "/creds");
    EXPECT_EQ(c.delivery.mx_port, 2525);
    EXPECT_EQ(c.delivery.capture_dir, "/cap");
    EXPECT_EQ(c.delivery.extra_ca_file, "/ca.pem");
    EXPECT_FALSE(c.mta_sts.enabled);
    EXPECT_EQ(c.mta_sts.cache_dir, "/sts");
    EXPECT_EQ(c.dns.forwarders, (std::vector<Endpoint>{{"127.0.0.1", 53}, {"::1", 5353}}));
    EXPECT_TRUE(c.dns.dnssec);
    EXPECT_EQ(c.dns.trust_anchor_file, "/root.key");
    EXPECT_EQ(c.dns.timeout, 3s);
    EXPECT_EQ(c.metrics.listen, (Endpoint{"::1", 9325}));
    EXPECT_EQ(c.log.level, LogLevel::debug);
    EXPECT_EQ(c.log.format, LogFormat::json);
}

// RFC 6376 §3.5 c=: "header/body"; one word is the header algorithm, body "simple".
TEST(ConfigLoad, Canonicalization) {
    struct Case {
        const char* text;
        Canonicalization header, body;
    };
    const Case cases[] = {
        {"relaxed/relaxed", Canonicalization::relaxed, Canonicalization::relaxed},
        {"simple/simple", Canonicalization::simple, Canonicalization::simple},
        {"relaxed/simple", Canonicalization::relaxed, Canonicalization::simple},
        {"simple/relaxed", Canonicalization::simple, Canonicalization::relaxed},
        {"relaxed", Canonicalization::relaxed, Canonicalization::simple},
        {"simple", Canonicalization::simple, Canonicalization::simple},
    };
    for (const Case& c : cases) {
        auto r = load(std::string(kMinimal) + "[[domain]]\nname = \"example.com\"\ncanonicalization = \"" +
                      c.text + "\"\n");
        ASSERT_TRUE(r.ok()) << c.text << "\n" << dump(r);
        EXPECT_EQ(r.config->domains[0].header_canon, c.header) << c.text;
        EXPECT_EQ(r.config->domains[0].body_canon, c.body) << c.text;
    }
}

TEST(ConfigLoad, TwoListenersWithDistinctDefaultNames) {
    auto r = load(R"([[listener]]
address = "0.0.0.0:587"
[[listener]]
address = "0.0.0.0:465"
tls = "implicit"
[tls]
cert = "/c"
key = "/k"
[auth]
users_file = "/u"
)");
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->listeners[0].name, "starttls-587");
    EXPECT_EQ(r.config->listeners[1].name, "implicit-465");
}

TEST(ConfigLoad, RelativePathsResolveAgainstBaseDir) {
    auto r = load_string(
        "[[listener]]\naddress = \"127.0.0.1:2587\"\n[tls]\ncert = \"tls/cert.pem\"\n"
        "key = \"/abs/key.pem\"\n[auth]\nusers_file = \"../shared/./users\"\n[queue]\ndir = \"spool\"\n",
        "x.toml", "/etc/signpost", test::no_file_checks());
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->tls.cert, "/etc/signpost/tls/cert.pem");
    EXPECT_EQ(r.config->tls.key, "/abs/key.pem");
    EXPECT_EQ(r.config->auth.users_file, "/etc/shared/users");
    EXPECT_EQ(r.config->queue.dir, "/etc/signpost/spool");
    EXPECT_EQ(r.config->mta_sts.cache_dir, "/etc/signpost/spool/mta-sts");
}

// ---- [[listener]] kind, [[inbound]] --------------------------------------------------------------

// Appended to kMinimal: an MX listener, so that [[inbound]] tables after it are accepted.
constexpr std::string_view kMxListener = "[[listener]]\naddress = \"0.0.0.0:25\"\nkind = \"mx\"\n";
constexpr unsigned kMxListenerLines = 3;

// A fingerprint as `openssl x509 -noout -fingerprint -sha256` prints it, and normalized.
constexpr const char* kFingerprintColons =
    "3A:F2:0C:5E:91:D4:7B:28:66:0F:E1:B3:4C:95:D8:72:1A:6E:C0:4F:83:B9:25:D7:E6:18:5C:A4:3F:70:9B:C1";
constexpr const char* kFingerprintHex = "3af20c5e91d47b28660fe1b34c95d8721a6ec04f83b925d7e6185ca43f709bc1";

std::string with_inbound(std::string_view inbound) {
    return std::string(kMinimal) + std::string(kMxListener) + std::string(inbound);
}

TEST(ConfigLoad, InboundEveryKeyIsRead) {
    auto r = load_string(with_inbound(std::string(R"([[inbound]]
domain = "Example.ORG."
recipients = ["Alice", "BOB@Example.org", "post.master+tag"]
recipients_file = "inbound/recipients"
any_recipient = true
deliver_to = "Home.Example.NET:2525"
deliver_tls = "implicit"
deliver_credentials_file = "inbound/credentials"
deliver_fingerprint = ")") + kFingerprintColons + R"("
unreachable_alert = "30m"
dmarc = "enforce"
greylist = false
greylist_delay = "90s"
greylist_lifetime = "7d"
[[domain]]
name = "example.org"
)"),
                         "x.toml", "/etc/signpost", test::no_file_checks());
    ASSERT_TRUE(r.ok()) << dump(r);  // example.org both signs and receives: fine
    const Config& c = *r.config;
    ASSERT_EQ(c.listeners.size(), 2u);
    EXPECT_EQ(c.listeners[1].kind, ListenerKind::mx);
    EXPECT_EQ(c.listeners[1].tls, TlsMode::starttls);
    EXPECT_EQ(c.listeners[1].greet_pause, 1s);  // the default for an MX listener
    EXPECT_TRUE(c.listeners[1].dnsbl.empty());
    EXPECT_EQ(c.listeners[0].greet_pause, 0s);
    ASSERT_EQ(c.inbound.size(), 1u);
    const InboundConfig& in = c.inbound[0];
    EXPECT_EQ(in.domain, "example.org");
    EXPECT_EQ(in.recipients, (std::vector<std::string>{"alice", "bob@example.org", "post.master+tag"}));
    EXPECT_EQ(in.recipients_file, "/etc/signpost/inbound/recipients");
    EXPECT_TRUE(in.any_recipient);
    EXPECT_EQ(in.deliver_to, (Endpoint{"home.example.net", 2525}));
    EXPECT_EQ(in.deliver_tls, TlsMode::implicit);
    EXPECT_EQ(in.deliver_credentials_file, "/etc/signpost/inbound/credentials");
    EXPECT_EQ(in.deliver_fingerprint, kFingerprintHex);
    EXPECT_EQ(in.unreachable_alert, 30min);
    EXPECT_EQ(in.dmarc, InboundDmarc::enforce);
    EXPECT_FALSE(in.greylist);
    EXPECT_EQ(in.greylist_delay, 90s);
    EXPECT_EQ(in.greylist_lifetime, std::chrono::hours(7 * 24));
    EXPECT_EQ(c.find_domain("example.org"), &c.domains[0]);
    EXPECT_EQ(c.find_inbound("example.org"), &in);
}

TEST(ConfigLoad, MxListenerGreetPauseAndDnsbl) {
    auto r = load(std::string(kMinimal) +
                  "[[listener]]\naddress = \"0.0.0.0:25\"\nkind = \"mx\"\ngreet_pause = \"3s\"\n"
                  "dnsbl = [\"Zen.Spamhaus.org.\", \"bl.example\"]\n"
                  "[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\ndeliver_to = \"home.example\"\n");
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->listeners[1].greet_pause, 3s);
    EXPECT_EQ(r.config->listeners[1].dnsbl, (std::vector<std::string>{"zen.spamhaus.org", "bl.example"}));
    // Both are for MX listeners only; the pause is bounded; zones must be DNS names.
    auto bad = load(std::string(kMinimal) +
                    "[[listener]]\naddress = \"0.0.0.0:2588\"\ndnsbl = [\"bl.example\"]\n"
                    "[[listener]]\naddress = \"0.0.0.0:25\"\nkind = \"mx\"\ngreet_pause = \"1m\"\ndnsbl = [\"bad zone\"]\n"
                    "[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\ndeliver_to = \"home.example\"\n");
    ASSERT_EQ(bad.errors.size(), 3u) << dump(bad);
    EXPECT_EQ(bad.errors[0].key, "listener[1].dnsbl");
    EXPECT_NE(bad.errors[0].message.find("is for kind = \"mx\" listeners"), std::string::npos);
    EXPECT_EQ(bad.errors[1].key, "listener[2].greet_pause");
    EXPECT_EQ(bad.errors[2].key, "listener[2].dnsbl[0]");
}

TEST(ConfigLoad, InboundDefaults) {
    auto r = load(with_inbound("[[inbound]]\ndomain = \"example.org\"\nrecipients = [\"alice\"]\n"
                               "deliver_to = \"[2001:db8::25]\"\n"));
    ASSERT_TRUE(r.ok()) << dump(r);
    ASSERT_EQ(r.config->inbound.size(), 1u);
    InboundConfig expected;
    expected.domain = "example.org";
    expected.recipients = {"alice"};
    expected.deliver_to = Endpoint{"2001:db8::25", 25};  // port default 25
    EXPECT_EQ(r.config->inbound[0], expected);
    EXPECT_EQ(expected.deliver_tls, TlsMode::starttls);
    EXPECT_EQ(expected.unreachable_alert, 1h);
    EXPECT_TRUE(expected.deliver_fingerprint.empty());
    EXPECT_FALSE(expected.any_recipient);
    EXPECT_EQ(expected.dmarc, InboundDmarc::record);
    EXPECT_TRUE(expected.greylist);
    EXPECT_EQ(expected.greylist_delay, 5min);
    EXPECT_EQ(expected.greylist_lifetime, std::chrono::hours(35 * 24));
}

TEST(ConfigLoad, RecipientsAreLowerCased) {
    auto r = load(with_inbound("[[inbound]]\ndomain = \"EXAMPLE.org\"\n"
                               "recipients = [\"Alice\", \"BOB@EXAMPLE.ORG\", \"Carol@example.org\"]\n"
                               "deliver_to = \"home.example\"\n"));
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->inbound[0].recipients,
              (std::vector<std::string>{"alice", "bob@example.org", "carol@example.org"}));
}

TEST(ConfigLoad, MxListenerDefaultName) {
    auto r = load(std::string(kMinimal) + R"([[listener]]
address = "0.0.0.0:25"
kind = "mx"
[[listener]]
address = "[::]:2525"
kind = "mx"
tls = "starttls"
[[listener]]
name = "inbound"
address = "192.0.2.1:25"
kind = "mx"
[[listener]]
address = "0.0.0.0:587"
kind = "submission"
[[inbound]]
domain = "example.org"
any_recipient = true
deliver_to = "home.example"
)");
    ASSERT_TRUE(r.ok()) << dump(r);
    const auto& l = r.config->listeners;
    ASSERT_EQ(l.size(), 5u);
    EXPECT_EQ(l[0].name, "starttls-2587");  // kMinimal's, submission by default
    EXPECT_EQ(l[1].name, "mx-25");
    EXPECT_EQ(l[2].name, "mx-2525");
    EXPECT_EQ(l[3].name, "inbound");        // a name given is kept
    EXPECT_EQ(l[4].name, "starttls-587");
    EXPECT_EQ(l[4].kind, ListenerKind::submission);
}

// Pasted from openssl (colons, upper case), or bare hex, with or without "sha256:": one
// stored form.
TEST(ConfigLoad, FingerprintIsNormalized) {
    const std::string colons = kFingerprintColons;
    std::string upper_hex = kFingerprintHex;
    for (char& ch : upper_hex) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    const std::string forms[] = {colons,
                                 kFingerprintHex,
                                 upper_hex,
                                 "sha256:" + colons,
                                 "SHA256:" + std::string(kFingerprintHex),
                                 "3af2:0c5e91" + std::string(kFingerprintHex).substr(10)};  // colons at some pairs
    for (const std::string& form : forms) {
        auto r = load(with_inbound("[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\n"
                                   "deliver_to = \"home.example\"\ndeliver_fingerprint = \"" + form + "\"\n"));
        ASSERT_TRUE(r.ok()) << form << "\n" << dump(r);
        EXPECT_EQ(r.config->inbound[0].deliver_fingerprint, kFingerprintHex) << form;
    }
}

TEST(ConfigLoadError, FingerprintShowsTheExpectedForm) {
    const std::string hex = kFingerprintHex;
    const std::string colons = kFingerprintColons;
    const std::string bad[] = {
        "",
        hex.substr(1),                                   // 63 digits
        hex + "0",                                       // 65 digits
        colons.substr(0, colons.size() - 3),             // 31 pairs
        "3:AF2" + colons.substr(5),                      // a colon inside a pair
        ":" + colons,                                    // leading colon
        colons + ":",                                    // trailing colon
        "3A::F2" + colons.substr(5),                     // two colons
        "g" + hex.substr(1),                             // not hex
        "sha1:" + hex,                                   // another algorithm
        "SHA256 Fingerprint=" + colons,                  // the whole openssl line
        "3A F2" + colons.substr(5),                      // spaces
    };
    for (const std::string& text : bad) {
        auto r = load(with_inbound("[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\n"
                                   "deliver_to = \"home.example\"\ndeliver_fingerprint = \"" + text + "\"\n"));
        ASSERT_EQ(r.errors.size(), 1u) << text << "\n" << dump(r);
        const ConfigError& e = r.errors[0];
        EXPECT_EQ(e.key, "inbound[0].deliver_fingerprint") << text;
        EXPECT_EQ(e.line, kMinimalLines + kMxListenerLines + 5) << text;
        EXPECT_EQ(e.column, 23u) << text;
        EXPECT_EQ(e.message,
                  "invalid fingerprint \"" + text +
                      "\"; expected the SHA-256 fingerprint of deliver_to's certificate: 64 hex digits, "
                      "optionally with colons between byte pairs and a \"sha256:\" prefix, such as "
                      "\"sha256:3A:F2:...:9C\" (the part after \"Fingerprint=\" of openssl x509 -noout "
                      "-fingerprint -sha256 -in cert.pem)");
    }
}

TEST(ConfigFindInbound, ExactCaseInsensitive) {
    auto r = load(with_inbound(R"([[inbound]]
domain = "example.org"
any_recipient = true
deliver_to = "home.example"
[[inbound]]
domain = "sub.example.org"
recipients = ["alice"]
deliver_to = "home.example"
)"));
    ASSERT_TRUE(r.ok()) << dump(r);
    const Config& c = *r.config;
    EXPECT_EQ(c.find_inbound("example.org"), &c.inbound[0]);
    EXPECT_EQ(c.find_inbound("EXAMPLE.Org."), &c.inbound[0]);
    EXPECT_EQ(c.find_inbound("sub.example.org"), &c.inbound[1]);
    EXPECT_EQ(c.find_inbound("other.example.org"), nullptr);  // no parent matching
    EXPECT_EQ(c.find_inbound("example.com"), nullptr);
    EXPECT_EQ(c.find_inbound(""), nullptr);
}

TEST(ConfigLoadError, InboundMistakesAreAllReported) {
    auto r = load(with_inbound("[[inbound]]\nrecipients = [\"alice\", \"\"]\n"));
    std::vector<std::string> got;
    for (const auto& e : r.errors) got.push_back(e.key);
    EXPECT_EQ(got, (std::vector<std::string>{"inbound[0].domain", "inbound[0].deliver_to",
                                             "inbound[0].recipients[1]"}))
        << dump(r);
}

// ---- [mta_sts_serve] -------------------------------------------------------------------------------

TEST(ConfigLoad, MtaStsServeEveryKeyIsRead) {
    auto r = load_string(with_inbound("[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\ndeliver_to = \"home.example\"\n"
                                      "[mta_sts_serve]\nlisten = \"[::]:8443\"\ncert = \"mta-sts.pem\"\nkey = \"/k/mta-sts.key\"\n"
                                      "mode = \"enforce\"\nmax_age = \"30d\"\nmx = [\"MX1.Example.org.\", \"*.mx.example.org\"]\n"),
                         "x.toml", "/etc/signpost", test::no_file_checks());
    ASSERT_TRUE(r.ok()) << dump(r);
    const MtaStsServeConfig& m = r.config->mta_sts_serve;
    EXPECT_EQ(m.listen, (Endpoint{"::", 8443}));
    EXPECT_EQ(m.cert, "/etc/signpost/mta-sts.pem");  // relative to the config file's directory
    EXPECT_EQ(m.key, "/k/mta-sts.key");
    EXPECT_TRUE(m.enforce);
    EXPECT_EQ(m.max_age, std::chrono::hours(30 * 24));
    EXPECT_EQ(m.mx, (std::vector<std::string>{"mx1.example.org", "*.mx.example.org"}));
}

TEST(ConfigLoad, MtaStsServeDefaults) {
    auto r = load(with_inbound("[server]\nhostname = \"mx.example.org\"\n"
                               "[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\ndeliver_to = \"home.example\"\n"
                               "[mta_sts_serve]\nlisten = \"0.0.0.0\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n"));
    ASSERT_TRUE(r.ok()) << dump(r);
    const MtaStsServeConfig& m = r.config->mta_sts_serve;
    EXPECT_EQ(m.listen, (Endpoint{"0.0.0.0", 443}));  // port default 443
    EXPECT_FALSE(m.enforce);                          // testing
    EXPECT_EQ(m.max_age, std::chrono::hours(7 * 24));
    EXPECT_EQ(m.mx, (std::vector<std::string>{"mx.example.org"}));  // [server] hostname
    // Without the section nothing is served.
    auto none = load(with_inbound("[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\ndeliver_to = \"h.example\"\n"));
    ASSERT_TRUE(none.ok()) << dump(none);
    EXPECT_FALSE(none.config->mta_sts_serve.listen);
    EXPECT_TRUE(none.config->mta_sts_serve.mx.empty());
}

TEST(ConfigLoadError, MtaStsServeMistakes) {
    // Missing keys, a bad mode, max_age over the RFC's bound, a bad mx name.
    auto r = load(with_inbound("[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\ndeliver_to = \"home.example\"\n"
                               "[mta_sts_serve]\nmode = \"strict\"\nmax_age = \"400d\"\nmx = [\"bad name\"]\n"));
    std::vector<std::string> got;
    for (const auto& e : r.errors) got.push_back(e.key);
    EXPECT_EQ(got, (std::vector<std::string>{"mta_sts_serve.listen", "mta_sts_serve.cert", "mta_sts_serve.key",
                                             "mta_sts_serve.mode", "mta_sts_serve.max_age", "mta_sts_serve.mx[0]"}))
        << dump(r);
    ASSERT_EQ(r.errors.size(), 6u);
    EXPECT_THAT(r.errors[3].message, HasSubstr("\"testing\""));
    EXPECT_THAT(r.errors[4].message, HasSubstr("31557600s"));
    // Nothing to serve without [[inbound]].
    auto alone = load(std::string(kMinimal) + "[mta_sts_serve]\nlisten = \"0.0.0.0:443\"\ncert = \"c\"\nkey = \"k\"\n");
    ASSERT_EQ(alone.errors.size(), 1u) << dump(alone);
    EXPECT_EQ(alone.errors[0].key, "mta_sts_serve");
    EXPECT_EQ(alone.errors[0].line, kMinimalLines + 1);
    EXPECT_THAT(alone.errors[0].message, HasSubstr("[[inbound]] domains, and there is none"));
}

// ---- find_domain ---------------------------------------------------------------------------------

TEST(ConfigFindDomain, ExactAndSubdomains) {
    auto r = load(std::string(kMinimal) + R"([[domain]]
name = "example.com"
sign_subdomains = true
[[domain]]
name = "sub.example.com"
[[domain]]
name = "example.org"
)");
    ASSERT_TRUE(r.ok()) << dump(r);
    const Config& c = *r.config;
    const DomainConfig* com = &c.domains[0];
    const DomainConfig* sub = &c.domains[1];
    const DomainConfig* org = &c.domains[2];
    struct Case {
        const char* query;
        const DomainConfig* expected;
    };
    const Case cases[] = {
        {"example.com", com},
        {"EXAMPLE.Com.", com},
        {"news.example.com", com},        // parent signs subdomains
        {"a.b.example.com", com},
        {"sub.example.com", sub},         // an exact entry wins
        {"a.sub.example.com", com},       // sub does not sign subdomains; its parent does
        {"example.org", org},
        {"x.example.org", nullptr},       // example.org does not sign subdomains
        {"notexample.com", nullptr},      // not a subdomain, just a suffix
        {"com", nullptr},
        {"", nullptr},
        {".", nullptr},
    };
    for (const Case& k : cases) EXPECT_EQ(c.find_domain(k.query), k.expected) << k.query;
}

// ---- errors ---------------------------------------------------------------------------------------

// A snippet appended to kMinimal that must give exactly one error. `line` is relative to
// the snippet (1 = its first line).
struct ErrorCase {
    const char* name;
    const char* snippet;
    unsigned line;
    unsigned column;
    const char* key;
    const char* message;  // a substring of the message
};

class ConfigSnippetError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigSnippetError, OneLocatedError) {
    const ErrorCase& c = GetParam();
    auto r = load(std::string(kMinimal) + c.snippet);
    ASSERT_EQ(r.errors.size(), 1u) << dump(r);
    EXPECT_FALSE(r.config);
    const ConfigError& e = r.errors[0];
    EXPECT_EQ(e.file, "test.toml");
    EXPECT_EQ(e.line, kMinimalLines + c.line) << e.to_string();
    EXPECT_EQ(e.column, c.column) << e.to_string();
    EXPECT_EQ(e.key, c.key) << e.to_string();
    EXPECT_THAT(e.message, HasSubstr(c.message));
}

INSTANTIATE_TEST_SUITE_P(
    Config, ConfigSnippetError,
    ::testing::Values(
        // unknown keys
        ErrorCase{"UnknownKeySuggests", "[server]\nhostnme = \"x\"\n", 2, 1, "server.hostnme",
                  "unknown key \"hostnme\"; did you mean \"hostname\"?"},
        ErrorCase{"UnknownKeyListsKnown", "[log]\ncolour = true\n", 2, 1, "log.colour",
                  "unknown key \"colour\"; known keys: level, format"},
        ErrorCase{"UnknownTopLevelTable", "[domains]\nname = \"example.com\"\n", 1, 2, "domains",
                  "unknown key \"domains\"; did you mean \"domain\"?"},
        ErrorCase{"UnknownSubTable", "[limits.extra]\nx = 1\n", 1, 9, "limits.extra",
                  "unknown key \"extra\""},
        ErrorCase{"UnknownKeyInArrayTable",
                  "[[domain]]\nname = \"example.com\"\nalgorithm = [\"ed25519\"]\n", 3, 1,
                  "domain[0].algorithm", "did you mean \"algorithms\"?"},
        // wrong types
        ErrorCase{"StringExpected", "[server]\nhostname = 5\n", 2, 12, "server.hostname",
                  "expected a string, found an integer"},
        ErrorCase{"BooleanExpected", "[mta_sts]\nenabled = \"yes\"\n", 2, 11, "mta_sts.enabled",
                  "expected a boolean (true or false), found a string"},
        ErrorCase{"IntegerExpected", "[limits]\nmax_connections = 1.5\n", 2, 19,
                  "limits.max_connections",
                  "expected an integer from 1 to 100000, found a floating-point number"},
        ErrorCase{"DurationIsAString", "[limits]\ncommand_timeout = 300\n", 2, 19,
                  "limits.command_timeout",
                  "expected a duration string such as \"90d\" or \"5m\", found an integer"},
        ErrorCase{"SizeIsAString", "[limits]\nmessage_size = 25000000\n", 2, 16,
                  "limits.message_size",
                  "expected a size string such as \"25MB\" or \"512KB\", found an integer"},
        ErrorCase{"ArrayExpected", "[queue]\nretry = \"5m\"\n", 2, 9, "queue.retry",
                  "found a string"},
        ErrorCase{"DomainMustBeArrayOfTables", "[domain]\nname = \"example.com\"\n", 1, 1, "domain",
                  "expected an array of tables ([[domain]]), found a table ([domain])"},
        // out of range
        ErrorCase{"IntTooSmall", "[limits]\nmax_recipients = 0\n", 2, 18, "limits.max_recipients",
                  "expected an integer from 1 to 10000, found 0"},
        ErrorCase{"BareLfUnknown", "[limits]\nbare_lf = \"strict\"\n", 2, 11, "limits.bare_lf",
                  "invalid value \"strict\"; expected one of \"normalize\" or \"refuse\""},
        ErrorCase{"LineLengthBelowRfc", "[limits]\nmax_line_length = \"500\"\n", 2, 19, "limits.max_line_length",
                  "expected a size from 998 to 2GB, found \"500\""},
        ErrorCase{"IntTooLarge", "[delivery]\nmx_port = 70000\n", 2, 11, "delivery.mx_port",
                  "expected an integer from 1 to 65535, found 70000"},
        ErrorCase{"SizeTooLarge", "[limits]\nmessage_size = \"3GB\"\n", 2, 16, "limits.message_size",
                  "expected a size from 1KB to 2GB, found \"3GB\""},
        ErrorCase{"SizeTooSmall", "[limits]\nmessage_size = \"512\"\n", 2, 16, "limits.message_size",
                  "expected a size from 1KB to 2GB, found \"512\""},
        ErrorCase{"BadSize", "[queue]\nmin_free_space = \"1.5GB\"\n", 2, 18, "queue.min_free_space",
                  "invalid size \"1.5GB\""},
        ErrorCase{"InFlowDelayTooLong", "[queue]\nin_flow_delay = \"1m\"\n", 2, 17, "queue.in_flow_delay",
                  "in_flow_delay 1m is too long (at most 10s)"},
        ErrorCase{"DurationTooLong", "[dns]\ntimeout = \"36501d\"\n", 2, 11, "dns.timeout",
                  "duration \"36501d\" is too long (at most 36500d)"},
        ErrorCase{"DurationUnits", "[dns]\ntimeout = \"5 min\"\n", 2, 11, "dns.timeout",
                  "invalid duration \"5 min\"; expected an integer and one unit (s, m, h, d or w)"},
        ErrorCase{"ZeroTimeout", "[limits]\ndata_timeout = \"0\"\n", 2, 16, "limits.data_timeout",
                  "must be greater than 0"},
        ErrorCase{"RouteBadTls", "[[route]]\ndomain = \"partner.example\"\ntls = \"encrypt\"\n", 3, 7, "route[0].tls",
                  "\"verify\", \"may\", \"none\" or \"dane\""},
        ErrorCase{"RouteBadDomain", "[[route]]\ndomain = \"not a domain\"\ntls = \"may\"\n", 2, 10,
                  "route[0].domain", "invalid domain name"},
        ErrorCase{"RouteBadHost", "[[route]]\ndomain = \"partner.example\"\nhost = \"mx:99999\"\n", 3, 8,
                  "route[0].host", "port"},
        ErrorCase{"ZeroLifetime", "[queue]\nmax_lifetime = \"0s\"\n", 2, 16, "queue.max_lifetime",
                  "must be greater than 0"},
        ErrorCase{"EmptyRetry", "[queue]\nretry = []\n", 2, 9, "queue.retry",
                  "found an empty array"},
        ErrorCase{"ZeroRetryStep", "[queue]\nretry = [\"5m\", \"0\", \"1h\"]\n", 2, 16,
                  "queue.retry[1]", "must be greater than 0"},
        ErrorCase{"EmptyPath", "[keys]\ndir = \"\"\n", 2, 7, "keys.dir",
                  "expected a path, found an empty string"},
        // enums
        ErrorCase{"BadLogLevel", "[log]\nlevel = \"verbose\"\n", 2, 9, "log.level",
                  "invalid value \"verbose\"; expected one of \"trace\", \"debug\", \"info\", "
                  "\"warn\", \"error\", \"critical\" or \"off\""},
        ErrorCase{"EnumTypeListsValues", "[log]\nformat = 1\n", 2, 10, "log.format",
                  "expected one of \"text\" or \"json\" (a string), found an integer"},
        ErrorCase{"BadDeliveryMode", "[delivery]\nmode = \"direct\"\n", 2, 8, "delivery.mode",
                  "expected one of \"mx\", \"smarthost\" or \"capture\""},
        // addresses
        ErrorCase{"SmarthostPortZero", "[delivery]\nsmarthost = \"smtp.example.net:0\"\n", 2, 13,
                  "delivery.smarthost", "the port must be a number from 1 to 65535"},
        ErrorCase{"MetricsNeedsIp", "[metrics]\nlisten = \"localhost:9100\"\n", 2, 10,
                  "metrics.listen", "\"localhost\" is not a literal IPv4 or IPv6 address"},
        ErrorCase{"BadForwarder", "[dns]\nforwarders = [\"127.0.0.1\", \"127.0.0.1@99999\"]\n", 2,
                  28, "dns.forwarders[1]", "invalid forwarder \"127.0.0.1@99999\""},
        ErrorCase{"DoctorAddressNotIp", "[doctor]\naddresses = [\"192.0.2.1\", \"mail.example.com\"]\n", 2, 27,
                  "doctor.addresses[1]", "not an IP address: \"mail.example.com\""},
        ErrorCase{"DoctorProbePortZero", "[doctor]\nport25_probe = \"mx.example.net:0\"\n", 2, 16,
                  "doctor.port25_probe", "the port must be a number from 1 to 65535"},
        ErrorCase{"BadHostname", "[server]\nhostname = \"bad_host\"\n", 2, 12, "server.hostname",
                  "invalid host name \"bad_host\""},
        // required when ...
        ErrorCase{"SmarthostRequired", "[delivery]\nmode = \"smarthost\"\n", 1, 1,
                  "delivery.smarthost", "missing required key \"smarthost\" (required when mode = "
                                        "\"smarthost\""},
        ErrorCase{"CaptureDirRequired", "\n[delivery]\nmode = \"capture\"\n", 2, 1,
                  "delivery.capture_dir", "missing required key \"capture_dir\""},
        ErrorCase{"TrustAnchorRequired", "[dns]\ndnssec = true\n", 1, 1, "dns.trust_anchor_file",
                  "required when dnssec = true"},
        ErrorCase{"TlsRptNeedsOrganization",
                  "[tls_rpt]\nenabled = true\nfrom = \"r@example.com\"\n[[domain]]\nname = \"example.com\"\n", 1, 1,
                  "tls_rpt.organization", "missing required key \"organization\""},
        ErrorCase{"TlsRptFromMustBeSigned",
                  "[tls_rpt]\nenabled = true\norganization = \"X\"\nfrom = \"r@example.net\"\n", 4, 8, "tls_rpt.from",
                  "\"example.net\" is not covered by any [[domain]]"},
        ErrorCase{"TlsRptNeedsMxDelivery",
                  "[delivery]\nmode = \"capture\"\ncapture_dir = \"/tmp/out\"\n[tls_rpt]\nenabled = true\norganization = "
                  "\"X\"\nfrom = \"r@example.com\"\n[[domain]]\nname = \"example.com\"\n",
                  4, 1, "tls_rpt.enabled", "need [delivery] mode = \"mx\""},
        ErrorCase{"SmarthostDaneNeedsDnssec", "[delivery]\nsmarthost_dane = true\n", 2, 18, "delivery.smarthost_dane",
                  "smarthost_dane = true needs DNSSEC validation"},
        ErrorCase{"RouteDaneNeedsDnssec", "[[route]]\ndomain = \"example.org\"\ntls = \"dane\"\n", 3, 7,
                  "route[0].tls", "tls = \"dane\" needs DNSSEC validation"},
        // domains
        ErrorCase{"DomainNameRequired", "[[domain]]\nselector_prefix = \"sp\"\n", 1, 1,
                  "domain[0].name", "missing required key \"name\""},
        ErrorCase{"BadDomainName", "[[domain]]\nname = \"exa mple.com\"\n", 2, 8, "domain[0].name",
                  "invalid domain name \"exa mple.com\""},
        ErrorCase{"IdnNeedsALabel", "[[domain]]\nname = \"bücher.example\"\n", 2, 8,
                  "domain[0].name", "A-label (xn--) form"},
        ErrorCase{"BadAlgorithm",
                  "[[domain]]\nname = \"example.com\"\nalgorithms = [\"ed25519\", \"dsa\"]\n", 3,
                  26, "domain[0].algorithms[1]",
                  "invalid value \"dsa\"; expected one of \"ed25519\", \"rsa2048\", \"rsa3072\" or "
                  "\"rsa4096\""},
        ErrorCase{"DuplicateAlgorithm",
                  "[[domain]]\nname = \"example.com\"\nalgorithms = [\"ed25519\", \"ed25519\"]\n",
                  3, 26, "domain[0].algorithms[1]",
                  "duplicate algorithm \"ed25519\" (already domain[0].algorithms[0])"},
        ErrorCase{"NoAlgorithms", "[[domain]]\nname = \"example.com\"\nalgorithms = []\n", 3, 14,
                  "domain[0].algorithms", "found an empty array"},
        ErrorCase{"BadSelectorPrefix", "[[domain]]\nname = \"example.com\"\nselector_prefix = \"SP\"\n",
                  3, 19, "domain[0].selector_prefix", "invalid selector_prefix \"SP\""},
        ErrorCase{"LongSelectorPrefix",
                  "[[domain]]\nname = \"example.com\"\nselector_prefix = \"abcdefghijklmnopqrstu\"\n",
                  3, 19, "domain[0].selector_prefix", "expected 1 to 20 characters"},
        ErrorCase{"HeadersNeedFrom", "[[domain]]\nname = \"example.com\"\nheaders = [\"to\", \"subject\"]\n",
                  3, 11, "domain[0].headers", "must include \"from\""},
        ErrorCase{"BadHeaderName",
                  "[[domain]]\nname = \"example.com\"\nheaders = [\"from\", \"bad:name\"]\n", 3, 20,
                  "domain[0].headers[1]", "invalid header field name \"bad:name\""},
        ErrorCase{"BadCanonicalization",
                  "[[domain]]\nname = \"example.com\"\ncanonicalization = \"loose\"\n", 3, 20,
                  "domain[0].canonicalization", "invalid canonicalization \"loose\""},
        ErrorCase{"PublishLeadTooLong",
                  "[[domain]]\nname = \"example.com\"\nrotate_every = \"5d\"\npublish_lead = \"7d\"\n",
                  4, 16, "domain[0].publish_lead",
                  "publish_lead (1w) must be shorter than rotate_every (5d)"},
        ErrorCase{"RotateEveryBelowDefaultLead",
                  "[[domain]]\nname = \"example.com\"\nrotate_every = \"3d\"\n", 3, 16,
                  "domain[0].rotate_every", "must be shorter than rotate_every (3d)"},
        ErrorCase{"RetireAfterTooShort", "[[domain]]\nname = \"example.com\"\nretire_after = \"10d\"\n",
                  3, 16, "domain[0].retire_after",
                  "retire_after (10d) must be at least queue.max_lifetime + 7 days (5d + 7d = 12d)"},
        ErrorCase{"RetireAfterFollowsQueueLifetime",
                  "[queue]\nmax_lifetime = \"10d\"\n[[domain]]\nname = \"example.com\"\n"
                  "retire_after = \"12d\"\n",
                  5, 16, "domain[0].retire_after", "(10d + 7d = 17d)"},
        // listener kind and [[inbound]] together
        ErrorCase{"BadListenerKind", "[[listener]]\naddress = \"0.0.0.0:25\"\nkind = \"inbound\"\n", 3, 8,
                  "listener[1].kind", "invalid value \"inbound\"; expected one of \"submission\" or \"mx\""},
        ErrorCase{"MxListenerNeedsStarttls",
                  "[[listener]]\naddress = \"0.0.0.0:25\"\nkind = \"mx\"\ntls = \"implicit\"\n[[inbound]]\n"
                  "domain = \"example.org\"\nany_recipient = true\ndeliver_to = \"home.example\"\n",
                  4, 7, "listener[1].tls",
                  "kind = \"mx\" needs tls = \"starttls\": servers delivering to an MX connect in plaintext and "
                  "upgrade with STARTTLS; none would speak implicit TLS to it"},
        ErrorCase{"MxListenerWithoutInbound", "[[listener]]\naddress = \"0.0.0.0:25\"\nkind = \"mx\"\n", 3, 8,
                  "listener[1].kind",
                  "no [[inbound]] table says which domain and recipients this listener receives mail for, so it "
                  "would refuse every recipient; add one (such as domain = \"example.com\", recipients = "
                  "[\"alice\"], deliver_to = \"home.example.com:25\")"},
        ErrorCase{"InboundWithoutMxListener",
                  "[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\ndeliver_to = \"home.example\"\n",
                  1, 1, "inbound",
                  "no listener with kind = \"mx\" receives its mail; add one, such as address = \"0.0.0.0:25\" "
                  "with kind = \"mx\""},
        ErrorCase{"InboundMustBeArrayOfTables", "[inbound]\ndomain = \"example.org\"\n", 1, 1, "inbound",
                  "expected an array of tables ([[inbound]]), found a table ([inbound])"},
        ErrorCase{"DuplicateDomain",
                  "[[domain]]\nname = \"example.com\"\n[[domain]]\nname = \"Example.com.\"\n", 4, 8,
                  "domain[1].name",
                  "duplicate domain \"example.com\"; first defined at line 9 (domain[0].name)"}),
    [](const auto& p) { return std::string(p.param.name); });

// A snippet appended to kMinimal + kMxListener that must give exactly one error; `line` is
// relative to the snippet.
class ConfigInboundError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigInboundError, OneLocatedError) {
    const ErrorCase& c = GetParam();
    auto r = load(with_inbound(c.snippet));
    ASSERT_EQ(r.errors.size(), 1u) << dump(r);
    EXPECT_FALSE(r.config);
    const ConfigError& e = r.errors[0];
    EXPECT_EQ(e.file, "test.toml");
    EXPECT_EQ(e.line, kMinimalLines + kMxListenerLines + c.line) << e.to_string();
    EXPECT_EQ(e.column, c.column) << e.to_string();
    EXPECT_EQ(e.key, c.key) << e.to_string();
    EXPECT_THAT(e.message, HasSubstr(c.message));
}

INSTANTIATE_TEST_SUITE_P(
    Config, ConfigInboundError,
    ::testing::Values(
        ErrorCase{"DomainRequired", "[[inbound]]\nrecipients = [\"alice\"]\ndeliver_to = \"home.example\"\n", 1, 1,
                  "inbound[0].domain",
                  "missing required key \"domain\" (the domain this relay receives mail for, such as "
                  "\"example.org\")"},
        ErrorCase{"BadDomain",
                  "[[inbound]]\ndomain = \"exa mple.org\"\nany_recipient = true\ndeliver_to = \"home.example\"\n",
                  2, 10, "inbound[0].domain", "invalid domain name \"exa mple.org\"; such as \"example.org\""},
        ErrorCase{"DeliverToRequired", "[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\n", 1, 1,
                  "inbound[0].deliver_to",
                  "missing required key \"deliver_to\" (the home server this domain's mail is forwarded to, "
                  "such as \"mail.home.example:25\")"},
        ErrorCase{"BadDeliverTo",
                  "[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\ndeliver_to = \"home.example:0\"\n",
                  4, 14, "inbound[0].deliver_to", "the port must be a number from 1 to 65535"},
        ErrorCase{"BadDeliverTls",
                  "[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\ndeliver_to = \"home.example\"\n"
                  "deliver_tls = \"tls\"\n",
                  5, 15, "inbound[0].deliver_tls", "expected one of \"starttls\" or \"implicit\""},
        ErrorCase{"NoRecipients", "[[inbound]]\ndomain = \"example.org\"\ndeliver_to = \"home.example\"\n", 1, 1,
                  "inbound[0]",
                  "this [[inbound]] would accept no recipient: set recipients (such as [\"alice\", \"bob\"]), "
                  "recipients_file, or any_recipient = true"},
        ErrorCase{"AnyRecipientFalseAcceptsNone",
                  "[[inbound]]\ndomain = \"example.org\"\ndeliver_to = \"home.example\"\nany_recipient = false\n",
                  1, 1, "inbound[0]", "would accept no recipient"},
        ErrorCase{"EmptyRecipientsAcceptNone",
                  "[[inbound]]\ndomain = \"example.org\"\ndeliver_to = \"home.example\"\nrecipients = []\n", 1, 1,
                  "inbound[0]", "would accept no recipient"},
        ErrorCase{"RecipientAtAnotherDomain",
                  "[[inbound]]\ndomain = \"example.org\"\nrecipients = [\"alice\", \"Bob@Example.net\"]\n"
                  "deliver_to = \"home.example\"\n",
                  3, 24, "inbound[0].recipients[1]",
                  "recipient \"bob@example.net\" is not at this entry's domain \"example.org\"; write the local "
                  "part alone (\"bob\") or give \"example.net\" its own [[inbound]]"},
        ErrorCase{"EmptyRecipient",
                  "[[inbound]]\ndomain = \"example.org\"\nrecipients = [\"\"]\ndeliver_to = \"home.example\"\n", 3,
                  15, "inbound[0].recipients[0]",
                  "empty recipient; write a local part such as \"alice\" or an address such as "
                  "\"alice@example.org\""},
        ErrorCase{"RecipientWithSpace",
                  "[[inbound]]\ndomain = \"example.org\"\nrecipients = [\"alice smith\"]\n"
                  "deliver_to = \"home.example\"\n",
                  3, 15, "inbound[0].recipients[0]",
                  "invalid recipient \"alice smith\": no spaces, control characters, \"<\" or \">\""},
        ErrorCase{"RecipientInAngleBrackets",
                  "[[inbound]]\ndomain = \"example.org\"\nrecipients = [\"<alice@example.org>\"]\n"
                  "deliver_to = \"home.example\"\n",
                  3, 15, "inbound[0].recipients[0]", "invalid recipient \"<alice@example.org>\""},
        ErrorCase{"RecipientWithoutLocalPart",
                  "[[inbound]]\ndomain = \"example.org\"\nrecipients = [\"@example.org\"]\n"
                  "deliver_to = \"home.example\"\n",
                  3, 15, "inbound[0].recipients[0]", "nothing before \"@\""},
        ErrorCase{"RecipientWithTwoAts",
                  "[[inbound]]\ndomain = \"example.org\"\nrecipients = [\"a@b@example.org\"]\n"
                  "deliver_to = \"home.example\"\n",
                  3, 15, "inbound[0].recipients[0]", "more than one \"@\""},
        ErrorCase{"RecipientLocalPartTooLong",
                  "[[inbound]]\ndomain = \"example.org\"\nrecipients = "
                  "[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]\n"
                  "deliver_to = \"home.example\"\n",
                  3, 15, "inbound[0].recipients[0]", "a local part is at most 64 octets"},
        ErrorCase{"RecipientNotAString",
                  "[[inbound]]\ndomain = \"example.org\"\nrecipients = [\"alice\", 7]\ndeliver_to = \"home.example\"\n",
                  3, 24, "inbound[0].recipients[1]",
                  "expected a recipient (a string such as \"alice\" or \"alice@example.org\"), found an integer"},
        ErrorCase{"RecipientsNotAnArray",
                  "[[inbound]]\ndomain = \"example.org\"\nrecipients = \"alice\"\ndeliver_to = \"home.example\"\n",
                  3, 14, "inbound[0].recipients", "expected an array of recipients"},
        ErrorCase{"EmptyRecipientsFile",
                  "[[inbound]]\ndomain = \"example.org\"\nrecipients_file = \"\"\ndeliver_to = \"home.example\"\n",
                  3, 19, "inbound[0].recipients_file", "expected a path, found an empty string"},
        ErrorCase{"AnyRecipientNotBool",
                  "[[inbound]]\ndomain = \"example.org\"\nany_recipient = \"yes\"\nrecipients = [\"a\"]\n"
                  "deliver_to = \"home.example\"\n",
                  3, 17, "inbound[0].any_recipient", "expected a boolean"},
        ErrorCase{"ZeroUnreachableAlert",
                  "[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\ndeliver_to = \"home.example\"\n"
                  "unreachable_alert = \"0\"\n",
                  5, 21, "inbound[0].unreachable_alert", "must be greater than 0"},
        ErrorCase{"BadUnreachableAlert",
                  "[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\ndeliver_to = \"home.example\"\n"
                  "unreachable_alert = \"1 hour\"\n",
                  5, 21, "inbound[0].unreachable_alert", "invalid duration \"1 hour\""},
        ErrorCase{"UnknownKeySuggests",
                  "[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\ndeliver_to = \"home.example\"\n"
                  "deliver_tsl = \"implicit\"\n",
                  5, 1, "inbound[0].deliver_tsl", "unknown key \"deliver_tsl\"; did you mean \"deliver_tls\"?"},
        ErrorCase{"DuplicateDomain",
                  "[[inbound]]\ndomain = \"example.org\"\nany_recipient = true\ndeliver_to = \"home.example\"\n"
                  "[[inbound]]\ndomain = \"Example.ORG.\"\nrecipients = [\"alice\"]\ndeliver_to = \"other.example\"\n",
                  6, 10, "inbound[1].domain",
                  "duplicate [[inbound]] for \"example.org\"; first defined at line 12 (inbound[0].domain)"}),
    [](const auto& p) { return std::string(p.param.name); });

// Keys of the tables kMinimal already has are tested with whole files.
TEST(ConfigLoadError, EnumWrongTypeInTls) {
    auto r = load("[[listener]]\naddress = \"127.0.0.1:2587\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n"
                  "min_version = 1.3\n[auth]\nusers_file = \"/u\"\n");
    ASSERT_EQ(r.errors.size(), 1u) << dump(r);
    EXPECT_EQ(r.errors[0].to_string(),
              "test.toml:6:15: tls.min_version: expected one of \"1.2\" or \"1.3\" (a string), found "
              "a floating-point number");
}


// Whole files, each with the exact errors expected (as ConfigError::to_string() text).
struct FileCase {
    const char* name;
    const char* text;
    std::vector<std::string> errors;
};

class ConfigFileErrors : public ::testing::TestWithParam<FileCase> {};

TEST_P(ConfigFileErrors, ExactErrors) {
    const FileCase& c = GetParam();
    auto r = load(c.text);
    std::vector<std::string> got;
    for (const auto& e : r.errors) got.push_back(e.to_string());
    EXPECT_EQ(got, c.errors) << dump(r);
    EXPECT_FALSE(r.ok());
}

INSTANTIATE_TEST_SUITE_P(
    Config, ConfigFileErrors,
    ::testing::Values(
        FileCase{"EmptyFileNeedsListenerTlsAuth",
                 "",
                 {"test.toml: listener: missing required [[listener]]: at least one listener is "
                  "required, such as address = \"0.0.0.0:587\"",
                  "test.toml: tls: missing required table [tls] with cert and key (the listeners' "
                  "certificate)",
                  "test.toml: auth: missing required table [auth] with users_file"}},
        FileCase{"MissingKeysPointAtTheirTable",
                 "[[listener]]\naddress = \"127.0.0.1:2587\"\n\n[tls]\ncert = \"/c\"\n\n  [auth]\n"
                 "cache_ttl = \"1m\"\n",
                 {"test.toml:4:1: tls.key: missing required key \"key\" (path of the PEM private key)",
                  "test.toml:7:3: auth.users_file: missing required key \"users_file\" (path of the "
                  "users file, such as \"/etc/signpost/users\")"}},
        FileCase{"EmptyListenerArray",
                 "listener = []\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n[auth]\nusers_file = \"/u\"\n",
                 {"test.toml:1:12: listener: at least one listener is required"}},
        FileCase{"ListenerAddressRequired",
                 "[[listener]]\ntls = \"implicit\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n[auth]\n"
                 "users_file = \"/u\"\n",
                 {"test.toml:1:1: listener[0].address: missing required key \"address\" (the IP "
                  "address and port to listen on, such as \"127.0.0.1:2587\")"}},
        FileCase{"ListenerNeedsLiteralAddress",
                 "[[listener]]\naddress = \"localhost:587\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n"
                 "[auth]\nusers_file = \"/u\"\n",
                 {"test.toml:2:11: listener[0].address: invalid address \"localhost:587\": "
                  "\"localhost\" is not a literal IPv4 or IPv6 address (expected something like "
                  "\"127.0.0.1:2587\" or \"[::1]:587\")"}},
        FileCase{"ListenerNeedsPort",
                 "[[listener]]\naddress = \"127.0.0.1\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n"
                 "[auth]\nusers_file = \"/u\"\n",
                 {"test.toml:2:11: listener[0].address: invalid address \"127.0.0.1\": missing port "
                  "(write \"<address>:<port>\") (expected something like \"127.0.0.1:2587\" or "
                  "\"[::1]:587\")"}},
        FileCase{"ListenerIpv6NeedsBrackets",
                 "[[listener]]\naddress = \"::1:587\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n"
                 "[auth]\nusers_file = \"/u\"\n",
                 {"test.toml:2:11: listener[0].address: invalid address \"::1:587\": an IPv6 "
                  "address must be written in brackets, such as \"[::1]:587\" (expected something "
                  "like \"127.0.0.1:2587\" or \"[::1]:587\")"}},
        FileCase{"ListenerPortRange",
                 "[[listener]]\naddress = \"127.0.0.1:65536\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n"
                 "[auth]\nusers_file = \"/u\"\n",
                 {"test.toml:2:11: listener[0].address: invalid address \"127.0.0.1:65536\": the "
                  "port must be a number from 1 to 65535 (expected something like "
                  "\"127.0.0.1:2587\" or \"[::1]:587\")"}},
        FileCase{"ListenerBadTls",
                 "[[listener]]\naddress = \"127.0.0.1:465\"\ntls = \"ssl\"\n[tls]\ncert = \"/c\"\n"
                 "key = \"/k\"\n[auth]\nusers_file = \"/u\"\n",
                 {"test.toml:3:7: listener[0].tls: invalid value \"ssl\"; expected one of "
                  "\"starttls\" or \"implicit\""}},
        FileCase{"DuplicateListenerAddress",
                 "[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:587\"\n[[listener]]\n"
                 "name = \"b\"\naddress = \"127.0.0.1:587\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n"
                 "[auth]\nusers_file = \"/u\"\n",
                 {"test.toml:6:11: listener[1].address: address 127.0.0.1:587 is already used by "
                  "listener[0] (line 3)"}},
        FileCase{"DuplicateIpv6AddressInOtherSpelling",
                 "[[listener]]\nname = \"a\"\naddress = \"[::1]:587\"\n[[listener]]\n"
                 "name = \"b\"\naddress = \"[0::1]:587\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n"
                 "[auth]\nusers_file = \"/u\"\n",
                 {"test.toml:6:11: listener[1].address: address [::1]:587 is already used by "
                  "listener[0] (line 3)"}},
        FileCase{"DefaultListenerNamesCollide",
                 "[[listener]]\naddress = \"127.0.0.1:587\"\n[[listener]]\n"
                 "address = \"[::1]:587\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n[auth]\n"
                 "users_file = \"/u\"\n",
                 {"test.toml:3:1: listener[1].name: listener name \"starttls-587\" is already used "
                  "by listener[0] (line 1); give each listener a distinct name (it labels logs and "
                  "metrics)"}},
        FileCase{"MxListenerWithEmptyInbound",
                 "inbound = []\n[[listener]]\naddress = \"0.0.0.0:25\"\nkind = \"mx\"\n[tls]\ncert = \"/c\"\n"
                 "key = \"/k\"\n[auth]\nusers_file = \"/u\"\n",
                 {"test.toml:4:8: listener[0].kind: no [[inbound]] table says which domain and recipients this "
                  "listener receives mail for, so it would refuse every recipient; add one (such as domain = "
                  "\"example.com\", recipients = [\"alice\"], deliver_to = \"home.example.com:25\")"}},
        FileCase{"TwoMxListenersWithoutInbound",
                 "[[listener]]\naddress = \"0.0.0.0:25\"\nkind = \"mx\"\n[[listener]]\naddress = \"[::]:2525\"\n"
                 "kind = \"mx\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n[auth]\nusers_file = \"/u\"\n",
                 {"test.toml:3:8: listener[0].kind: no [[inbound]] table says which domain and recipients this "
                  "listener receives mail for, so it would refuse every recipient; add one (such as domain = "
                  "\"example.com\", recipients = [\"alice\"], deliver_to = \"home.example.com:25\")",
                  "test.toml:6:8: listener[1].kind: no [[inbound]] table says which domain and recipients this "
                  "listener receives mail for, so it would refuse every recipient; add one (such as domain = "
                  "\"example.com\", recipients = [\"alice\"], deliver_to = \"home.example.com:25\")"}},
        FileCase{"TableExpected",
                 "keys = \"/var/lib/signpost/keys\"\n[[listener]]\naddress = \"127.0.0.1:587\"\n"
                 "[tls]\ncert = \"/c\"\nkey = \"/k\"\n[auth]\nusers_file = \"/u\"\n",
                 {"test.toml:1:8: keys: expected a table ([keys]), found a string"}},
        FileCase{"NonTableElementKeepsTheOtherIndexes",
                 "domain = [1, {name = \"example.com\", retire_after = \"1d\"}]\n[[listener]]\n"
                 "address = \"127.0.0.1:587\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n[auth]\n"
                 "users_file = \"/u\"\n",
                 {"test.toml:1:11: domain[0]: expected a table, found an integer",
                  "test.toml:1:52: domain[1].retire_after: retire_after (1d) must be at least "
                  "queue.max_lifetime + 7 days (5d + 7d = 12d): a retired key's DNS record must "
                  "stay published while messages signed with it may still be delivered and "
                  "verified"}},
        FileCase{"ListenerIsArrayOfTables",
                 "[listener]\naddress = \"127.0.0.1:587\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n"
                 "[auth]\nusers_file = \"/u\"\n",
                 {"test.toml:1:1: listener: expected an array of tables ([[listener]]), found a "
                  "table ([listener])"}},
        FileCase{"AuthRange",
                 "[[listener]]\naddress = \"127.0.0.1:587\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n"
                 "[auth]\nusers_file = \"/u\"\nmax_failures = 101\n",
                 {"test.toml:8:16: auth.max_failures: expected an integer from 1 to 100, found 101"}},
        FileCase{"SyntaxErrorIsOneLocatedError",
                 "[[listener]]\naddress = \"127.0.0.1:587\"\n[server]\nhostname = \n",
                 {"test.toml:4:12: TOML syntax error: Error while parsing key-value pair: expected "
                  "value, saw '\\n'"}},
        FileCase{"SyntaxErrorRedefinedKey",
                 "[server]\nhostname = \"a\"\nhostname = \"b\"\n",
                 {"test.toml:3:12: TOML syntax error: Error while parsing key-value pair: cannot "
                  "redefine existing string 'hostname'"}},
        // Errors come sorted by position whatever order they were found in.
        FileCase{"SortedByLine",
                 "[log]\nlevel = \"loud\"\n[[domain]]\nname = \"example.com\"\nretire_after = \"1d\"\n"
                 "[[listener]]\naddress = \"127.0.0.1:587\"\nport = 587\n" "[tls]\ncert = \"/c\"\n"
                 "key = \"/k\"\n[auth]\nusers_file = \"/u\"\n",
                 {"test.toml:2:9: log.level: invalid value \"loud\"; expected one of \"trace\", "
                  "\"debug\", \"info\", \"warn\", \"error\", \"critical\" or \"off\"",
                  "test.toml:5:16: domain[0].retire_after: retire_after (1d) must be at least "
                  "queue.max_lifetime + 7 days (5d + 7d = 12d): a retired key's DNS record must "
                  "stay published while messages signed with it may still be delivered and "
                  "verified",
                  "test.toml:8:1: listener[0].port: unknown key \"port\"; known keys: name, "
                  "address, tls, kind, greet_pause, dnsbl, client_connections_per_hour, "
                  "client_messages_per_hour"}}),
    [](const auto& p) { return std::string(p.param.name); });

// The promise: a file with three mistakes in different places gives exactly three errors,
// each naming the file, the line and the key.
TEST(ConfigLoadError, ThreeMistakesThreeErrors) {
    auto r = load_file(SIGNPOST_TEST_DATA_DIR "/config/three-mistakes.toml", test::no_file_checks());
    ASSERT_EQ(r.errors.size(), 3u) << dump(r);
    EXPECT_FALSE(r.config);
    const std::string file = SIGNPOST_TEST_DATA_DIR "/config/three-mistakes.toml";
    for (const auto& e : r.errors) EXPECT_EQ(e.file, file);
    EXPECT_EQ(r.errors[0].line, 6u);
    EXPECT_EQ(r.errors[0].column, 1u);
    EXPECT_EQ(r.errors[0].key, "server.hostnme");
    EXPECT_EQ(r.errors[0].message, "unknown key \"hostnme\"; did you mean \"hostname\"?");
    EXPECT_EQ(r.errors[1].line, 22u);
    EXPECT_EQ(r.errors[1].column, 18u);
    EXPECT_EQ(r.errors[1].key, "limits.max_recipients");
    EXPECT_EQ(r.errors[1].message, "expected an integer from 1 to 10000, found 0");
    EXPECT_EQ(r.errors[2].line, 31u);
    EXPECT_EQ(r.errors[2].column, 26u);
    EXPECT_EQ(r.errors[2].key, "domain[1].algorithms[1]");
    EXPECT_THAT(r.errors[2].message, HasSubstr("invalid value \"rsa1024\""));
    EXPECT_EQ(r.errors[1].to_string(),
              file + ":22:18: limits.max_recipients: expected an integer from 1 to 10000, found 0");
}

TEST(ConfigLoadError, ErrorsDoNotStopTheOtherKeys) {
    // A bad key in a table does not hide a bad key after it, in the same table or another.
    auto r = load(std::string(kMinimal) +
                  "[limits]\nmax_recipients = -1\nmax_connections = 0\n[log]\nlevel = 3\n");
    ASSERT_EQ(r.errors.size(), 3u) << dump(r);
    EXPECT_EQ(r.errors[0].key, "limits.max_recipients");
    EXPECT_EQ(r.errors[1].key, "limits.max_connections");
    EXPECT_EQ(r.errors[2].key, "log.level");
}

TEST(ConfigLoadError, NeverThrowsOnOddInput) {
    const std::string inputs[] = {
        std::string("\0\0\0", 3),
        "\xff\xfe garbage",
        "[[listener]]\naddress = [1, 2]\n",
        "listener = [1, \"x\", {address = 5}]\n",
        "[dns]\nforwarders = [[1], {a = 1}]\n",
        "[[domain]]\nname = 1\nalgorithms = [[\"ed25519\"]]\nheaders = [1]\n",
        "a.b.c.d.e = 1\n[server.x.y]\n",
        std::string(100000, '['),
    };
    for (const auto& text : inputs) {
        LoadResult r;
        EXPECT_NO_THROW(r = load(text));
        EXPECT_FALSE(r.ok());
        EXPECT_FALSE(r.errors.empty());
    }
}

}  // namespace
}  // namespace signpost::config
