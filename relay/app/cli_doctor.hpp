// relay/app/cli_doctor.hpp — `signpost doctor`.
#pragma once

namespace CLI {
class App;
}

namespace signpost::app {

void add_doctor_command(CLI::App& app, int& exit_code);

}  // namespace signpost::app
