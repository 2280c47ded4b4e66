// relay/app/cli_queue.hpp — `signpost queue ...`: look into the spool.
//
//   queue list [--json]     committed messages: id, age, sender, recipients, size
//   queue cat ID            the message exactly as it will be delivered (the stored
//                           DKIM-Signature, Received and fix-up fields, then the message)
// Read-only: safe while the daemon runs.
#pragma once

namespace CLI {
class App;
}

namespace signpost::app {

void add_queue_commands(CLI::App& app, int& exit_code);

}  // namespace signpost::app
