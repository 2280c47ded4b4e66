// tests/integration/dns/dns_query.cpp — a test-only driver for relay/dns's asynchronous
// resolver: makes an UnboundResolver on an io_context, asks every query given on the
// command line at once (each in its own coroutine), and prints one line per answer, so
// scenario scripts can check the resolver against real DNS servers without the daemon.
//
//   dns_query --forwarder IP@PORT [--forwarder ...] [--timeout SECONDS]
//             [--trust-anchor FILE] [--shutdown-after-ms N] TYPE:NAME...
//
// TYPE is mx, a, aaaa, txt or tlsa. --shutdown-after-ms destroys the resolver N ms after
// the queries started, while they may still be outstanding.
//
// Output, one line per query, in the order given (after all have completed):
//   <type> <name> <status> [<records, sorted, ", "-separated>] security=<secure|insecure|bogus|indeterminate>
//   [cname=<target>] ms=<elapsed> why=<why>
// Records: MX "<preference> <host>" (the null MX has host "."), A/AAAA the address, TXT the
// joined strings in double quotes, TLSA "<usage> <selector> <matching> <hex data>".
// Exit status 0 when every query was answered, 1 when the io_context ran out of work with a
// query unanswered or a coroutine threw, 2 on usage errors.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.hpp"
#include "relay/dns/resolver.hpp"

namespace {

namespace asio = boost::asio;
using namespace signpost;
using Clock = std::chrono::steady_clock;

int usage(const std::string& why) {
    std::cerr << "dns_query: " << why << "\n";
    return 2;
}

struct Query {
    std::string type, name;
    std::string line;  // set when answered
};

std::string hex(const std::vector<std::uint8_t>& data) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (auto b : data) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 15]);
    }
    return out;
}

std::string describe(const dns::Answer& a, std::vector<std::string> records, Clock::time_point start) {
    std::sort(records.begin(), records.end());
    std::string joined;
    for (const auto& r : records) joined += (joined.empty() ? "" : ", ") + r;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    return std::string(dns::to_string(a.status)) + " [" + joined + "] security=" + dns::to_string(a.security) +
           (a.canonical.empty() ? std::string() : " cname=" + a.canonical) + " ms=" + std::to_string(ms) + " why=" + a.why;
}

// `resolver` is used only to start the query: the resolver may be destroyed while it runs.
asio::awaitable<void> ask(dns::Resolver* resolver, Query& q, Clock::time_point start) {
    std::vector<std::string> records;
    std::string head = q.type + " " + q.name + " ";
    if (q.type == "mx") {
        dns::MxAnswer a = co_await resolver->mx(q.name);
        for (const auto& r : a.records)
            records.push_back(std::to_string(r.preference) + " " + (r.host.empty() ? "." : r.host));
        q.line = head + describe(a, records, start);
    } else if (q.type == "a" || q.type == "aaaa") {
        // Two statements, not `co_await (c ? x : y)`: GCC 12 destroys the unevaluated
        // branch's awaitable temporary inside coroutines.
        dns::AddressAnswer a;
        if (q.type == "a") a = co_await resolver->a(q.name);
        else a = co_await resolver->aaaa(q.name);
        for (const auto& r : a.addresses) records.push_back(r.to_string());
        q.line = head + describe(a, records, start);
    } else if (q.type == "txt") {
        dns::TxtRecords a = co_await resolver->txt(q.name);
        for (const auto& r : a.records) records.push_back("\"" + r + "\"");
        q.line = head + describe(a, records, start);
    } else {
        dns::TlsaAnswer a = co_await resolver->tlsa(q.name);
        for (const auto& r : a.records)
            records.push_back(std::to_string(r.usage) + " " + std::to_string(r.selector) + " " +
                              std::to_string(r.matching) + " " + hex(r.data));
        q.line = head + describe(a, records, start);
    }
}

}  // namespace

int main(int argc, char** argv) {
    config::DnsConfig cfg;
    long shutdown_after_ms = -1;
    std::vector<Query> queries;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) std::exit(usage(arg + " needs a value"));
            return argv[++i];
        };
        if (arg == "--forwarder") {
            const std::string f = value();
            const auto at = f.rfind('@');
            if (at == std::string::npos) return usage("--forwarder is IP@PORT");
            cfg.forwarders.push_back({f.substr(0, at), static_cast<std::uint16_t>(std::stoi(f.substr(at + 1)))});
        } else if (arg == "--trust-anchor") {
            cfg.dnssec = true;
            cfg.trust_anchor_file = value();
        } else if (arg == "--timeout") {
            cfg.timeout = std::chrono::seconds(std::stol(value()));
        } else if (arg == "--shutdown-after-ms") {
            shutdown_after_ms = std::stol(value());
        } else {
            const auto colon = arg.find(':');
            if (colon == std::string::npos) return usage("a query is TYPE:NAME, not " + arg);
            Query q{arg.substr(0, colon), arg.substr(colon + 1), {}};
            if (q.type != "mx" && q.type != "a" && q.type != "aaaa" && q.type != "txt" && q.type != "tlsa")
                return usage("unknown query type " + q.type);
            queries.push_back(std::move(q));
        }
    }
    if (cfg.forwarders.empty()) return usage("give at least one --forwarder (tests never use the system resolver)");

    asio::io_context io;
    std::shared_ptr<dns::Resolver> resolver;
    try {
        resolver = dns::make_unbound_resolver(io.get_executor(), cfg);
    } catch (const std::exception& e) {
        std::cerr << "dns_query: " << e.what() << "\n";
        return 1;
    }
    const auto start = Clock::now();
    int failures = 0;
    for (auto& q : queries)
        asio::co_spawn(io, ask(resolver.get(), q, start), [&](std::exception_ptr e) {
            if (!e) return;
            ++failures;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                std::cerr << "dns_query: " << q.type << ":" << q.name << " threw: " << ex.what() << "\n";
            }
        });
    asio::steady_timer shutdown(io);
    if (shutdown_after_ms >= 0) {
        shutdown.expires_after(std::chrono::milliseconds(shutdown_after_ms));
        shutdown.async_wait([&](const boost::system::error_code&) { resolver.reset(); });
    }
    io.run();
    for (const auto& q : queries) {
        if (q.line.empty()) {
            std::cout << q.type << " " << q.name << " UNANSWERED\n";
            ++failures;
        } else {
            std::cout << q.line << "\n";
        }
    }
    return failures == 0 ? 0 : 1;
}
