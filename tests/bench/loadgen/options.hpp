// tests/bench/loadgen/options.hpp — the load generator's command line.
//
// Every load loop is bounded twice: by a count (--messages, --idle) and by time
// (--duration for starting work, --timeout for each network operation), so a run always
// ends by itself. Only loopback addresses are accepted unless --allow-remote is given: this
// tool exists to overload a server, and it should not be pointed elsewhere by accident.
//
// Threading: parsed once in main(), then read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace loadgen {

enum class TlsMode { none, starttls, implicit };

struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 2587;
    TlsMode tls = TlsMode::starttls;
    std::string cafile;      // empty: certificates are not verified
    std::string servername;  // name to verify and send as SNI; default: host
    std::string ehlo_name = "loadgen.localhost";

    std::string user, password;  // AUTH PLAIN when user is set
    std::string from = "dev@example.test";
    std::vector<std::string> to;  // default {"someone@example.net"}
    std::size_t size = 4096;

    unsigned concurrency = 1;
    std::uint64_t messages = 1000;
    double duration = 60;          // seconds: no new message/connection starts after this
    std::uint64_t per_connection = 0;  // messages per connection; 0 = unlimited
    bool pipelining = false;
    bool bdat = false;
    std::size_t chunk_size = 0;  // BDAT chunk size; 0 = the whole message in one chunk

    std::uint64_t idle = 0;      // --idle N: hold N idle connections (memory measurements)
    double hold = 10;            // seconds the idle connections are held once all are open
    double noop_interval = 60;   // seconds between NOOPs on an idle connection
    bool handshake_only = false; // connect + TLS (+EHLO/STARTTLS/EHLO), no mail, close

    double timeout = 30;         // seconds per network operation
    unsigned threads = 1;
    bool allow_remote = false;
    bool self_check = false;
};

// Parses argv. On error or --help, prints to stderr/stdout and returns the exit status to
// use in `exit_status` (0 for --help, 2 for a bad option) and nullopt.
std::optional<Options> parse_options(int argc, char** argv, int& exit_status);

const char* to_string(TlsMode m);

}  // namespace loadgen
