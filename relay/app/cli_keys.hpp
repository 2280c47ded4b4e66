// relay/app/cli_keys.hpp — `signpost keys ...`: DKIM key management from the shell.
//
//   keys generate --domain D [--algorithm A] [--selector S]   a pending key + its record
//   keys list                                  every key: state, age, DNS status
//   keys dns [--domain D]                      records to publish, keep, or remove
//   keys rotate --domain D [--algorithm A] [--now]
//   keys activate --domain D [--selector S] [--now]
//   keys import --domain D --selector S --key FILE [--now]
//
// Every command works while the daemon runs: changes go through keys/store under the
// domain's lock, and the daemon re-reads the store every [keys] check_interval or on
// SIGHUP. `--now` skips the DNS check after printing a warning.
#pragma once

namespace CLI {
class App;
}

namespace signpost::app {

void add_keys_commands(CLI::App& app, int& exit_code);

}  // namespace signpost::app
