// relay/app/cli_explain.hpp — `signpost explain DOMAIN --config F`: the MX hosts of DOMAIN
// in the order delivery would try them, the MTA-STS policy held for it (mode, id, max_age,
// age, cached or fetched) and the TLS requirement for each MX host and why. It resolves and
// may fetch the policy (and so refresh the cache) but never connects to an MX host.
#pragma once

namespace CLI {
class App;
}

namespace signpost::app {

void add_explain_command(CLI::App& app, int& exit_code);

}  // namespace signpost::app
