// relay/auth/users.hpp — the users file: who may submit mail and as which senders.
//
// Format (one user per line, '#' starts a comment line, blank lines ignored):
//
//     name:$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>:example.com,alice@example.org
//
// The three fields are separated by ':' (neither a name nor an argon2id PHC string holds
// one). The allow list is comma-separated: a bare domain grants every address at that
// domain, `local@domain` grants one address. Names are 1..64 characters of
// [A-Za-z0-9._@+-]. Passwords are stored only as argon2id hashes (RFC 9106), created with
// Botan; verification takes ~20 ms of CPU and must run off the I/O threads.
//
// Untrusted input: the file text (operator-written) and, in verify_password, the password
// a client sent. Parsing never throws; errors name the line.
// Threading: UsersFile is an immutable value once parsed; functions are reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace signpost::auth {

struct User {
    std::string name;
    std::string password_hash;       // argon2id PHC string
    std::vector<std::string> allow;  // lower-cased domains or addresses
};

struct UsersFileError {
    std::uint32_t line = 0;
    std::string message;
};

struct UsersFile {
    std::vector<User> users;

    const User* find(std::string_view name) const;
    // The file's text, one line per user, in the format above.
    std::string serialize() const;
};

// One user's line in the format above, without the newline.
std::string format_user_line(const User& user);

struct ParsedUsers {
    UsersFile file;
    std::vector<UsersFileError> errors;
};

ParsedUsers parse_users(std::string_view text);

// Whether `user` may use `address` (local@domain) as a sender; case-insensitive.
bool may_send_as(const User& user, std::string_view address);

bool valid_user_name(std::string_view name);

// Whether `entry` may stand in an allow list: a domain ("example.com") or an address
// ("alice@example.org") with a plain domain part (letters, digits, '-', '.').
bool valid_sender_grant(std::string_view entry);

// argon2id with m = 19 MiB, t = 2, p = 1 and a random 16-byte salt.
std::string hash_password(std::string_view password);
bool verify_password(std::string_view password, const std::string& hash);

// A random password of `length` characters from an unambiguous alphabet, for
// `users add` without a password and for `init --dev`.
std::string generate_password(std::size_t length = 24);

}  // namespace signpost::auth
