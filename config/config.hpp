// config/config.hpp — Signpost's configuration as plain, immutable, validated values.
//
// What it does: reads one TOML file (toml++) and turns it into a `Config` value with every
// default filled in, or into a list of located errors. toml++ types never leave this module.
// Running code holds a `std::shared_ptr<const Config>`; a reload builds a new one.
//
// Errors: every error carries file, line, column, the dotted key path and what was expected.
// Several errors are collected in one pass (a file with three mistakes gives three errors).
// Unknown keys are errors that suggest the nearest known key.
//
// Untrusted input: the file text (operator-written, but may be malformed in any way).
// Also reads the file modes of the secrets it names (TLS private key, users file) and
// refuses group/world-readable ones; see validate_secrets().
//
// Threading: all functions are reentrant; Config is immutable after load.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace signpost::config {

using Duration = std::chrono::seconds;

// One problem found in a config file. `line`/`column` are 1-based; 0 when unknown (for
// example a missing file). `key` is the dotted path, with array indexes: "domain[1].name".
struct ConfigError {
    std::string file;
    std::uint32_t line = 0;
    std::uint32_t column = 0;
    std::string key;
    std::string message;

    // "file:line:col: key: message" (parts that are unknown are left out).
    std::string to_string() const;
};

enum class TlsMode { starttls, implicit };
enum class TlsVersion { tls1_2, tls1_3 };
enum class DkimAlgorithm { ed25519, rsa2048, rsa3072, rsa4096 };
enum class Canonicalization { simple, relaxed };
enum class DeliveryMode { mx, smarthost, capture };
enum class LogFormat { text, json };
enum class LogLevel { trace, debug, info, warn, error, critical, off };

// A listening or connecting endpoint. `host` is a literal IPv4/IPv6 address (listeners)
// or a host name (smarthost); IPv6 is written "[::1]:587" in the file.
struct Endpoint {
    std::string host;
    std::uint16_t port = 0;
    std::string to_string() const;  // "127.0.0.1:2587", "[::1]:587"
};

struct ServerConfig {
    std::string hostname;  // default: the machine's host name
};

struct ListenerConfig {
    std::string name;  // default: "<tls>-<port>", used in logs and metric labels
    Endpoint address;
    TlsMode tls = TlsMode::starttls;
};

struct TlsConfig {
    std::filesystem::path cert;  // PEM chain
    std::filesystem::path key;   // PEM private key; must not be group/world-readable
    TlsVersion min_version = TlsVersion::tls1_2;
};

struct AuthConfig {
    std::filesystem::path users_file;  // must not be group/world-readable
    Duration cache_ttl{300};           // remember a verified password this long (0 = never)
    std::uint32_t max_failures = 5;    // failed AUTH attempts before disconnect
    Duration lockout{900};             // how long an IP stays locked out after max_failures
};

// Limits for the submission service (STYLE.md habit 7: every input has a bound).
struct LimitsConfig {
    std::uint64_t message_size = 25ull * 1000 * 1000;  // SIZE; "25MB"
    std::uint32_t max_recipients = 100;
    std::uint32_t max_connections = 1000;
    std::uint32_t max_connections_per_ip = 20;
    Duration command_timeout{300};  // RFC 5321 §4.5.3.2: 5 minutes
    Duration data_timeout{600};     // RFC 5321 §4.5.3.2: 10 minutes for the DATA block
    Duration connection_timeout{3600};
};

struct DomainConfig {
    std::string name;                      // lower-case, no trailing dot
    std::string selector_prefix = "sp";    // selectors are "<prefix><yyyy>-<mm><letter>"
    std::vector<DkimAlgorithm> algorithms{DkimAlgorithm::ed25519, DkimAlgorithm::rsa2048};
    Duration rotate_every{90 * 86400};     // 0 = manual rotation only
    Duration publish_lead{7 * 86400};      // generate the next key this long before rotation
    Duration retire_after{12 * 86400};     // >= queue.max_lifetime + 7d (checked)
    Canonicalization header_canon = Canonicalization::relaxed;
    Canonicalization body_canon = Canonicalization::relaxed;
    std::vector<std::string> headers;      // empty = the signer's default set
    bool sign_subdomains = false;          // this domain's keys also sign for sub.name
};

struct KeysConfig {
    std::filesystem::path dir = "/var/lib/signpost/keys";
};

struct QueueConfig {
    std::filesystem::path dir = "/var/spool/signpost";
    Duration max_lifetime{5 * 86400};
    std::vector<Duration> retry{Duration{300}, Duration{600}, Duration{1200}, Duration{2400},
                                Duration{3600}};  // the last step repeats
    Duration warn_after{4 * 3600};                // 0 = no delay warnings
    std::uint64_t min_free_space = 100ull * 1000 * 1000;
};

struct DeliveryConfig {
    DeliveryMode mode = DeliveryMode::mx;
    std::optional<Endpoint> smarthost;              // required when mode = smarthost
    TlsMode smarthost_tls = TlsMode::starttls;
    std::filesystem::path smarthost_credentials_file;  // "user:password", optional
    std::uint16_t mx_port = 25;                     // tests point this at a loopback port
    std::filesystem::path capture_dir;              // required when mode = capture
    std::filesystem::path extra_ca_file;            // trusted besides the system CAs
};

struct MtaStsConfig {
    bool enabled = true;
    std::filesystem::path cache_dir;  // default: <queue.dir>/mta-sts
};

struct DnsConfig {
    std::vector<Endpoint> forwarders;  // "127.0.0.1@5353" or "127.0.0.1"; empty = system
    bool dnssec = false;
    std::filesystem::path trust_anchor_file;  // required when dnssec = true
    Duration timeout{10};
};

struct MetricsConfig {
    std::optional<Endpoint> listen;  // absent = no metrics endpoint
};

struct LogConfig {
    LogLevel level = LogLevel::info;
    LogFormat format = LogFormat::text;
};

struct Config {
    std::filesystem::path source;  // the file it was loaded from
    ServerConfig server;
    std::vector<ListenerConfig> listeners;
    TlsConfig tls;
    AuthConfig auth;
    LimitsConfig limits;
    std::vector<DomainConfig> domains;
    KeysConfig keys;
    QueueConfig queue;
    DeliveryConfig delivery;
    MtaStsConfig mta_sts;
    DnsConfig dns;
    MetricsConfig metrics;
    LogConfig log;

    // The domain entry that signs for `domain` (exact match, or a parent with
    // sign_subdomains), or nullptr.
    const DomainConfig* find_domain(std::string_view domain) const;
};

struct LoadResult {
    std::shared_ptr<const Config> config;  // set only when errors is empty
    std::vector<ConfigError> errors;
    bool ok() const { return errors.empty() && config != nullptr; }
};

// Reads and validates a file. Relative paths inside the file are resolved against the
// file's directory. Never throws.
LoadResult load_file(const std::filesystem::path& path);

// Same, from text already in memory; `source_name` is used in errors and relative paths
// resolve against `base_dir`. Does not look at the file system except in validate_secrets.
LoadResult load_string(std::string_view text, const std::string& source_name,
                       const std::filesystem::path& base_dir = {});

// The effective configuration with every default filled in, as TOML that load_string
// accepts and that yields an equal Config.
std::string to_toml(const Config& config);

// Parsers shared with the CLI. Durations: "0", "30s", "5m", "36h", "90d", "2w"
// (one unit, non-negative integer). Sizes: "512", "64KB", "25MB", "1GB" (decimal
// units; KiB/MiB/GiB binary). Return nullopt on malformed input.
std::optional<Duration> parse_duration(std::string_view text);
std::optional<std::uint64_t> parse_size(std::string_view text);
std::string format_duration(Duration d);   // largest exact unit: "90d", "5m", "0"
std::string format_size(std::uint64_t n);  // largest exact unit: "25MB"
std::optional<Endpoint> parse_endpoint(std::string_view text, std::uint16_t default_port = 0);

std::string_view to_string(TlsMode);
std::string_view to_string(TlsVersion);
std::string_view to_string(DkimAlgorithm);
std::string_view to_string(Canonicalization);
std::string_view to_string(DeliveryMode);
std::string_view to_string(LogFormat);
std::string_view to_string(LogLevel);

}  // namespace signpost::config
