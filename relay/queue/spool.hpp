// relay/queue/spool.hpp — the durable spool that accepted messages are committed to.
//
// Submission hands each message to the spool and answers "250 queued" only after commit()
// returned: the message bytes, its envelope and the directory entries are on disk (fsync).
//
// Layout under `[queue] dir`:
//     tmp/<id>.msg, tmp/<id>.env   being written (removed at start-up: never committed)
//     queue/<id>.msg               the message as received (after DATA/BDAT, unstuffed)
//     queue/<id>.env               its envelope; its presence is the commit
// commit(): flush and fsync the .msg, write and fsync the .env in tmp/ (each session does
// this itself, so concurrent sessions' fsyncs run at once and share filesystem journal
// commits), then hand the pair to the Spool's committer. The committer works in batches:
// rename every .msg then every .env of the batch into queue/, fsync queue/ once, and only
// then let each commit() of the batch return (group commit). Batches form by leader/follower:
// a waiting commit() that finds no batch running runs one for everyone queued; commits
// arriving meanwhile queue up for the next one. A failing fsync/rename fails (and undoes)
// that message only; a failing fsync of queue/ fails and undoes the whole batch: commit()
// returns an error with nothing committed. SpoolOptions{.group_commit = false} gives every
// commit() its own fsync of queue/ (one batch per message), for comparison. A crash at any
// point leaves either no .env (not committed, not acknowledged) or a complete pair; a .msg
// without its .env in queue/ is removed at start-up.
//
// Envelope file: "signpost-envelope 1\n", then records "<name> <length>\n<bytes>\n", then
// "end\n". Length-prefixed records carry header text with CRLFs exactly; a file without
// its end record is torn and is never delivered.
//
// Queue ids: 20 characters [0-9A-Z], sortable by arrival time (microseconds, then a
// process-wide counter), safe as file names.
//
// Untrusted input: message bytes (stored, never interpreted here).
// Threading: Spool is thread-safe; an IncomingMessage belongs to one session. commit()
// blocks on fsync (its own batch, or the one in progress plus its own): call it off the
// I/O threads, from several threads at once for batches to form.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace signpost::queue {

struct Envelope {
    std::string id;
    std::string mail_from;               // "" = null reverse-path
    std::vector<std::string> rcpt_to;
    std::string user;                    // authenticated submitter
    std::string client;                  // client address, for logs
    std::string prepend;                 // header text written before the message at
                                         // delivery: DKIM-Signature(s), Received, fix-ups
    std::chrono::system_clock::time_point arrival{};
    std::uint64_t size = 0;              // message octets in the .msg file
    bool smtputf8 = false;
    bool body_8bit = false;
};

std::string encode_envelope(const Envelope& e);
std::optional<Envelope> decode_envelope(std::string_view text);  // nullopt: damaged

class IncomingMessage {
public:
    virtual ~IncomingMessage() = default;
    virtual std::error_code write(std::string_view bytes) = 0;
    // Makes the message durable; after success the envelope's id is queued.
    virtual std::error_code commit(Envelope& envelope) = 0;
    virtual void abort() = 0;  // removes what was written
    virtual const std::string& id() const = 0;
};

struct SpoolOptions {
    bool group_commit = true;  // false: one fsync of queue/ per message (for comparison)
};

namespace detail {
class Committer;
}

class Spool {
public:
    explicit Spool(std::filesystem::path dir, SpoolOptions options = {});

    // Creates the directories and removes uncommitted temporaries. Returns an error naming
    // the directory when it cannot be used.
    std::error_code open(std::string& detail);

    // A new message being received. Fails (ENOSPC, EACCES, ...) without leaving files.
    std::error_code begin(std::unique_ptr<IncomingMessage>& out);

    // Committed messages, oldest first.
    std::vector<std::string> list() const;
    std::optional<Envelope> read_envelope(const std::string& id) const;
    std::filesystem::path message_path(const std::string& id) const;
    const std::filesystem::path& dir() const { return dir_; }

    static std::string new_id();

    // For tests and benchmarks: batches committed and fsyncs of queue/ done so far.
    std::uint64_t batches() const;
    std::uint64_t dir_syncs() const;

private:
    std::filesystem::path dir_;
    std::shared_ptr<detail::Committer> committer_;
};

}  // namespace signpost::queue
