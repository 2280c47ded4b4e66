// relay/app/cli_doctor.hpp — `signpost doctor [--domain D]... [--json] [--offline] --config F`:
// checks what receivers check before they accept mail from each configured sending domain
// (DKIM, SPF, DMARC records; MX, MTA-STS, TLS-RPT and DNSSEC as advice) and what the relay
// host needs (FCrDNS, certificate, outbound port 25 or the smarthost), with the exact fix for
// every warning and failure (relay/doctor). Read-only: it changes nothing and sends no mail.
// Exit status 0 when no check fails, 1 otherwise (or when it cannot run).
#pragma once

namespace CLI {
class App;
}

namespace signpost::app {

void add_doctor_command(CLI::App& app, int& exit_code);

}  // namespace signpost::app
