// dsn_sample DIR — writes DIR/failure.eml (two failed recipients) and DIR/delay.eml (a
// delay warning whose diagnostics are UTF-8 and 2000 characters long), built by
// relay/queue/dsn, for the t60 scenario to parse with other implementations.
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>

#include "relay/queue/dsn.hpp"

using namespace signpost::queue;
using namespace std::chrono_literals;

namespace {

DsnInput base(DsnKind kind) {
    DsnInput in;
    in.reporting_host = "relay.example.net";
    in.queue_id = "00HOFGO6F3U700NNAOVB";
    in.envelope_sender = "alice@example.test";
    in.arrival = std::chrono::system_clock::time_point(std::chrono::seconds(1795437654));
    in.now = in.arrival + 4h;
    in.kind = kind;
    in.retry_until = in.arrival + 120h;
    in.original_headers =
        "Received: from nas.home (unknown [192.0.2.7])\r\n\tby relay.example.net; Mon, 23 Nov "
        "2026 12:40:54 +0000\r\nFrom: Alice <alice@example.test>\r\nTo: bob@example.org, "
        "carol@example.com\r\nSubject: quarterly report\r\nMessage-ID: <1@example.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
    return in;
}

bool write(const std::string& path, const std::optional<std::string>& m) {
    if (!m) {
        std::cerr << "dsn_sample: no DSN built for " << path << "\n";
        return false;
    }
    std::ofstream f(path, std::ios::binary);
    f << *m;
    return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: dsn_sample DIR\n";
        return 2;
    }
    const std::string dir = argv[1];

    DsnInput fail = base(DsnKind::failure);
    fail.recipients.push_back({"bob@example.org", "5.1.1", "mx.example.org",
                               "550 5.1.1 <bob@example.org>: Recipient address rejected: User "
                               "unknown in virtual mailbox table",
                               fail.arrival + 1min});
    fail.recipients.push_back({"carol@example.com", "5.4.4", std::nullopt, "",
                               fail.arrival + 2min});

    DsnInput delay = base(DsnKind::delay);
    delay.recipients.push_back({"dave@example.org", "4.7.1", "mx1.example.org",
                                "451 4.7.1 Gr\xc3\xbc\xc3\x9f" "e aus M\xc3\xbcnchen \xe2\x80\x94 "
                                "greylisted, bitte sp\xc3\xa4ter \xf0\x9f\x93\xa8",
                                delay.arrival + 3h});
    delay.recipients.push_back({"erin@example.net", "4.4.2", "mx2.example.net",
                                "421 " + std::string(2000, 'x'), delay.arrival + 3h + 30min});

    const bool ok = write(dir + "/failure.eml", build_dsn(fail)) &&
                    write(dir + "/delay.eml", build_dsn(delay));
    return ok ? 0 : 1;
}
