// relay/app/cli_dkim.hpp — `signpost dkim sign` and `signpost dkim verify`.
//
//   signpost dkim sign --domain D --selector S --key FILE [--selector S2 --key FILE2]
//                      [--timestamp T] [--headers a:b:c] [--canon relaxed/relaxed]
//                      [--expire DURATION]      < message > signed-message
//   signpost dkim verify (--record-dir DIR | --dns [--dns-server IP@PORT ...])
//                                              < message
//
// Keys are PEM PKCS#8 files (RSA or Ed25519) or an Ed25519 seed as base64 of its 32 raw
// bytes. Several --selector/--key pairs sign the message once per pair (dual signing).
// A message whose lines end in bare LF (a file saved on Unix) is signed as if its lines
// ended in CRLF, as it will travel, and written back with LF endings.
// verify prints one line per signature and exits 1 unless there is at least one and all pass.
#pragma once

namespace CLI {
class App;
}

namespace signpost::app {

void add_dkim_commands(CLI::App& app, int& exit_code);

}  // namespace signpost::app
