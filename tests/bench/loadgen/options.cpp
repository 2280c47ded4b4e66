// tests/bench/loadgen/options.cpp — command-line parsing (see options.hpp).
#include "options.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

namespace loadgen {
namespace {

constexpr const char* kUsage = R"(usage: loadgen [options]
SMTP submission load generator (Signpost benchmark). Connects to a loopback server.

connection
  --connect HOST:PORT     server (default 127.0.0.1:2587); or --host H --port P
  --tls MODE              starttls (default) | implicit | none
  --cafile FILE           verify the server certificate against FILE (default: no check)
  --servername NAME       name to verify and send as SNI (default: the host)
  --ehlo NAME             EHLO name (default loadgen.localhost)
  --user U --password P   AUTH PLAIN (also --password-file FILE: first line of FILE)
  --allow-remote          allow a non-loopback server address
message
  --from ADDR             MAIL FROM and From: (default dev@example.test)
  --to ADDR[,ADDR...]     recipients; repeat or separate with commas (default someone@example.net)
  --size BYTES            message size, header + body (default 4096)
load
  --concurrency N         parallel connections (default 1)
  --messages M            messages in total (default 1000)
  --duration S            no message starts after S seconds (default 60)
  --per-connection K      messages per connection; 1 = a new connection (TCP, TLS, EHLO,
                          AUTH) for every message, latency measured from connect
                          (default 0 = keep each connection for the whole run)
  --pipelining            MAIL/RCPT/DATA as one PIPELINING group (when offered)
  --bdat                  CHUNKING (BDAT) instead of DATA
  --chunk-size BYTES      BDAT chunk size (default: the whole message in one chunk)
  --handshake-only        per connection: connect + TLS (+ EHLO, STARTTLS, EHLO), then
                          close; counts handshakes instead of messages
idle connections (memory measurements)
  --idle N                open N connections, EHLO (+STARTTLS+EHLO), then hold them
  --hold S                seconds to hold them once all are open (default 10)
  --noop-interval S       NOOP every S seconds while held (default 60)
general
  --timeout S             limit for each network operation (default 30)
  --threads T             I/O threads (default 1)
  --self-check            test the message builder and reply parser, then exit
  --help
Output: a report, then "RESULT loadgen msgs=.. secs=.. rate=.. p50_ms=.. p95_ms=.. p99_ms=..
errors=.. ...". Exit status 0: every message accepted; 1: a message failed; 2: bad option.
)";

template <class T>
bool parse_number(const std::string& s, T& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && end == s.data() + s.size();
}

bool parse_seconds(const std::string& s, double& out) {
    std::istringstream in(s);
    in >> out;
    return in && in.eof() && std::isfinite(out) && out >= 0;
}

bool split_host_port(const std::string& s, std::string& host, std::uint16_t& port) {
    auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0)
        return false;
    host = s.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    return parse_number(s.substr(colon + 1), port) && port != 0;
}

}  // namespace

const char* to_string(TlsMode m) {
    switch (m) {
    case TlsMode::none: return "none";
    case TlsMode::starttls: return "starttls";
    case TlsMode::implicit: return "implicit";
    }
    return "?";
}

std::optional<Options> parse_options(int argc, char** argv, int& exit_status) {
    Options o;
    exit_status = 2;
    auto bad = [&](const std::string& what) {
        std::cerr << "loadgen: " << what << " (see --help)\n";
        return std::nullopt;
    };
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&](std::string& v) {
            if (i + 1 >= argc)
                return false;
            v = argv[++i];
            return true;
        };
        std::string v;
        auto need = [&]() -> bool { return value(v); };
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            exit_status = 0;
            return std::nullopt;
        } else if (arg == "--pipelining") {
            o.pipelining = true;
        } else if (arg == "--bdat") {
            o.bdat = true;
        } else if (arg == "--handshake-only") {
            o.handshake_only = true;
        } else if (arg == "--allow-remote") {
            o.allow_remote = true;
        } else if (arg == "--self-check") {
            o.self_check = true;
        } else if (!need()) {
            return bad(arg.rfind("--", 0) == 0 ? "option " + arg + " needs a value (or is unknown)"
                                               : "unexpected argument " + arg);
        } else if (arg == "--connect") {
            if (!split_host_port(v, o.host, o.port))
                return bad("--connect wants HOST:PORT, got " + v);
        } else if (arg == "--host") {
            o.host = v;
        } else if (arg == "--port") {
            if (!parse_number(v, o.port) || o.port == 0)
                return bad("bad --port " + v);
        } else if (arg == "--tls") {
            if (v == "starttls")
                o.tls = TlsMode::starttls;
            else if (v == "implicit")
                o.tls = TlsMode::implicit;
            else if (v == "none")
                o.tls = TlsMode::none;
            else
                return bad("--tls is starttls, implicit or none, not " + v);
        } else if (arg == "--cafile") {
            o.cafile = v;
        } else if (arg == "--servername") {
            o.servername = v;
        } else if (arg == "--ehlo") {
            o.ehlo_name = v;
        } else if (arg == "--user") {
            o.user = v;
        } else if (arg == "--password") {
            o.password = v;
        } else if (arg == "--password-file") {
            std::ifstream in(v);
            if (!in || !std::getline(in, o.password))
                return bad("cannot read a password from " + v);
        } else if (arg == "--from") {
            o.from = v;
        } else if (arg == "--to") {
            std::size_t start = 0;
            while (start <= v.size()) {
                auto comma = v.find(',', start);
                std::string addr = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                if (!addr.empty())
                    o.to.push_back(addr);
                if (comma == std::string::npos)
                    break;
                start = comma + 1;
            }
        } else if (arg == "--size") {
            if (!parse_number(v, o.size) || o.size == 0 || o.size > (1u << 30))
                return bad("bad --size " + v + " (1 to 2^30 bytes)");
        } else if (arg == "--concurrency") {
            if (!parse_number(v, o.concurrency) || o.concurrency == 0 || o.concurrency > 100000)
                return bad("bad --concurrency " + v);
        } else if (arg == "--messages") {
            if (!parse_number(v, o.messages))
                return bad("bad --messages " + v);
        } else if (arg == "--duration") {
            if (!parse_seconds(v, o.duration) || o.duration <= 0 || o.duration > 86400)
                return bad("bad --duration " + v + " (seconds, 0 < S <= 86400)");
        } else if (arg == "--per-connection") {
            if (!parse_number(v, o.per_connection))
                return bad("bad --per-connection " + v);
        } else if (arg == "--chunk-size") {
            if (!parse_number(v, o.chunk_size))
                return bad("bad --chunk-size " + v);
        } else if (arg == "--idle") {
            if (!parse_number(v, o.idle) || o.idle == 0 || o.idle > 1000000)
                return bad("bad --idle " + v);
        } else if (arg == "--hold") {
            if (!parse_seconds(v, o.hold) || o.hold > 86400)
                return bad("bad --hold " + v);
        } else if (arg == "--noop-interval") {
            if (!parse_seconds(v, o.noop_interval) || o.noop_interval < 0.1)
                return bad("bad --noop-interval " + v + " (at least 0.1 s)");
        } else if (arg == "--timeout") {
            if (!parse_seconds(v, o.timeout) || o.timeout < 0.01 || o.timeout > 3600)
                return bad("bad --timeout " + v);
        } else if (arg == "--threads") {
            if (!parse_number(v, o.threads) || o.threads == 0 || o.threads > 256)
                return bad("bad --threads " + v);
        } else {
            return bad("unknown option " + arg);
        }
    }
    if (o.to.empty())
        o.to.push_back("someone@example.net");
    if (!o.password.empty() && o.user.empty())
        return bad("--password without --user");
    if (o.idle > 0 && (o.handshake_only || o.bdat || o.pipelining))
        return bad("--idle cannot be combined with --handshake-only, --bdat or --pipelining");
    if (o.handshake_only && (o.bdat || o.pipelining))
        return bad("--handshake-only sends no mail: no --bdat or --pipelining");
    if (o.handshake_only && o.tls == TlsMode::none)
        return bad("--handshake-only needs --tls starttls or implicit");
    exit_status = 0;
    return o;
}

}  // namespace loadgen
