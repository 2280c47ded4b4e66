// relay/app/cli_users.hpp — `signpost users ...`: the users file from the shell.
//
//   users add NAME --allow example.com,alice@example.org   new user; password from stdin
//                                                           or generated and printed once
//   users passwd NAME                                       new password (stdin or generated)
//   users allow NAME --allow ...                            replace the allowed senders
//   users remove NAME
//   users list                                              names and allowed senders
//   users check NAME                                        password from stdin (or asked
//                                                           for on a terminal); exit 0 if it
//                                                           is NAME's, 1 if not
//
// Every command takes --config F (default /etc/signpost/signpost.toml) and edits the file
// that [auth] users_file names. A password comes from the first line of stdin when stdin is
// not a terminal; on a terminal a random one is generated and printed once. Passwords are
// stored only as argon2id hashes and never printed by list.
//
// Edits are read-modify-write under an flock on "<users_file>.lock", so concurrent
// commands do not lose each other's changes, and are written atomically (temp file, fsync,
// rename) with mode 0600, keeping the file's owner when run as root. Comments, blank lines
// and the order of the other users are preserved. A file with malformed lines is not
// edited (the edit would drop them); the errors are printed with their line numbers.
// A running daemon sees the new file by its changed stat() and reloads it; no restart.
//
// Exit status: 0 on success, 1 on any error (unknown or existing name, bad --allow entry,
// unreadable config or users file), with the reason on stderr.
#pragma once

namespace CLI {
class App;
}

namespace signpost::app {

void add_users_commands(CLI::App& app, int& exit_code);

}  // namespace signpost::app
