// relay/app/cli_mta_sts.hpp — `signpost mta-sts policy DOMAIN`.
#pragma once

namespace CLI {
class App;
}

namespace signpost::app {

void add_mta_sts_command(CLI::App& app, int& exit_code);

}  // namespace signpost::app
