// tests/integration/delivery/smarthost_deliver.cpp — a test-only driver: delivers one
// message file through SmarthostDeliverer and prints one line per recipient, so scenario
// scripts can check delivery against real servers without the whole daemon.
//
//   smarthost_deliver --host H --port P [--tls starttls|implicit] [--ca FILE]
//                     [--credentials FILE] --from ADDR --rcpt ADDR [--rcpt ADDR ...]
//                     --message FILE [--size N] [--prepend FILE] [--queue-id ID]
//                     [--timeout-ms N] [--smtputf8] [--8bit]
//
// Output, one line per recipient:
//   RESULT <address> <delivered|temporary|permanent> <code> <enhanced|-> tls=<..> remote=<..> text=<...>
// Exit status 0 when every recipient has a result (whatever it is), 2 on usage errors.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "relay/delivery/smarthost.hpp"

namespace {

using namespace signpost;

int usage(const std::string& why) {
    std::cerr << "smarthost_deliver: " << why << "\n";
    return 2;
}

std::string outcome_name(delivery::Outcome o) {
    switch (o) {
    case delivery::Outcome::delivered: return "delivered";
    case delivery::Outcome::temporary: return "temporary";
    case delivery::Outcome::permanent: return "permanent";
    }
    return "?";
}

}  // namespace

int main(int argc, char** argv) {
    config::DeliveryConfig cfg;
    cfg.mode = config::DeliveryMode::smarthost;
    config::Endpoint endpoint;
    delivery::Job job;
    job.queue_id = "T1";
    std::optional<std::uint64_t> size;
    std::string prepend_file;
    long timeout_ms = 10000;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::exit(usage(a + " needs a value"));
            }
            return argv[++i];
        };
        if (a == "--host") endpoint.host = value();
        else if (a == "--port") endpoint.port = static_cast<std::uint16_t>(std::stoi(value()));
        else if (a == "--tls") {
            const std::string t = value();
            if (t == "starttls") cfg.smarthost_tls = config::TlsMode::starttls;
            else if (t == "implicit") cfg.smarthost_tls = config::TlsMode::implicit;
            else return usage("--tls is starttls or implicit");
        } else if (a == "--ca") cfg.extra_ca_file = value();
        else if (a == "--credentials") cfg.smarthost_credentials_file = value();
        else if (a == "--from") job.mail_from = value();
        else if (a == "--rcpt") job.recipients.push_back(value());
        else if (a == "--message") job.message_file = value();
        else if (a == "--size") size = std::stoull(value());
        else if (a == "--prepend") prepend_file = value();
        else if (a == "--queue-id") job.queue_id = value();
        else if (a == "--timeout-ms") timeout_ms = std::stol(value());
        else if (a == "--smtputf8") job.smtputf8 = true;
        else if (a == "--8bit") job.body_8bit = true;
        else return usage("unknown option " + a);
    }
    if (endpoint.host.empty() || endpoint.port == 0) return usage("--host and --port are required");
    if (job.recipients.empty() || job.message_file.empty()) return usage("--rcpt and --message are required");
    cfg.smarthost = endpoint;
    std::error_code ec;
    job.size = size ? *size : std::filesystem::file_size(job.message_file, ec);
    if (ec) return usage("cannot stat " + job.message_file.string() + ": " + ec.message());
    if (!prepend_file.empty()) {
        std::ifstream in(prepend_file, std::ios::binary);
        std::ostringstream s;
        s << in.rdbuf();
        job.prepend = s.str();
    }

    delivery::SessionTimeouts timeouts;
    const auto t = std::chrono::milliseconds(timeout_ms);
    timeouts.connect = timeouts.tls_handshake = timeouts.greeting = timeouts.command = timeouts.mail = timeouts.rcpt =
        timeouts.data_init = timeouts.data_block = timeouts.data_end = timeouts.quit = t;

    boost::asio::io_context io;
    auto logger = log::make_root(config::LogFormat::text, config::LogLevel::debug);
    std::optional<std::vector<delivery::RecipientResult>> results;
    try {
        delivery::SmarthostDeliverer deliverer(cfg, "relay.signpost.test", io.get_executor(), logger, 20, timeouts);
        deliverer.deliver(job, [&](std::vector<delivery::RecipientResult> r) {
            results = std::move(r);
            // Done: QUIT the connection the pool keeps for reuse, so that io.run ends now
            // rather than when the pool's idle timeout (30 s) expires.
            boost::asio::post(io, [&deliverer] { deliverer.stop(); });
        });
        io.run_for(std::chrono::seconds(120));
    } catch (const std::runtime_error& e) {
        std::cerr << "smarthost_deliver: " << e.what() << "\n";
        return 1;
    }
    if (!results) {
        std::cerr << "smarthost_deliver: no result within 120 s\n";
        return 1;
    }
    for (const auto& r : *results) {
        std::cout << "RESULT " << r.address << " " << outcome_name(r.outcome) << " " << r.code << " "
                  << (r.enhanced.empty() ? "-" : r.enhanced) << " tls=" << (r.tls.empty() ? "none" : r.tls)
                  << " remote=" << (r.remote_host.empty() ? "-" : r.remote_host) << " text=" << r.text << "\n";
    }
    return results->size() == job.recipients.size() ? 0 : 1;
}
