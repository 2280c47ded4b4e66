// relay/app/serve.hpp — `signpost serve`: the daemon's wiring.
//
// Loads the configuration, sets up logging, starts the services the configuration names,
// and runs the io_context until SIGTERM or SIGINT, then stops cleanly (exit 0).
#pragma once

#include <filesystem>

namespace signpost::app {

int serve(const std::filesystem::path& config_path);

}  // namespace signpost::app
