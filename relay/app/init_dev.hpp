// relay/app/init_dev.hpp — `signpost init --dev DIR`: a ready development setup.
//
// Writes into DIR: signpost.toml (listeners 127.0.0.1:2587 STARTTLS and 127.0.0.1:2465
// implicit TLS, metrics 127.0.0.1:9587, delivery mode "capture" into DIR/outbox), a
// self-signed TLS certificate for localhost/127.0.0.1, an active Ed25519 and RSA-2048 DKIM
// key for example.test, and a users file with user "dev" allowed to send as any address at
// example.test, whose random password is written to DIR/dev-password (mode 0600).
// Nothing in it needs DNS or the internet. Refuses to overwrite an existing setup.
#pragma once

#include <filesystem>
#include <ostream>

namespace signpost::app {

// Returns the process exit code; progress goes to `out`, errors to `err`.
int init_dev(const std::filesystem::path& dir, std::ostream& out, std::ostream& err);

}  // namespace signpost::app
