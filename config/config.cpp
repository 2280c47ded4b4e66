// config/config.cpp — load_file / load_string: TOML text -> validated Config.
//
// How it works: toml++ parses the text into a tree whose nodes remember their source
// position. A Loader then walks the schema section by section; every key is read by a
// typed reader that either stores the value or records a ConfigError at that node's
// position and carries on, so one pass reports every mistake. Unknown keys are reported
// with the nearest known key. Cross-key rules (publish_lead < rotate_every, retire_after
// >= queue.max_lifetime + 7d, duplicates, "required when ...") run after the sections,
// pointing at the key that broke them. Last, the files the config names are checked
// (files.cpp) and the errors are sorted by position.
//
// Untrusted input: the whole file. It is bounded (kMaxFileSize), toml++ rejects malformed
// TOML, and no exception leaves this file: toml::parse_error becomes a located error, any
// other exception an "internal error".
//
// Threading: reentrant; a Loader lives on the stack of one call.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <system_error>
#include <tuple>

#include <boost/asio/ip/address.hpp>
#include <toml++/toml.h>

#include "config/config.hpp"
#include "config/internal.hpp"

namespace signpost::config {
namespace {

namespace fs = std::filesystem;
using detail::Location;

// A config file is a few kilobytes; refuse anything absurd before parsing it.
constexpr std::size_t kMaxFileSize = 4u << 20;

constexpr std::int64_t kDay = 86400;
constexpr Duration kRetireMargin{7 * kDay};  // DNS record kept this long past the queue lifetime

constexpr const char* kDurationForm = "a duration string such as \"90d\" or \"5m\"";
constexpr const char* kSizeForm = "a size string such as \"25MB\" or \"512KB\"";

Location pos_of(const toml::source_region& r) { return {r.begin.line, r.begin.column}; }
Location pos_of(const toml::node& n) { return pos_of(n.source()); }

std::string join(std::string_view path, std::string_view key) {
    std::string out(path);
    if (!out.empty()) out += '.';
    out += key;
    return out;
}

std::string indexed(std::string_view path, std::size_t i) {
    return std::string(path) + "[" + std::to_string(i) + "]";
}

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string_view type_name(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a floating-point number";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::date: return "a date";
        case toml::node_type::time: return "a time";
        case toml::node_type::date_time: return "a date-time";
        case toml::node_type::array:
            return n.is_array_of_tables() && !n.as_array()->empty() ? "an array of tables"
                                                                     : "an array";
        case toml::node_type::table: return "a table";
        default: return "nothing";
    }
}

// One table being read: the toml++ table, its dotted path and where its header is.
struct Table {
    const toml::table* t;
    std::string path;
    Location pos;
};

class Loader {
public:
    Loader(std::string file, fs::path base_dir) : file_(std::move(file)), base_(std::move(base_dir)) {}

    void run(const toml::table& root);
    void check_files();

    Config config;
    std::vector<ConfigError> errors;

private:
    // ---- reporting ------------------------------------------------------------------
    void error(Location at, std::string key, std::string message) {
        errors.push_back({file_, at.line, at.column, std::move(key), std::move(message)});
    }
    void type_error(const toml::node& n, const std::string& key, std::string_view expected) {
        error(pos_of(n), key,
              "expected " + std::string(expected) + ", found " + std::string(type_name(n)));
    }
    void missing(const Table& t, std::string_view key, std::string_view what) {
        error(t.pos, join(t.path, key),
              "missing required key \"" + std::string(key) + "\" (" + std::string(what) + ")");
    }
    Location where(const std::string& key) const {
        auto it = where_.find(key);
        return it == where_.end() ? Location{} : it->second;
    }

    // ---- structure ------------------------------------------------------------------
    void check_keys(const Table& t, std::span<const std::string_view> known) {
        for (auto&& [k, v] : *t.t) {
            if (std::find(known.begin(), known.end(), k.str()) != known.end()) continue;
            error(pos_of(k.source()), join(t.path, k.str()),
                  "unknown key " + in_quotes(k.str()) + detail::suggest_key(k.str(), known));
        }
    }
    const toml::node* get(const Table& t, std::string_view key) {
        const toml::node* n = t.t->get(key);
        if (n) where_[join(t.path, key)] = pos_of(*n);
        return n;
    }
    static std::span<const std::string_view> keys_of(std::string_view section) {
        for (const auto& s : detail::kSchema)
            if (s.name == section) return s.keys;
        return {};
    }
    std::optional<Table> section(const Table& root, std::string_view name);
    std::vector<Table> table_array(const Table& root, std::string_view name, bool* present);

    // ---- typed readers: a node -> a value, or an error and nullopt --------------------
    std::optional<std::string> read_string(const toml::node& n, const std::string& key,
                                           std::string_view expected = "a string") {
        if (auto s = n.as_string()) return s->get();
        type_error(n, key, expected);
        return std::nullopt;
    }
    std::optional<std::int64_t> read_int(const toml::node& n, const std::string& key,
                                         std::int64_t lo, std::int64_t hi) {
        std::string range = "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
        auto i = n.as_integer();
        if (!i) {
            type_error(n, key, range);
            return std::nullopt;
        }
        if (i->get() < lo || i->get() > hi) {
            error(pos_of(n), key, "expected " + range + ", found " + std::to_string(i->get()));
            return std::nullopt;
        }
        return i->get();
    }
    std::optional<Duration> read_duration(const toml::node& n, const std::string& key,
                                          bool positive) {
        auto s = read_string(n, key, kDurationForm);
        if (!s) return std::nullopt;
        auto d = parse_duration(*s);
        if (!d) {
            // Well-formed but past parse_duration's bound, or not a duration at all?
            bool well_formed = s->size() >= 2 &&
                               std::string_view("smhdw").find(s->back()) != std::string_view::npos &&
                               std::all_of(s->begin(), s->end() - 1,
                                           [](char c) { return c >= '0' && c <= '9'; });
            error(pos_of(n), key,
                  well_formed ? "duration " + in_quotes(*s) + " is too long (at most 36500d)"
                              : "invalid duration " + in_quotes(*s) +
                                    "; expected an integer and one unit (s, m, h, d or w) such "
                                    "as \"90d\" or \"5m\", or \"0\"");
            return std::nullopt;
        }
        if (positive && d->count() == 0) {
            error(pos_of(n), key, "must be greater than 0");
            return std::nullopt;
        }
        return d;
    }
    std::optional<std::uint64_t> read_size(const toml::node& n, const std::string& key,
                                           std::uint64_t lo, std::uint64_t hi) {
        auto s = read_string(n, key, kSizeForm);
        if (!s) return std::nullopt;
        auto v = parse_size(*s);
        if (!v) {
            error(pos_of(n), key,
                  "invalid size " + in_quotes(*s) +
                      "; expected an integer with an optional unit (KB, MB, GB, TB, or KiB, "
                      "MiB, GiB, TiB) such as \"25MB\"");
            return std::nullopt;
        }
        if (*v < lo || *v > hi) {
            error(pos_of(n), key,
                  "expected a size from " + format_size(lo) + " to " + format_size(hi) +
                      ", found " + in_quotes(*s));
            return std::nullopt;
        }
        return v;
    }
    std::optional<fs::path> read_path(const toml::node& n, const std::string& key) {
        auto s = read_string(n, key, "a path (a string)");
        if (!s) return std::nullopt;
        if (s->empty() || s->find('\0') != std::string::npos) {
            error(pos_of(n), key, s->empty() ? "expected a path, found an empty string"
                                             : "a path must not contain NUL characters");
            return std::nullopt;
        }
        fs::path p(*s);
        if (p.is_relative() && !base_.empty()) p = (base_ / p).lexically_normal();
        return p;
    }
    template <class E, std::size_t N>
    std::optional<E> read_enum(const toml::node& n, const std::string& key,
                               const detail::Named<E> (&names)[N]) {
        auto s = read_string(n, key, "one of " + detail::quoted_names(names) + " (a string)");
        if (!s) return std::nullopt;
        if (auto v = detail::lookup(names, *s)) return v;
        error(pos_of(n), key,
              "invalid value " + in_quotes(*s) + "; expected one of " + detail::quoted_names(names));
        return std::nullopt;
    }
    std::optional<Endpoint> read_endpoint(const toml::node& n, const std::string& key,
                                          std::uint16_t default_port, bool ip_only,
                                          std::string_view example) {
        auto s = read_string(n, key, "an address string such as " + std::string(example));
        if (!s) return std::nullopt;
        auto r = detail::parse_endpoint_verbose(*s, default_port, ip_only);
        if (!r.endpoint)
            error(pos_of(n), key,
                  "invalid address " + in_quotes(*s) + ": " + r.why + " (expected something like " +
                      std::string(example) + ")");
        return r.endpoint;
    }
    const toml::array* read_array(const toml::node& n, const std::string& key,
                                  std::string_view expected, bool non_empty) {
        auto a = n.as_array();
        if (!a) {
            type_error(n, key, expected);
            return nullptr;
        }
        if (non_empty && a->empty()) {
            error(pos_of(n), key, "expected " + std::string(expected) + ", found an empty array");
            return nullptr;
        }
        return a;
    }

    // ---- table-level wrappers: read t.key into out when present; true if stored ------
    template <class T, class Read>
    bool field(const Table& t, std::string_view key, T& out, Read&& read) {
        const toml::node* n = get(t, key);
        if (!n) return false;
        auto v = read(*n, join(t.path, key));
        if (!v) return false;
        out = static_cast<T>(*v);
        return true;
    }
    bool get_bool(const Table& t, std::string_view key, bool& out) {
        return field(t, key, out, [&](const toml::node& n, const std::string& k) -> std::optional<bool> {
            if (auto b = n.as_boolean()) return b->get();
            type_error(n, k, "a boolean (true or false)");
            return std::nullopt;
        });
    }
    template <class T>
    bool get_int(const Table& t, std::string_view key, T& out, std::int64_t lo, std::int64_t hi) {
        return field(t, key, out,
                     [&](const toml::node& n, const std::string& k) { return read_int(n, k, lo, hi); });
    }
    bool get_duration(const Table& t, std::string_view key, Duration& out, bool positive) {
        return field(t, key, out, [&](const toml::node& n, const std::string& k) {
            return read_duration(n, k, positive);
        });
    }
    bool get_size(const Table& t, std::string_view key, std::uint64_t& out, std::uint64_t lo,
                  std::uint64_t hi) {
        return field(t, key, out,
                     [&](const toml::node& n, const std::string& k) { return read_size(n, k, lo, hi); });
    }
    bool get_path(const Table& t, std::string_view key, fs::path& out) {
        return field(t, key, out,
                     [&](const toml::node& n, const std::string& k) { return read_path(n, k); });
    }
    template <class E, std::size_t N>
    bool get_enum(const Table& t, std::string_view key, E& out, const detail::Named<E> (&names)[N]) {
        return field(t, key, out,
                     [&](const toml::node& n, const std::string& k) { return read_enum(n, k, names); });
    }

    // ---- sections ---------------------------------------------------------------------
    void read_server(const Table& root);
    void read_listeners(const Table& root);
    void read_tls(const Table& root);
    void read_auth(const Table& root);
    void read_limits(const Table& root);
    void read_domains(const Table& root);
    void read_routes(const Table& root);
    void read_inbound(const Table& root);
    InboundConfig read_inbound_entry(const Table& t);
    void read_tls_rpt(const Table& root);
    DomainConfig read_domain(const Table& t);
    void read_keys(const Table& root);
    void read_queue(const Table& root);
    void read_delivery(const Table& root);
    void read_mta_sts(const Table& root);
    void read_mta_sts_serve(const Table& root);
    void read_doctor(const Table& root);
    void read_dns(const Table& root);
    void read_metrics(const Table& root);
    void read_log(const Table& root);

    std::string file_;
    fs::path base_;
    std::map<std::string, Location> where_;  // dotted key -> position of its value
    bool queue_lifetime_ok_ = true;          // false: skip the checks that depend on it
    bool mta_sts_cache_dir_set_ = false;
    bool tls_rpt_dir_set_ = false;
    Location tls_rpt_pos_{};
    std::vector<std::string> mx_kind_keys_;  // "listener[2].kind" of each kind = "mx" listener
    bool inbound_malformed_ = false;         // "inbound" is there but not [[inbound]] tables
    struct DomainRead {
        std::string path;       // "domain[2]"
        bool retire_after_set;  // false: retire_after gets its computed default
    };
    std::vector<DomainRead> domain_reads_;  // parallel to config.domains
};

std::optional<Table> Loader::section(const Table& root, std::string_view name) {
    const toml::node* n = get(root, name);
    if (!n) return std::nullopt;
    auto t = n->as_table();
    if (!t) {
        type_error(*n, std::string(name), "a table ([" + std::string(name) + "])");
        return std::nullopt;
    }
    Table out{t, std::string(name), pos_of(*t)};
    check_keys(out, keys_of(name));
    return out;
}

std::vector<Table> Loader::table_array(const Table& root, std::string_view name, bool* present) {
    std::vector<Table> out;
    const std::string key(name);
    const toml::node* n = get(root, name);
    *present = n != nullptr;
    if (!n) return out;
    if (n->is_table()) {
        error(pos_of(*n), key,
              "expected an array of tables ([[" + key + "]]), found a table ([" + key + "])");
        return out;
    }
    auto a = read_array(*n, key, "an array of tables ([[" + key + "]])", false);
    if (!a) return out;
    for (std::size_t i = 0; i < a->size(); ++i) {
        const toml::node& elem = *a->get(i);
        std::string path = indexed(name, i);
        auto t = elem.as_table();
        if (!t) {
            type_error(elem, path, "a table");
            continue;
        }
        where_[path] = pos_of(*t);
        out.push_back(Table{t, path, pos_of(*t)});
        check_keys(out.back(), keys_of(name));
    }
    return out;
}

// ---- [server] -----------------------------------------------------------------------------

std::string machine_hostname() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
    return buf;
}

void Loader::read_server(const Table& root) {
    config.server.hostname = machine_hostname();
    auto s = section(root, "server");
    if (s) get_bool(*s, "received_client", config.server.received_client);
    if (s) get_duration(*s, "shutdown_grace", config.server.shutdown_grace, false);
    if (!s || !s->t->contains("hostname")) {
        // The default goes into EHLO and Received:; a machine name that is not a DNS name
        // (say "my_nas") would be refused by peers, so say so here rather than there.
        if (!detail::is_dns_name(config.server.hostname) && (s || !root.t->contains("server")))
            error(s ? s->pos : Location{}, "server.hostname",
                  "this machine's host name " + in_quotes(config.server.hostname) +
                      " is not a valid DNS name; set hostname in [server]");
        return;
    }
    field(*s, "hostname", config.server.hostname,
          [&](const toml::node& n, const std::string& k) -> std::optional<std::string> {
              auto v = read_string(n, k);
              if (!v) return std::nullopt;
              std::string name = *v;
              if (!name.empty() && name.back() == '.') name.pop_back();
              if (!detail::is_dns_name(name)) {
                  error(pos_of(n), k,
                        "invalid host name " + in_quotes(*v) +
                            "; expected a DNS name such as \"mail.example.com\"");
                  return std::nullopt;
              }
              return name;
          });
}

// ---- [[listener]] ---------------------------------------------------------------------------

bool valid_label_name(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
    });
}

void Loader::read_listeners(const Table& root) {
    bool present = false;
    auto tables = table_array(root, "listener", &present);
    if (!present) {
        error({}, "listener",
              "missing required [[listener]]: at least one listener is required, such as "
              "address = \"0.0.0.0:587\"");
        return;
    }
    if (tables.empty() && root.t->get("listener")->is_array() &&
        root.t->get("listener")->as_array()->empty()) {
        error(where("listener"), "listener", "at least one listener is required");
        return;
    }
    std::map<std::string, std::size_t> by_address;  // address -> index in tables
    std::map<std::string, std::size_t> by_name;
    for (std::size_t i = 0; i < tables.size(); ++i) {
        const Table& t = tables[i];
        ListenerConfig l;
        bool have_address = false;
        if (const toml::node* n = get(t, "address")) {
            if (auto ep = read_endpoint(*n, join(t.path, "address"), 0, true,
                                        "\"127.0.0.1:2587\" or \"[::1]:587\"")) {
                l.address = *ep;
                have_address = true;
            }
        } else {
            missing(t, "address", "the IP address and port to listen on, such as \"127.0.0.1:2587\"");
        }
        get_enum(t, "tls", l.tls, detail::kTlsModes);
        if (get_enum(t, "kind", l.kind, detail::kListenerKinds) && l.kind == ListenerKind::mx)
            mx_kind_keys_.push_back(join(t.path, "kind"));
        // Servers delivering to an MX connect to port 25 in plaintext and upgrade with
        // STARTTLS (RFC 3207); none tries implicit TLS there (RFC 8314 is submission only).
        if (l.kind == ListenerKind::mx && l.tls != TlsMode::starttls) {
            const std::string k = join(t.path, "tls");
            error(where(k), k,
                  "kind = \"mx\" needs tls = \"starttls\": servers delivering to an MX connect in "
                  "plaintext and upgrade with STARTTLS; none would speak implicit TLS to it");
        }
        // Only an MX listener meets strangers: the pregreet pause and DNSBLs are for it.
        if (l.kind == ListenerKind::mx) {
            l.greet_pause = Duration{1};
            l.client_connections_per_hour = 600;
            l.client_messages_per_hour = 300;
        }
        for (const char* only_mx : {"greet_pause", "dnsbl", "client_connections_per_hour", "client_messages_per_hour"}) {
            if (l.kind != ListenerKind::mx && t.t->contains(only_mx)) {
                const std::string k = join(t.path, only_mx);
                error(where(k), k, std::string(only_mx) + " is for kind = \"mx\" listeners (submission clients log in instead)");
            }
        }
        get_duration(t, "greet_pause", l.greet_pause, false);
        get_int(t, "client_connections_per_hour", l.client_connections_per_hour, 0, 1000000);
        get_int(t, "client_messages_per_hour", l.client_messages_per_hour, 0, 1000000);
        if (l.greet_pause > Duration{30}) {
            const std::string k = join(t.path, "greet_pause");
            error(where(k), k, "greet_pause is at most 30s (RFC 5321 §4.5.3.2.1: clients wait 5 minutes for the greeting, "
                               "but a long pause only delays mail)");
        }
        if (const toml::node* n = get(t, "dnsbl")) {
            const std::string k = join(t.path, "dnsbl");
            if (auto a = read_array(*n, k, "an array of DNSBL zones such as [\"zen.spamhaus.org\"]", false)) {
                for (std::size_t z = 0; z < a->size(); ++z) {
                    const toml::node& elem = *a->get(z);
                    auto v = read_string(elem, indexed(k, z), "a DNSBL zone (a string such as \"zen.spamhaus.org\")");
                    if (!v) continue;
                    std::string zone = detail::to_lower(*v);
                    if (!zone.empty() && zone.back() == '.') zone.pop_back();
                    if (!detail::is_dns_name(zone)) {
                        error(pos_of(elem), indexed(k, z), "invalid DNSBL zone " + in_quotes(*v) + "; such as \"zen.spamhaus.org\"");
                        continue;
                    }
                    l.dnsbl.push_back(std::move(zone));
                }
            }
        }
        bool named = field(t, "name", l.name,
                           [&](const toml::node& n, const std::string& k) -> std::optional<std::string> {
                               auto v = read_string(n, k);
                               if (v && !valid_label_name(*v)) {
                                   error(pos_of(n), k,
                                         "invalid listener name " + in_quotes(*v) +
                                             "; expected 1 to 64 letters, digits, \"-\", \"_\" or \".\"");
                                   return std::nullopt;
                               }
                               return v;
                           });
        if (!named && !t.t->contains("name") && have_address)
            l.name = std::string(l.kind == ListenerKind::mx ? "mx" : to_string(l.tls)) + "-" +
                     std::to_string(l.address.port);

        if (have_address) {
            std::string addr = l.address.to_string();
            auto [it, inserted] = by_address.emplace(addr, i);
            if (!inserted)
                error(where(join(t.path, "address")), join(t.path, "address"),
                      "address " + addr + " is already used by " + tables[it->second].path +
                          " (line " + std::to_string(where(join(tables[it->second].path, "address")).line) +
                          ")");
        }
        if (!l.name.empty()) {
            auto [it, inserted] = by_name.emplace(l.name, i);
            if (!inserted) {
                std::string key = join(t.path, "name");
                error(named ? where(key) : t.pos, key,
                      "listener name " + in_quotes(l.name) + " is already used by " +
                          tables[it->second].path + " (line " +
                          std::to_string(tables[it->second].pos.line) +
                          "); give each listener a distinct name (it labels logs and metrics)");
            }
        }
        config.listeners.push_back(std::move(l));
    }
}

// ---- [tls], [auth], [limits] -----------------------------------------------------------------

void Loader::read_tls(const Table& root) {
    auto s = section(root, "tls");
    if (!s) {
        if (!root.t->contains("tls"))
            error({}, "tls", "missing required table [tls] with cert and key (the listeners' certificate)");
        return;
    }
    if (!s->t->contains("cert")) missing(*s, "cert", "path of the PEM certificate chain");
    if (!s->t->contains("key")) missing(*s, "key", "path of the PEM private key");
    get_path(*s, "cert", config.tls.cert);
    get_path(*s, "key", config.tls.key);
    get_enum(*s, "min_version", config.tls.min_version, detail::kTlsVersions);
}

void Loader::read_auth(const Table& root) {
    auto s = section(root, "auth");
    if (!s) {
        if (!root.t->contains("auth"))
            error({}, "auth", "missing required table [auth] with users_file");
        return;
    }
    if (!s->t->contains("users_file"))
        missing(*s, "users_file", "path of the users file, such as \"/etc/signpost/users\"");
    get_path(*s, "users_file", config.auth.users_file);
    get_duration(*s, "cache_ttl", config.auth.cache_ttl, false);
    get_int(*s, "max_failures", config.auth.max_failures, 1, 100);
    get_duration(*s, "lockout", config.auth.lockout, false);
}

void Loader::read_limits(const Table& root) {
    auto s = section(root, "limits");
    if (!s) return;
    LimitsConfig& l = config.limits;
    get_size(*s, "message_size", l.message_size, 1000, 2000ull * 1000 * 1000);
    get_int(*s, "max_recipients", l.max_recipients, 1, 10000);
    get_int(*s, "max_connections", l.max_connections, 1, 100000);
    get_int(*s, "max_connections_per_ip", l.max_connections_per_ip, 1, 100000);
    get_duration(*s, "command_timeout", l.command_timeout, true);
    get_duration(*s, "data_timeout", l.data_timeout, true);
    get_duration(*s, "connection_timeout", l.connection_timeout, true);
    get_int(*s, "min_data_rate", l.min_data_rate, 0, 1000ll * 1000 * 1000);
    get_enum(*s, "bare_lf", l.bare_lf, detail::kBareLf);
    get_size(*s, "max_line_length", l.max_line_length, 998, 2000ull * 1000 * 1000);
}

// ---- [[domain]] ---------------------------------------------------------------------------------

// RFC 5322 §3.6.8: ftext is any printable US-ASCII character except ":".
bool is_field_name(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return c >= 33 && c <= 126 && c != ':';
    });
}

bool is_selector_prefix(std::string_view s) {
    if (s.empty() || s.size() > 20 || s.front() == '-') return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

DomainConfig Loader::read_domain(const Table& t) {
    DomainConfig d;
    auto key = [&](std::string_view k) { return join(t.path, k); };

    if (!t.t->contains("name")) missing(t, "name", "the domain to sign for, such as \"example.com\"");
    field(t, "name", d.name, [&](const toml::node& n, const std::string& k) -> std::optional<std::string> {
        auto v = read_string(n, k);
        if (!v) return std::nullopt;
        std::string name = detail::to_lower(*v);
        if (!name.empty() && name.back() == '.') name.pop_back();
        if (!detail::is_dns_name(name)) {
            bool ascii = std::all_of(v->begin(), v->end(),
                                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
            error(pos_of(n), k,
                  "invalid domain name " + in_quotes(*v) +
                      (ascii ? "; expected labels of letters, digits and hyphens separated by "
                               "dots, such as \"example.com\""
                             : "; write an internationalized name in its A-label (xn--) form"));
            return std::nullopt;
        }
        return name;
    });

    field(t, "selector_prefix", d.selector_prefix,
          [&](const toml::node& n, const std::string& k) -> std::optional<std::string> {
              auto v = read_string(n, k);
              if (v && !is_selector_prefix(*v)) {
                  error(pos_of(n), k,
                        "invalid selector_prefix " + in_quotes(*v) +
                            "; expected 1 to 20 characters of a-z, 0-9 and \"-\", not starting "
                            "with \"-\"");
                  return std::nullopt;
              }
              return v;
          });

    if (const toml::node* n = get(t, "algorithms")) {
        const std::string k = key("algorithms");
        const std::string expected =
            "a non-empty array of " + detail::quoted_names(detail::kDkimAlgorithms);
        if (auto a = read_array(*n, k, expected, true)) {
            std::vector<DkimAlgorithm> algs;
            std::map<DkimAlgorithm, std::size_t> first;  // algorithm -> index of its first use
            bool ok = true;
            for (std::size_t i = 0; i < a->size(); ++i) {
                const toml::node& elem = *a->get(i);
                auto alg = read_enum(elem, indexed(k, i), detail::kDkimAlgorithms);
                if (!alg) {
                    ok = false;
                    continue;
                }
                auto [it, inserted] = first.emplace(*alg, i);
                if (!inserted) {
                    error(pos_of(elem), indexed(k, i),
                          "duplicate algorithm " + in_quotes(to_string(*alg)) + " (already " +
                              indexed(k, it->second) + ")");
                    ok = false;
                }
                algs.push_back(*alg);
            }
            if (ok) d.algorithms = std::move(algs);
        }
    }

    bool rotate_set = get_duration(t, "rotate_every", d.rotate_every, false);
    bool lead_set = get_duration(t, "publish_lead", d.publish_lead, false);
    if ((rotate_set || lead_set) && d.rotate_every.count() != 0 && d.publish_lead >= d.rotate_every) {
        std::string k = lead_set ? key("publish_lead") : key("rotate_every");
        error(where(k), k,
              "publish_lead (" + format_duration(d.publish_lead) +
                  ") must be shorter than rotate_every (" + format_duration(d.rotate_every) +
                  "): the next key is generated publish_lead before each rotation");
    }
    bool retire_set = get_duration(t, "retire_after", d.retire_after, false);
    domain_reads_.push_back({t.path, retire_set});

    field(t, "canonicalization", d.header_canon,
          [&](const toml::node& n, const std::string& k) -> std::optional<Canonicalization> {
              auto v = read_string(n, k, "a string such as \"relaxed/relaxed\"");
              if (!v) return std::nullopt;
              // RFC 6376 §3.5 (c= tag): "header/body"; a single word is the header
              // algorithm and the body algorithm is then "simple".
              std::string_view text = *v;
              std::size_t slash = text.find('/');
              auto header = detail::lookup(detail::kCanonicalizations, text.substr(0, slash));
              auto body = slash == std::string_view::npos
                              ? std::optional<Canonicalization>(Canonicalization::simple)
                              : detail::lookup(detail::kCanonicalizations, text.substr(slash + 1));
              if (!header || !body) {
                  error(pos_of(n), k,
                        "invalid canonicalization " + in_quotes(text) +
                            "; expected \"relaxed/relaxed\", \"relaxed/simple\", \"simple/relaxed\", "
                            "\"simple/simple\", \"relaxed\" or \"simple\" (RFC 6376 §3.5 c=)");
                  return std::nullopt;
              }
              d.body_canon = *body;
              return header;
          });

    if (const toml::node* n = get(t, "headers")) {
        const std::string k = key("headers");
        if (auto a = read_array(*n, k, "an array of header field names including \"from\"", true)) {
            std::vector<std::string> names;
            bool ok = true;
            for (std::size_t i = 0; i < a->size(); ++i) {
                const toml::node& elem = *a->get(i);
                auto v = read_string(elem, indexed(k, i), "a header field name (a string)");
                if (!v) {
                    ok = false;
                    continue;
                }
                if (!is_field_name(*v)) {
                    error(pos_of(elem), indexed(k, i),
                          "invalid header field name " + in_quotes(*v) +
                              "; expected printable ASCII without spaces or \":\" (RFC 5322 §3.6.8)");
                    ok = false;
                    continue;
                }
                names.push_back(detail::to_lower(*v));
            }
            if (ok && std::find(names.begin(), names.end(), "from") == names.end()) {
                error(pos_of(*n), k, "must include \"from\" (RFC 6376 §5.4: From is always signed)");
                ok = false;
            }
            if (ok) d.headers = std::move(names);
        }
    }
    get_bool(t, "sign_subdomains", d.sign_subdomains);
    return d;
}

void Loader::read_domains(const Table& root) {
    bool present = false;
    auto tables = table_array(root, "domain", &present);
    std::map<std::string, std::size_t> seen;  // name -> index in tables
    for (std::size_t i = 0; i < tables.size(); ++i) {
        DomainConfig d = read_domain(tables[i]);
        if (!d.name.empty()) {
            auto [it, inserted] = seen.emplace(d.name, i);
            if (!inserted) {
                const std::string& first = tables[it->second].path;
                std::string k = join(tables[i].path, "name");
                error(where(k), k,
                      "duplicate domain " + in_quotes(d.name) + "; first defined at line " +
                          std::to_string(where(join(first, "name")).line) + " (" + first + ".name)");
            }
        }
        config.domains.push_back(std::move(d));
    }
}

// ---- [keys], [queue], [delivery], [mta_sts], [dns], [metrics], [log] ------------------------

void Loader::read_keys(const Table& root) {
    if (auto s = section(root, "keys")) {
        get_path(*s, "dir", config.keys.dir);
        get_duration(*s, "check_interval", config.keys.check_interval, true);
    }
}

void Loader::read_queue(const Table& root) {
    auto s = section(root, "queue");
    if (!s) return;
    QueueConfig& q = config.queue;
    get_path(*s, "dir", q.dir);
    if (s->t->contains("max_lifetime"))
        queue_lifetime_ok_ = get_duration(*s, "max_lifetime", q.max_lifetime, true);
    if (const toml::node* n = get(*s, "retry")) {
        const std::string k = "queue.retry";
        if (auto a = read_array(*n, k, "a non-empty array of durations such as [\"5m\", \"1h\"]", true)) {
            std::vector<Duration> steps;
            bool ok = true;
            for (std::size_t i = 0; i < a->size(); ++i) {
                auto d = read_duration(*a->get(i), indexed(k, i), true);
                if (d) steps.push_back(*d);
                else ok = false;
            }
            if (ok) q.retry = std::move(steps);
        }
    }
    get_duration(*s, "warn_after", q.warn_after, false);
    get_size(*s, "min_free_space", q.min_free_space, 0, std::numeric_limits<std::uint64_t>::max());
    if (get_duration(*s, "in_flow_delay", q.in_flow_delay, false) && q.in_flow_delay > Duration{10})
        error(where("queue.in_flow_delay"), "queue.in_flow_delay",
              "in_flow_delay " + format_duration(q.in_flow_delay) + " is too long (at most 10s)");
}

void Loader::read_delivery(const Table& root) {
    auto s = section(root, "delivery");
    if (!s) return;
    DeliveryConfig& d = config.delivery;
    get_enum(*s, "mode", d.mode, detail::kDeliveryModes);
    field(*s, "smarthost", d.smarthost, [&](const toml::node& n, const std::string& k) {
        return read_endpoint(n, k, 587, false, "\"smtp.example.net:587\"");
    });
    get_enum(*s, "smarthost_tls", d.smarthost_tls, detail::kTlsModes);
    get_path(*s, "smarthost_credentials_file", d.smarthost_credentials_file);
    get_int(*s, "mx_port", d.mx_port, 1, 65535);
    get_path(*s, "capture_dir", d.capture_dir);
    get_path(*s, "extra_ca_file", d.extra_ca_file);
    get_bool(*s, "honor_tls_required", d.honor_tls_required);
    get_bool(*s, "smarthost_dane", d.smarthost_dane);
    if (d.mode == DeliveryMode::smarthost && !s->t->contains("smarthost"))
        missing(*s, "smarthost", "required when mode = \"smarthost\"; such as \"smtp.example.net:587\"");
    if (d.mode == DeliveryMode::capture && !s->t->contains("capture_dir"))
        missing(*s, "capture_dir", "required when mode = \"capture\"");
}

void Loader::read_routes(const Table& root) {
    bool present = false;
    auto tables = table_array(root, "route", &present);
    std::map<std::string, std::size_t> seen;  // domain -> index in tables
    for (std::size_t i = 0; i < tables.size(); ++i) {
        const Table& t = tables[i];
        RouteConfig r;
        if (!t.t->contains("domain")) missing(t, "domain", "the recipient domain this route is for, such as \"example.org\"");
        field(t, "domain", r.domain, [&](const toml::node& n, const std::string& k) -> std::optional<std::string> {
            auto v = read_string(n, k);
            if (!v) return std::nullopt;
            std::string name = detail::to_lower(*v);
            if (!name.empty() && name.back() == '.') name.pop_back();
            if (!detail::is_dns_name(name)) {
                error(pos_of(n), k, "invalid domain name " + in_quotes(*v) + "; such as \"example.org\"");
                return std::nullopt;
            }
            return name;
        });
        field(t, "host", r.host, [&](const toml::node& n, const std::string& k) {
            return read_endpoint(n, k, 25, false, "\"mx.example.org:25\" or \"[192.0.2.1]:25\"");
        });
        if (t.t->contains("tls")) {
            RouteTls tls = RouteTls::may;
            if (get_enum(t, "tls", tls, detail::kRouteTls)) r.tls = tls;
        }
        if (!t.t->contains("host") && !t.t->contains("tls") && t.t->contains("domain"))
            error(t.pos, t.path, "a route needs host, tls or both (else it changes nothing)");
        if (!r.domain.empty()) {
            auto [it, inserted] = seen.emplace(r.domain, i);
            if (!inserted) {
                std::string k = join(t.path, "domain");
                error(where(k), k,
                      "duplicate route for " + in_quotes(r.domain) + "; first defined at line " +
                          std::to_string(where(join(tables[it->second].path, "domain")).line));
            }
        }
        config.routes.push_back(std::move(r));
    }
}

// ---- [[inbound]] --------------------------------------------------------------------------------

// 64 lower-case hex digits from a SHA-256 fingerprint as operators copy it: bare hex, or
// byte pairs joined by colons as `openssl x509 -fingerprint -sha256` prints them, with an
// optional "sha256:" prefix; any case. nullopt for anything else.
std::optional<std::string> normalize_fingerprint(std::string_view text) {
    constexpr std::string_view kPrefix = "sha256:";
    if (detail::to_lower(text.substr(0, kPrefix.size())) == kPrefix) text.remove_prefix(kPrefix.size());
    std::string hex;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == ':') {
            // Only between two byte pairs: "AB:CD", never "A:BCD", "AB::CD" or a leading/trailing colon.
            if (hex.empty() || hex.size() % 2 != 0 || i + 1 == text.size() || text[i + 1] == ':')
                return std::nullopt;
            continue;
        }
        if (c >= 'A' && c <= 'F') hex += static_cast<char>(c - 'A' + 'a');
        else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) hex += c;
        else return std::nullopt;
    }
    if (hex.size() != 64) return std::nullopt;
    return hex;
}

// Why a recipients entry cannot be matched against RCPT TO addresses at `domain`, or ""
// when it is a local part or an address at `domain`. `entry` is already lower-cased;
// `domain` is empty when the table's own domain was missing or invalid.
std::string recipient_problem(std::string_view entry, std::string_view domain) {
    constexpr const char* kForm = "; write a local part such as \"alice\" or an address such as \"alice@";
    const std::string form = kForm + std::string(domain.empty() ? "example.org" : domain) + "\"";
    if (entry.empty()) return "empty recipient" + form;
    const bool bad_char = std::any_of(entry.begin(), entry.end(), [](char c) {
        return static_cast<unsigned char>(c) <= ' ' || c == 0x7f || c == '<' || c == '>';
    });
    if (bad_char)
        return "invalid recipient " + in_quotes(entry) + ": no spaces, control characters, \"<\" or \">\"" + form;
    const std::size_t at = entry.rfind('@');
    const std::string_view local = entry.substr(0, at);
    if (local.empty()) return "invalid recipient " + in_quotes(entry) + ": nothing before \"@\"" + form;
    if (local.find('@') != std::string_view::npos)
        return "invalid recipient " + in_quotes(entry) + ": more than one \"@\"" + form;
    // RFC 5321 §4.5.3.1.1: no server has to accept a longer local part.
    if (local.size() > 64)
        return "invalid recipient " + in_quotes(entry) + ": a local part is at most 64 octets (RFC 5321 §4.5.3.1.1)";
    if (at != std::string_view::npos && !domain.empty() && entry.substr(at + 1) != domain)
        return "recipient " + in_quotes(entry) + " is not at this entry's domain " + in_quotes(domain) +
               "; write the local part alone (" + in_quotes(local) + ") or give " +
               in_quotes(entry.substr(at + 1)) + " its own [[inbound]]";
    return "";
}

InboundConfig Loader::read_inbound_entry(const Table& t) {
    InboundConfig in;
    auto key = [&](std::string_view k) { return join(t.path, k); };

    if (!t.t->contains("domain"))
        missing(t, "domain", "the domain this relay receives mail for, such as \"example.org\"");
    field(t, "domain", in.domain, [&](const toml::node& n, const std::string& k) -> std::optional<std::string> {
        auto v = read_string(n, k);
        if (!v) return std::nullopt;
        std::string name = detail::to_lower(*v);
        if (!name.empty() && name.back() == '.') name.pop_back();
        if (!detail::is_dns_name(name)) {
            error(pos_of(n), k, "invalid domain name " + in_quotes(*v) + "; such as \"example.org\"");
            return std::nullopt;
        }
        return name;
    });

    bool recipients_unreadable = false;  // already reported: no "would accept no recipient" too
    if (const toml::node* n = get(t, "recipients")) {
        const std::string k = key("recipients");
        const char* expected = "a recipient (a string such as \"alice\" or \"alice@example.org\")";
        const char* array = "an array of recipients such as [\"alice\", \"bob@example.org\"]";
        if (auto a = read_array(*n, k, array, false)) {
            std::vector<std::string> out;
            for (std::size_t i = 0; i < a->size(); ++i) {
                const toml::node& elem = *a->get(i);
                auto v = read_string(elem, indexed(k, i), expected);
                if (!v) {
                    recipients_unreadable = true;
                    continue;
                }
                std::string r = detail::to_lower(*v);
                if (std::string why = recipient_problem(r, in.domain); !why.empty()) {
                    error(pos_of(elem), indexed(k, i), why);
                    recipients_unreadable = true;
                    continue;
                }
                out.push_back(std::move(r));
            }
            in.recipients = std::move(out);
        } else {
            recipients_unreadable = true;
        }
    }
    get_path(t, "recipients_file", in.recipients_file);
    get_bool(t, "any_recipient", in.any_recipient);
    const bool accepts_some = !in.recipients.empty() || t.t->contains("recipients_file") || in.any_recipient;
    if (!accepts_some && !recipients_unreadable)
        error(t.pos, t.path,
              "this [[inbound]] would accept no recipient: set recipients (such as [\"alice\", \"bob\"]), "
              "recipients_file, or any_recipient = true");

    if (!t.t->contains("deliver_to"))
        missing(t, "deliver_to",
                "the home server this domain's mail is forwarded to, such as \"mail.home.example:25\"");
    field(t, "deliver_to", in.deliver_to, [&](const toml::node& n, const std::string& k) {
        return read_endpoint(n, k, 25, false, "\"mail.home.example:25\" or \"[192.0.2.10]:25\"");
    });
    get_enum(t, "deliver_tls", in.deliver_tls, detail::kTlsModes);
    get_path(t, "deliver_credentials_file", in.deliver_credentials_file);
    field(t, "deliver_fingerprint", in.deliver_fingerprint,
          [&](const toml::node& n, const std::string& k) -> std::optional<std::string> {
              auto v = read_string(n, k, "a SHA-256 fingerprint (a string)");
              if (!v) return std::nullopt;
              if (auto hex = normalize_fingerprint(*v)) return hex;
              error(pos_of(n), k,
                    "invalid fingerprint " + in_quotes(*v) +
                        "; expected the SHA-256 fingerprint of deliver_to's certificate: 64 hex digits, "
                        "optionally with colons between byte pairs and a \"sha256:\" prefix, such as "
                        "\"sha256:3A:F2:...:9C\" (the part after \"Fingerprint=\" of "
                        "openssl x509 -noout -fingerprint -sha256 -in cert.pem)");
              return std::nullopt;
          });
    get_duration(t, "unreachable_alert", in.unreachable_alert, true);
    get_enum(t, "dmarc", in.dmarc, detail::kInboundDmarc);
    get_bool(t, "greylist", in.greylist);
    get_duration(t, "greylist_delay", in.greylist_delay, false);
    get_duration(t, "greylist_lifetime", in.greylist_lifetime, true);
    return in;
}

void Loader::read_inbound(const Table& root) {
    bool present = false;
    auto tables = table_array(root, "inbound", &present);
    if (present && tables.empty()) {
        const toml::array* a = root.t->get("inbound")->as_array();
        inbound_malformed_ = !(a && a->empty());
    }
    std::map<std::string, std::size_t> seen;  // domain -> index in tables
    for (std::size_t i = 0; i < tables.size(); ++i) {
        InboundConfig in = read_inbound_entry(tables[i]);
        if (!in.domain.empty()) {
            auto [it, inserted] = seen.emplace(in.domain, i);
            if (!inserted) {
                const std::string& first = tables[it->second].path;
                std::string k = join(tables[i].path, "domain");
                error(where(k), k,
                      "duplicate [[inbound]] for " + in_quotes(in.domain) + "; first defined at line " +
                          std::to_string(where(join(first, "domain")).line) + " (" + first + ".domain)");
            }
        }
        config.inbound.push_back(std::move(in));
    }
}

void Loader::read_mta_sts(const Table& root) {
    auto s = section(root, "mta_sts");
    if (!s) return;
    get_bool(*s, "enabled", config.mta_sts.enabled);
    mta_sts_cache_dir_set_ = s->t->contains("cache_dir");
    get_path(*s, "cache_dir", config.mta_sts.cache_dir);
    get_int(*s, "https_port", config.mta_sts.https_port, 1, 65535);
}

void Loader::read_mta_sts_serve(const Table& root) {
    auto s = section(root, "mta_sts_serve");
    if (!s) return;
    MtaStsServeConfig& m = config.mta_sts_serve;
    if (!s->t->contains("listen"))
        missing(*s, "listen", "the address to serve HTTPS on, such as \"0.0.0.0:443\"");
    if (!s->t->contains("cert"))
        missing(*s, "cert", "a PEM certificate chain valid for mta-sts.<domain> of each [[inbound]] domain");
    if (!s->t->contains("key")) missing(*s, "key", "the certificate's PEM private key");
    field(*s, "listen", m.listen, [&](const toml::node& n, const std::string& k) {
        return read_endpoint(n, k, 443, false, "\"0.0.0.0:443\"");
    });
    get_path(*s, "cert", m.cert);
    get_path(*s, "key", m.key);
    std::string mode;
    if (field(*s, "mode", mode, [&](const toml::node& n, const std::string& k) { return read_string(n, k); })) {
        if (mode == "enforce" || mode == "testing") {
            m.enforce = mode == "enforce";
        } else {
            error(where("mta_sts_serve.mode"), "mta_sts_serve.mode",
                  "invalid mode " + in_quotes(mode) +
                      "; expected \"testing\" (senders report failures but deliver) or \"enforce\" (RFC 8461 §5)");
        }
    }
    if (get_duration(*s, "max_age", m.max_age, true) && m.max_age > Duration{31557600})
        error(where("mta_sts_serve.max_age"), "mta_sts_serve.max_age",
              "max_age is at most 31557600s, about a year (RFC 8461 §3.2)");
    if (const toml::node* n = get(*s, "mx")) {
        const std::string k = "mta_sts_serve.mx";
        if (auto a = read_array(*n, k, "an array of MX host names such as [\"mx.example.com\"]", false)) {
            for (std::size_t i = 0; i < a->size(); ++i) {
                const toml::node& elem = *a->get(i);
                auto v = read_string(elem, indexed(k, i), "an MX host name (a string such as \"mx.example.com\")");
                if (!v) continue;
                std::string host = detail::to_lower(*v);
                if (!host.empty() && host.back() == '.') host.pop_back();
                // RFC 8461 §4.1: a pattern may start with "*." to match one label.
                std::string_view name = host;
                if (name.starts_with("*.")) name.remove_prefix(2);
                if (!detail::is_dns_name(std::string(name))) {
                    error(pos_of(elem), indexed(k, i),
                          "invalid MX host name " + in_quotes(*v) + "; such as \"mx.example.com\" or \"*.example.com\"");
                    continue;
                }
                m.mx.push_back(std::move(host));
            }
        }
    }
    if (config.inbound.empty() && !inbound_malformed_)
        error(s->pos, "mta_sts_serve",
              "[mta_sts_serve] serves the MTA-STS policy of [[inbound]] domains, and there is none; "
              "add an [[inbound]] table or remove this section");
}

void Loader::read_tls_rpt(const Table& root) {
    auto s = section(root, "tls_rpt");
    if (!s) return;
    TlsRptConfig& t = config.tls_rpt;
    tls_rpt_pos_ = s->pos;
    get_bool(*s, "enabled", t.enabled);
    auto text = [&](const char* key, std::string& out) {
        field(*s, key, out, [&](const toml::node& n, const std::string& k) { return read_string(n, k); });
    };
    text("organization", t.organization);
    text("contact", t.contact);
    text("from", t.from);
    get_int(*s, "send_hour", t.send_hour, 0, 23);
    tls_rpt_dir_set_ = s->t->contains("dir");
    get_path(*s, "dir", t.dir);
    if (!t.enabled) return;
    if (!s->t->contains("organization"))
        missing(*s, "organization", "required when enabled = true: the name the reports are sent under");
    if (!s->t->contains("from"))
        missing(*s, "from", "required when enabled = true: the reports' sender, such as \"tls-reports@example.com\"");
}

void Loader::read_doctor(const Table& root) {
    auto s = section(root, "doctor");
    if (!s) return;
    DoctorConfig& d = config.doctor;
    get_duration(*s, "interval", d.interval, false);
    if (const toml::node* n = get(*s, "addresses")) {
        const std::string k = "doctor.addresses";
        if (auto a = read_array(*n, k, "an array of IP address strings", false)) {
            std::vector<std::string> out;
            for (std::size_t i = 0; i < a->size(); ++i) {
                const toml::node& elem = *a->get(i);
                auto v = read_string(elem, indexed(k, i), "an IP address string");
                if (!v) continue;
                boost::system::error_code ec;
                auto ip = boost::asio::ip::make_address(*v, ec);
                if (ec) {
                    error(pos_of(elem), indexed(k, i),
                          "not an IP address: " + in_quotes(*v) + " (expected \"203.0.113.7\" or \"2001:db8::7\")");
                    continue;
                }
                out.push_back(ip.to_string());
            }
            d.addresses = std::move(out);
        }
    }
    field(*s, "port25_probe", d.port25_probe, [&](const toml::node& n, const std::string& k) {
        return read_endpoint(n, k, 25, false, "\"gmail-smtp-in.l.google.com:25\"");
    });
}

void Loader::read_dns(const Table& root) {
    auto s = section(root, "dns");
    if (!s) return;
    DnsConfig& d = config.dns;
    if (const toml::node* n = get(*s, "forwarders")) {
        const std::string k = "dns.forwarders";
        if (auto a = read_array(*n, k, "an array of \"ip\" or \"ip@port\" strings", false)) {
            std::vector<Endpoint> fwd;
            for (std::size_t i = 0; i < a->size(); ++i) {
                const toml::node& elem = *a->get(i);
                auto v = read_string(elem, indexed(k, i), "an \"ip\" or \"ip@port\" string");
                if (!v) continue;
                auto r = detail::parse_forwarder(*v);
                if (!r.endpoint) {
                    error(pos_of(elem), indexed(k, i),
                          "invalid forwarder " + in_quotes(*v) + ": " + r.why +
                              " (expected \"127.0.0.1\" or \"127.0.0.1@5353\")");
                    continue;
                }
                fwd.push_back(*r.endpoint);
            }
            d.forwarders = std::move(fwd);
        }
    }
    get_bool(*s, "dnssec", d.dnssec);
    get_path(*s, "trust_anchor_file", d.trust_anchor_file);
    get_duration(*s, "timeout", d.timeout, true);
    if (d.dnssec && !s->t->contains("trust_anchor_file"))
        missing(*s, "trust_anchor_file",
                "required when dnssec = true; such as \"/usr/share/dns/root.key\"");
}

void Loader::read_metrics(const Table& root) {
    auto s = section(root, "metrics");
    if (!s) return;
    field(*s, "listen", config.metrics.listen, [&](const toml::node& n, const std::string& k) {
        return read_endpoint(n, k, 0, true, "\"127.0.0.1:9325\"");
    });
}

void Loader::read_log(const Table& root) {
    auto s = section(root, "log");
    if (!s) return;
    get_enum(*s, "level", config.log.level, detail::kLogLevels);
    get_enum(*s, "format", config.log.format, detail::kLogFormats);
}

void Loader::run(const toml::table& root_table) {
    Table root{&root_table, "", {}};
    check_keys(root, detail::kRootKeys);
    read_server(root);
    read_listeners(root);
    read_tls(root);
    read_auth(root);
    read_limits(root);
    read_keys(root);
    read_queue(root);
    read_delivery(root);
    read_routes(root);
    read_inbound(root);
    read_mta_sts(root);
    read_mta_sts_serve(root);
    read_tls_rpt(root);
    read_doctor(root);
    read_dns(root);
    read_metrics(root);
    read_log(root);
    read_domains(root);

    // DANE is only ever met with validated DNS answers.
    if (config.delivery.smarthost_dane && !config.dns.dnssec)
        error(where("delivery.smarthost_dane"), "delivery.smarthost_dane",
              "smarthost_dane = true needs DNSSEC validation: set [dns] dnssec = true and trust_anchor_file "
              "(such as \"/usr/share/dns/root.key\")");
    for (std::size_t i = 0; i < config.routes.size(); ++i) {
        if (config.routes[i].tls != RouteTls::dane || config.dns.dnssec) continue;
        const std::string k = "route[" + std::to_string(i) + "].tls";
        error(where(k), k,
              "tls = \"dane\" needs DNSSEC validation: set [dns] dnssec = true and trust_anchor_file "
              "(such as \"/usr/share/dns/root.key\")");
    }

    // An MX listener takes only [[inbound]] recipients, and [[inbound]] mail arrives only on
    // an MX listener: either one alone is a setup that cannot work.
    if (!config.inbound.empty() && mx_kind_keys_.empty())
        error(where("inbound"), "inbound",
              "no listener with kind = \"mx\" receives its mail; add one, such as address = "
              "\"0.0.0.0:25\" with kind = \"mx\"");
    if (config.inbound.empty() && !inbound_malformed_)
        for (const std::string& k : mx_kind_keys_)
            error(where(k), k,
                  "no [[inbound]] table says which domain and recipients this listener receives "
                  "mail for, so it would refuse every recipient; add one (such as domain = "
                  "\"example.com\", recipients = [\"alice\"], deliver_to = \"home.example.com:25\")");

    // Defaults computed from other keys.
    if (config.mta_sts_serve.listen && config.mta_sts_serve.mx.empty())
        config.mta_sts_serve.mx.push_back(config.server.hostname);
    if (!mta_sts_cache_dir_set_) config.mta_sts.cache_dir = config.queue.dir / "mta-sts";
    if (!tls_rpt_dir_set_) config.tls_rpt.dir = config.queue.dir / "tls-rpt";
    if (config.tls_rpt.enabled) {
        TlsRptConfig& t = config.tls_rpt;
        if (t.contact.empty()) t.contact = t.from;
        const auto at = t.from.rfind('@');
        if (!t.from.empty() && (at == std::string::npos || at == 0 || at + 1 == t.from.size())) {
            error(where("tls_rpt.from"), "tls_rpt.from", "not an address: " + in_quotes(t.from) + "; such as \"tls-reports@example.com\"");
        } else if (!t.from.empty() && !config.find_domain(detail::to_lower(t.from.substr(at + 1)))) {
            error(where("tls_rpt.from"), "tls_rpt.from",
                  "the reports must be DKIM-signed (RFC 8460 §3): " + in_quotes(t.from.substr(at + 1)) +
                      " is not covered by any [[domain]]");
        }
        if (config.delivery.mode != DeliveryMode::mx)
            error(tls_rpt_pos_, "tls_rpt.enabled",
                  "TLS reports describe deliveries to recipients' MX hosts: they need [delivery] mode = \"mx\"");
    }
    // A retired key's record must outlive every message signed with it: those can sit in
    // the queue for max_lifetime and be verified a while after delivery.
    const Duration min_retire = config.queue.max_lifetime + kRetireMargin;
    for (std::size_t i = 0; i < config.domains.size(); ++i) {
        DomainConfig& d = config.domains[i];
        if (!domain_reads_[i].retire_after_set) {
            d.retire_after = min_retire;
        } else if (queue_lifetime_ok_ && d.retire_after < min_retire) {
            std::string k = join(domain_reads_[i].path, "retire_after");
            error(where(k), k,
                  "retire_after (" + format_duration(d.retire_after) +
                      ") must be at least queue.max_lifetime + 7 days (" +
                      format_duration(config.queue.max_lifetime) + " + 7d = " +
                      format_duration(min_retire) +
                      "): a retired key's DNS record must stay published while messages signed "
                      "with it may still be delivered and verified");
        }
    }
}

void Loader::check_files() {
    auto found = detail::check_files(config, file_, [this](const std::string& k) { return where(k); });
    errors.insert(errors.end(), found.begin(), found.end());
}

LoadResult finish(Loader& loader, const LoadOptions& options) {
    if (options.check_files) loader.check_files();
    LoadResult result;
    result.errors = std::move(loader.errors);
    std::stable_sort(result.errors.begin(), result.errors.end(),
                     [](const ConfigError& a, const ConfigError& b) {
                         return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                     });
    if (result.errors.empty()) result.config = std::make_shared<const Config>(std::move(loader.config));
    return result;
}

LoadResult single_error(const std::string& file, std::string message, Location at = {}) {
    LoadResult r;
    r.errors.push_back({file, at.line, at.column, "", std::move(message)});
    return r;
}

LoadResult load_text(std::string_view text, const std::string& source_name, const fs::path& base_dir,
                     const LoadOptions& options) {
    toml::table root;
    try {
        root = toml::parse(text, std::string_view(source_name));
    } catch (const toml::parse_error& e) {
        return single_error(source_name, "TOML syntax error: " + std::string(e.description()),
                            pos_of(e.source()));
    }
    Loader loader(source_name, base_dir);
    loader.config.source = source_name;
    loader.run(root);
    return finish(loader, options);
}

// The file's text, or an error that names the OS reason.
std::optional<std::string> read_file(const fs::path& path, std::string& why) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        why = std::strerror(errno);
        return std::nullopt;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        why = std::strerror(S_ISDIR(st.st_mode) ? EISDIR : errno);
        ::close(fd);
        return std::nullopt;
    }
    std::string text;
    char buf[65536];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            why = std::strerror(errno);
            ::close(fd);
            return std::nullopt;
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > kMaxFileSize) {
            why = "larger than " + format_size(kMaxFileSize) + "; this is not a config file";
            ::close(fd);
            return std::nullopt;
        }
    }
    ::close(fd);
    return text;
}

}  // namespace

LoadResult load_string(std::string_view text, const std::string& source_name,
                       const std::filesystem::path& base_dir, const LoadOptions& options) {
    try {
        return load_text(text, source_name, base_dir, options);
    } catch (const std::exception& e) {
        return single_error(source_name, std::string("internal error while loading: ") + e.what());
    } catch (...) {
        return single_error(source_name, "internal error while loading");
    }
}

LoadResult load_file(const std::filesystem::path& path, const LoadOptions& options) {
    const std::string name = path.string();
    try {
        std::string why;
        auto text = read_file(path, why);
        if (!text) return single_error(name, "cannot read config file: " + why);
        std::error_code ec;
        fs::path base = fs::absolute(path, ec).parent_path();
        if (ec) base = path.parent_path();
        return load_text(*text, name, base, options);
    } catch (const std::exception& e) {
        return single_error(name, std::string("internal error while loading: ") + e.what());
    } catch (...) {
        return single_error(name, "internal error while loading");
    }
}

}  // namespace signpost::config
