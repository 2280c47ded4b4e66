// relay/app/cli_tls_report.hpp — `signpost tls-report`: what the TLS reports ([tls_rpt],
// RFC 8460) hold, read from their files without the daemon.
//   signpost tls-report show [--day YYYY-MM-DD] [--domain D]   the report JSON per policy
//                                  domain for that UTC day (default today), as it would be
//                                  sent (report-id "preview"), and which were sent already
//   signpost tls-report days       the days on disk, with their domains and sent state
#pragma once

namespace CLI {
class App;
}

namespace signpost::app {

void add_tls_report_command(CLI::App& app, int& exit_code);

}  // namespace signpost::app
