// tests/unit/config/values_test.cpp — the value parsers and printers of config.hpp:
// durations, sizes, endpoints, enum names, ConfigError::to_string, key suggestions.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "config/config.hpp"
#include "config/internal.hpp"

namespace signpost::config {
namespace {

using std::chrono::seconds;

// ---- durations ----------------------------------------------------------------------------

struct DurationCase {
    std::string_view text;
    std::optional<std::int64_t> seconds;
};

class ParseDuration : public ::testing::TestWithParam<DurationCase> {};

TEST_P(ParseDuration, Table) {
    const auto& c = GetParam();
    auto d = parse_duration(c.text);
    if (c.seconds) {
        ASSERT_TRUE(d.has_value()) << '"' << c.text << '"';
        EXPECT_EQ(d->count(), *c.seconds) << '"' << c.text << '"';
    } else {
        EXPECT_FALSE(d.has_value()) << '"' << c.text << "\" parsed as " << d->count();
    }
}

INSTANTIATE_TEST_SUITE_P(
    Config, ParseDuration,
    ::testing::Values(DurationCase{"0", 0}, DurationCase{"0s", 0}, DurationCase{"30s", 30},
                      DurationCase{"5m", 300}, DurationCase{"36h", 36 * 3600},
                      DurationCase{"90d", 90 * 86400}, DurationCase{"2w", 14 * 86400},
                      DurationCase{"007m", 420}, DurationCase{"36500d", 36500ll * 86400},
                      // malformed
                      DurationCase{"", std::nullopt}, DurationCase{"5", std::nullopt},
                      DurationCase{"300", std::nullopt}, DurationCase{"m", std::nullopt},
                      DurationCase{"-5m", std::nullopt}, DurationCase{"+5m", std::nullopt},
                      DurationCase{"5 m", std::nullopt}, DurationCase{" 5m", std::nullopt},
                      DurationCase{"5m ", std::nullopt}, DurationCase{"5M", std::nullopt},
                      DurationCase{"5min", std::nullopt}, DurationCase{"1h30m", std::nullopt},
                      DurationCase{"1.5h", std::nullopt}, DurationCase{"5y", std::nullopt},
                      DurationCase{"36501d", std::nullopt},
                      DurationCase{"99999999999999999999s", std::nullopt}));

struct FormatDurationCase {
    std::int64_t seconds;
    std::string_view text;
};

class FormatDuration : public ::testing::TestWithParam<FormatDurationCase> {};

TEST_P(FormatDuration, TableAndRoundTrip) {
    const auto& c = GetParam();
    EXPECT_EQ(format_duration(seconds{c.seconds}), c.text);
    EXPECT_EQ(parse_duration(c.text), seconds{c.seconds});
}

INSTANTIATE_TEST_SUITE_P(Config, FormatDuration,
                         ::testing::Values(FormatDurationCase{0, "0"}, FormatDurationCase{1, "1s"},
                                           FormatDurationCase{90, "90s"},
                                           FormatDurationCase{300, "5m"},
                                           FormatDurationCase{3600, "1h"},
                                           FormatDurationCase{3601, "3601s"},
                                           FormatDurationCase{36 * 3600, "36h"},
                                           FormatDurationCase{86400, "1d"},
                                           FormatDurationCase{7 * 86400, "1w"},
                                           FormatDurationCase{12 * 86400, "12d"},
                                           FormatDurationCase{90 * 86400, "90d"},
                                           FormatDurationCase{14 * 86400, "2w"}));

// ---- sizes ----------------------------------------------------------------------------------

struct SizeCase {
    std::string_view text;
    std::optional<std::uint64_t> bytes;
};

class ParseSize : public ::testing::TestWithParam<SizeCase> {};

TEST_P(ParseSize, Table) {
    const auto& c = GetParam();
    auto n = parse_size(c.text);
    if (c.bytes) {
        ASSERT_TRUE(n.has_value()) << '"' << c.text << '"';
        EXPECT_EQ(*n, *c.bytes) << '"' << c.text << '"';
    } else {
        EXPECT_FALSE(n.has_value()) << '"' << c.text << "\" parsed as " << *n;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Config, ParseSize,
    ::testing::Values(SizeCase{"0", 0}, SizeCase{"512", 512}, SizeCase{"512B", 512},
                      SizeCase{"64KB", 64000}, SizeCase{"25MB", 25000000},
                      SizeCase{"1GB", 1000000000}, SizeCase{"2TB", 2000000000000},
                      SizeCase{"1KiB", 1024}, SizeCase{"1MiB", 1048576},
                      SizeCase{"2GiB", 2147483648}, SizeCase{"25mb", 25000000},
                      SizeCase{"4kib", 4096},
                      // malformed
                      SizeCase{"", std::nullopt}, SizeCase{"MB", std::nullopt},
                      SizeCase{"25 MB", std::nullopt}, SizeCase{"-1", std::nullopt},
                      SizeCase{"+1", std::nullopt}, SizeCase{"1.5MB", std::nullopt},
                      SizeCase{"25M", std::nullopt}, SizeCase{"25XB", std::nullopt},
                      SizeCase{"25MBs", std::nullopt},
                      SizeCase{"99999999999999999999", std::nullopt},
                      SizeCase{"20000000000TB", std::nullopt}));

struct FormatSizeCase {
    std::uint64_t bytes;
    std::string_view text;
};

class FormatSize : public ::testing::TestWithParam<FormatSizeCase> {};

TEST_P(FormatSize, TableAndRoundTrip) {
    const auto& c = GetParam();
    EXPECT_EQ(format_size(c.bytes), c.text);
    EXPECT_EQ(parse_size(c.text), c.bytes);
}

INSTANTIATE_TEST_SUITE_P(Config, FormatSize,
                         ::testing::Values(FormatSizeCase{0, "0"}, FormatSizeCase{512, "512"},
                                           FormatSizeCase{1000, "1KB"},
                                           FormatSizeCase{1024, "1KiB"},
                                           FormatSizeCase{1500, "1500"},
                                           FormatSizeCase{25000000, "25MB"},
                                           FormatSizeCase{1024000, "1024KB"},
                                           FormatSizeCase{1048576, "1MiB"},
                                           FormatSizeCase{2000000000, "2GB"},
                                           FormatSizeCase{100000000, "100MB"}));

// ---- endpoints ------------------------------------------------------------------------------

struct EndpointCase {
    std::string_view text;
    std::uint16_t default_port;
    std::optional<Endpoint> expected;
};

class ParseEndpoint : public ::testing::TestWithParam<EndpointCase> {};

TEST_P(ParseEndpoint, Table) {
    const auto& c = GetParam();
    auto ep = parse_endpoint(c.text, c.default_port);
    if (c.expected) {
        ASSERT_TRUE(ep.has_value()) << '"' << c.text << '"';
        EXPECT_EQ(ep->host, c.expected->host);
        EXPECT_EQ(ep->port, c.expected->port);
    } else {
        EXPECT_FALSE(ep.has_value()) << '"' << c.text << "\" parsed as " << ep->to_string();
    }
}

INSTANTIATE_TEST_SUITE_P(
    Config, ParseEndpoint,
    ::testing::Values(
        EndpointCase{"127.0.0.1:2587", 0, Endpoint{"127.0.0.1", 2587}},
        EndpointCase{"[::1]:587", 0, Endpoint{"::1", 587}},
        EndpointCase{"[0:0::1]:25", 0, Endpoint{"::1", 25}},  // canonical form
        EndpointCase{"[::1]", 587, Endpoint{"::1", 587}},
        EndpointCase{"smtp.example.net", 587, Endpoint{"smtp.example.net", 587}},
        EndpointCase{"smtp.example.net:465", 587, Endpoint{"smtp.example.net", 465}},
        EndpointCase{"SMTP.Example.NET:25", 0, Endpoint{"smtp.example.net", 25}},
        EndpointCase{"0.0.0.0:65535", 0, Endpoint{"0.0.0.0", 65535}},
        // malformed
        EndpointCase{"", 587, std::nullopt}, EndpointCase{"::1:587", 0, std::nullopt},
        EndpointCase{"::1", 587, std::nullopt}, EndpointCase{"[::1", 0, std::nullopt},
        EndpointCase{"[::1]587", 0, std::nullopt}, EndpointCase{"host:0", 0, std::nullopt},
        EndpointCase{"host:65536", 0, std::nullopt}, EndpointCase{"host:", 587, std::nullopt},
        EndpointCase{"host:+25", 0, std::nullopt}, EndpointCase{":25", 0, std::nullopt},
        EndpointCase{"bad host:25", 0, std::nullopt},
        EndpointCase{"127.0.0.1", 0, std::nullopt},
        EndpointCase{"[127.0.0.1]:25", 0, std::nullopt},
        EndpointCase{"[example.com]:25", 0, std::nullopt},
        EndpointCase{"1.2.3.256:25", 0, std::nullopt}));

TEST(ConfigEndpoint, ToString) {
    EXPECT_EQ((Endpoint{"127.0.0.1", 2587}).to_string(), "127.0.0.1:2587");
    EXPECT_EQ((Endpoint{"::1", 587}).to_string(), "[::1]:587");
    EXPECT_EQ((Endpoint{"smtp.example.net", 587}).to_string(), "smtp.example.net:587");
}

TEST(ConfigEndpoint, IpOnlyRejectsNames) {
    auto r = detail::parse_endpoint_verbose("localhost:587", 0, true);
    EXPECT_FALSE(r.endpoint);
    EXPECT_EQ(r.why, "\"localhost\" is not a literal IPv4 or IPv6 address");
}

TEST(ConfigEndpoint, Forwarders) {
    auto a = detail::parse_forwarder("127.0.0.1");
    ASSERT_TRUE(a.endpoint);
    EXPECT_EQ(a.endpoint->port, 53);
    auto b = detail::parse_forwarder("::1@5353");
    ASSERT_TRUE(b.endpoint);
    EXPECT_EQ(b.endpoint->host, "::1");
    EXPECT_EQ(b.endpoint->port, 5353);
    EXPECT_EQ(detail::format_forwarder(*b.endpoint), "::1@5353");
    EXPECT_FALSE(detail::parse_forwarder("dns.example.net").endpoint);
    EXPECT_FALSE(detail::parse_forwarder("127.0.0.1@").endpoint);
    EXPECT_FALSE(detail::parse_forwarder("127.0.0.1:53").endpoint);
}

// ---- enums -------------------------------------------------------------------------------------

TEST(ConfigEnums, ToString) {
    EXPECT_EQ(to_string(TlsMode::starttls), "starttls");
    EXPECT_EQ(to_string(TlsMode::implicit), "implicit");
    EXPECT_EQ(to_string(ListenerKind::submission), "submission");
    EXPECT_EQ(to_string(ListenerKind::mx), "mx");
    EXPECT_EQ(to_string(TlsVersion::tls1_2), "1.2");
    EXPECT_EQ(to_string(TlsVersion::tls1_3), "1.3");
    EXPECT_EQ(to_string(DkimAlgorithm::ed25519), "ed25519");
    EXPECT_EQ(to_string(DkimAlgorithm::rsa4096), "rsa4096");
    EXPECT_EQ(to_string(Canonicalization::relaxed), "relaxed");
    EXPECT_EQ(to_string(DeliveryMode::smarthost), "smarthost");
    EXPECT_EQ(to_string(LogFormat::json), "json");
    EXPECT_EQ(to_string(LogLevel::warn), "warn");
    EXPECT_EQ(to_string(LogLevel::off), "off");
}

// ---- ConfigError ---------------------------------------------------------------------------------

TEST(ConfigErrorText, LeavesOutUnknownParts) {
    EXPECT_EQ((ConfigError{"a.toml", 3, 7, "tls.key", "bad"}).to_string(), "a.toml:3:7: tls.key: bad");
    EXPECT_EQ((ConfigError{"a.toml", 3, 0, "tls.key", "bad"}).to_string(), "a.toml:3: tls.key: bad");
    EXPECT_EQ((ConfigError{"a.toml", 0, 0, "listener", "bad"}).to_string(), "a.toml: listener: bad");
    EXPECT_EQ((ConfigError{"a.toml", 0, 0, "", "bad"}).to_string(), "a.toml: bad");
    EXPECT_EQ((ConfigError{"", 2, 1, "", "bad"}).to_string(), "2:1: bad");
}

// ---- names, suggestions ----------------------------------------------------------------------

TEST(ConfigNames, DnsNames) {
    for (auto ok : {"example.com", "a.b-c.example", "xn--bcher-kva.example", "localhost", "a1"})
        EXPECT_TRUE(detail::is_dns_name(ok)) << ok;
    for (auto bad : {"", "-a.com", "a-.com", "a..com", ".a.com", "a.com.", "exa mple.com",
                     "under_score.com", "1.2.3.4", "bücher.example"})
        EXPECT_FALSE(detail::is_dns_name(bad)) << bad;
    EXPECT_FALSE(detail::is_dns_name(std::string(64, 'a') + ".com"));
    EXPECT_TRUE(detail::is_dns_name(std::string(63, 'a') + ".com"));
}

TEST(ConfigNames, EditDistance) {
    EXPECT_EQ(detail::edit_distance("hostnme", "hostname"), 1u);
    EXPECT_EQ(detail::edit_distance("", "abc"), 3u);
    EXPECT_EQ(detail::edit_distance("abc", ""), 3u);
    EXPECT_EQ(detail::edit_distance("ab", "ba"), 1u);  // a transposition is one edit
    EXPECT_EQ(detail::edit_distance("kitten", "sitting"), 3u);
    EXPECT_EQ(detail::edit_distance("same", "same"), 0u);
}

TEST(ConfigNames, SuggestKey) {
    EXPECT_EQ(detail::suggest_key("hostnme", detail::kServerKeys), "; did you mean \"hostname\"?");
    EXPECT_EQ(detail::suggest_key("Hostname", detail::kServerKeys), "; did you mean \"hostname\"?");
    EXPECT_EQ(detail::suggest_key("max_recipient", detail::kLimitsKeys),
              "; did you mean \"max_recipients\"?");
    EXPECT_EQ(detail::suggest_key("domains", detail::kRootKeys), "; did you mean \"domain\"?");
    EXPECT_EQ(detail::suggest_key("colour", detail::kLogKeys), "; known keys: level, format");
    // Two letters are two edits from any other two letters: no guess.
    EXPECT_EQ(detail::suggest_key("zz", detail::kKeysKeys), "; known keys: dir, check_interval");
}

TEST(ConfigNames, TomlQuote) {
    EXPECT_EQ(detail::toml_quote("plain"), "\"plain\"");
    EXPECT_EQ(detail::toml_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(detail::toml_quote("tab\there\n"), "\"tab\\there\\n\"");
    EXPECT_EQ(detail::toml_quote(std::string("\x01", 1)), "\"\\u0001\"");
}

}  // namespace
}  // namespace signpost::config
