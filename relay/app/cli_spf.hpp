// relay/app/cli_spf.hpp — `signpost spf`.
#pragma once

namespace CLI {
class App;
}

namespace signpost::app {

void add_spf_command(CLI::App& app, int& exit_code);

}  // namespace signpost::app
