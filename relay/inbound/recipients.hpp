// relay/inbound/recipients.hpp — which recipients the MX listener accepts.
//
// What it does: from the [[inbound]] entries, answers for one RCPT address whether it is
// accepted (its domain is an [[inbound]] domain and the entry takes that address), an
// unknown user at one of our domains, or a domain we are not the MX for. The MX listener
// turns the last two into 550 at RCPT time: a message is never accepted for someone it
// cannot reach and then bounced (no backscatter).
//
// Matching: the domain exactly, case-insensitively. The local part case-insensitively too
// (as every common MTA does in practice, though RFC 5321 §2.4 lets the receiver decide),
// and with sub-addressing: "alice+lists@example.org" is accepted when "alice" is. A listed
// entry is a local part ("alice") or a whole address ("alice@example.org", the entry's
// domain). recipients_file holds the same, one per line; '#' starts a comment.
//
// The directory is built once per configuration (at start and on reload): load() reads
// the recipients files, so it is the only part that touches the disk.
//
// Untrusted input: the RCPT address (already parsed by relay/smtp); the files are the
// operator's. Threading: an immutable directory may be shared by every session.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace signpost::inbound {

enum class RecipientVerdict {
    accepted,
    unknown_user,    // one of our [[inbound]] domains, but not an address it takes
    foreign_domain,  // not a domain we receive mail for: relaying is refused
};

class RecipientDirectory {
public:
    // Reads every entry's recipients_file. On failure returns null with `error` naming the
    // file, the line and what is wrong.
    static std::shared_ptr<const RecipientDirectory> load(const config::Config& config, std::string& error);
    // From entries alone (recipients_file ignored); for tests and configs without files.
    explicit RecipientDirectory(const std::vector<config::InboundConfig>& entries);

    RecipientVerdict check(std::string_view address) const;
    // The [[inbound]] domain of an accepted or unknown_user address ("" for a foreign one).
    std::string domain_of(std::string_view address) const;

    // Adds the entries of a recipients file's text for `domain` (exposed for tests);
    // returns "" or the first problem as "N: ..." with N its line number (load() puts the
    // file's path and a colon before it: "path:N: ...").
    std::string add_file_text(const std::string& domain, std::string_view text);

private:
    struct Domain {
        bool any = false;
        std::set<std::string> locals;  // lower-case local parts
    };
    bool add_entry(Domain& d, const std::string& domain, std::string_view entry);
    const Domain* find(std::string_view domain) const;

    std::vector<std::pair<std::string, Domain>> domains_;
};

}  // namespace signpost::inbound
