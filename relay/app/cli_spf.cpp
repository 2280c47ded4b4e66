// placeholder
#include "relay/app/cli_spf.hpp"
#include <CLI/CLI.hpp>
namespace signpost::app {
void add_spf_command(CLI::App&, int&) {}
}
