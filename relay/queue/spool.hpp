// relay/queue/spool.hpp — the durable spool that accepted messages are committed to.
//
// Submission hands each message to the spool and answers "250 queued" only after commit()
// returned: the message file (bytes and envelope) and its directory entry are on disk (for a
// message written into a free file, the entry was made durable when the file was freed).
//
// Layout under `[queue] dir`:
//     queue/<id>            a committed message: the message bytes, then its envelope as
//                           written at commit, then a fixed-size trailer locating the
//                           envelope. Or a free file: one that held a delivered message and
//                           is kept for the next one (at most kMaxSpareFiles files of at most
//                           kMaxSpareSize, kMaxSpareBytes in all, none while low_on_space();
//                           others are removed). Its last octets tell which (below).
//     queue/<id>.state      the envelope as it is now (per-recipient state, attempts, last
//                           replies, held), once it changed after commit; replaced
//                           atomically (tmp/ -> fsync -> rename -> fsync queue/)
//     spare/<id>            a message being written into a new file (no free file was left),
//                           renamed into queue/ at commit; everything here at start-up was
//                           never committed and is removed
//     tmp/<id>.state        a state being saved (removed at start-up)
//     corrupt/              damaged messages moved aside at recovery (never deleted by us)
// open() makes the spool directory and these four mode 0700, and every file is 0600: no
// other local user can list or read queued mail.
//
// Two ways to commit, one fsync-class wait each:
//   - In place (the usual case once messages have been delivered): begin() hands out a free
//     file; its name is the new message's queue id (given when the file was freed, so an id
//     is never used twice and ids of such messages are older than their arrival: recovery
//     orders messages by arrival). The message bytes and the envelope are written from offset
//     0, the slot trailer at the end of the file (what lies between is left over and never
//     read; a message longer than the file grows it first, writing a free marker at the new
//     end), then one fdatasync. Name, size and inode stay the same, so the commit waits for
//     the data only: no journal commit, no directory fsync.
//   - A new file (no free file left, or at start): written to spare/, fsynced by its session
//     (concurrent sessions' fsyncs run at once and share journal commits), then handed to the
//     Spool's committer, which works in batches: rename every file of the batch into queue/,
//     fsync queue/ once, and only then let each commit() of the batch return (group commit).
//     Batches form by leader/follower: a waiting commit() that finds no batch running runs
//     one for everyone queued; commits arriving meanwhile queue for the next. A failing
//     write/fsync/rename fails (and undoes) that message only; a failing fsync of queue/
//     fails and undoes the whole batch. SpoolOptions{.group_commit = false} gives every
//     commit() its own fsync of queue/, for comparison.
//
// Trailers (the last octets of every file in queue/), one line of fixed length, numbers as 16
// hex digits:
//     "signpost-trailer <offset> <length> <fnv1a64>\n"           a new file's message; the
//                           envelope is `length` octets at `offset`, the file ends right after it
//     "signpost-commit <offset> <length> <fnv1a64> <data>\n"     a message written in place;
//                           <data> is a hash of the message bytes [0, offset), checked at recovery
//     "signpost-free   " + four fields of zeros + "\n"           a free file
// <data> is computed as: h = 0x243f6a8885a308d3; for each whole 8-octet word w of the
// message bytes (little-endian): h = (h ^ w) * 0x9e3779b97f4a7c15 mod 2^64, h ^= h >> 29;
// then with t = the 0-7 octets left (little-endian, zero-padded) and n = the octet count:
// h = (h ^ t ^ n) * 0x9e3779b97f4a7c15 mod 2^64; <data> = h ^ (h >> 32).
// A file written in place whose trailer is torn from its bytes (a power loss during the
// write; never acknowledged) fails the data check and goes to corrupt/. A file whose slot
// trailer names another queue id held that message, which was removed (the file was renamed
// for reuse before its free marker reached the disk): free. Any other trailer or envelope
// that does not check out is damage, and recovery moves the file to corrupt/.
//
// Removing a message (delivered, bounced, deleted): a small file gets the free marker and a
// new name (a fresh queue id) in queue/, a large one is unlinked; its .state is unlinked;
// then queue/ is fsynced, so a power loss after a delivery does not bring the message back to
// be delivered again; only then may the file be reused. Removals running at the same time
// share one fsync of queue/ (leader/follower), which keeps the delivery rate. list() leaves
// free files out (the Spool knows them after recover(); a Spool that did not recover, as the
// CLI's on the files, reads each file's end).
//
// Envelope text: "signpost-envelope 1\n", then records "<name> <length>\n<bytes>\n", then
// "end\n" (length-prefixed records carry header text with CRLFs exactly). Recipient records
// ("rcpt") are followed by that recipient's state records ("rstate", "rreply", "rhost").
// Unknown records are skipped, so later versions may add some.
//
// Queue ids: 20 characters [0-9A-Z], sortable by arrival time (microseconds, then a
// process-wide counter), safe as file names.
//
// Disk space: begin() refuses (ENOSPC) while the filesystem has less than
// SpoolOptions::min_free_space bytes available, so new mail is turned away (452 4.3.1)
// before the disk is full and what is queued can still be updated and delivered.
// Submission asks low_on_space() at MAIL already, so a client is not made to send a body
// that will be refused.
//
// Untrusted input: message bytes (stored, never interpreted here), and at recovery the
// files themselves (a damaged file is refused by length checks and the checksum).
// Threading: Spool is thread-safe for different ids; an IncomingMessage belongs to one
// session. commit(), save_state(), remove() block on the disk: call them off I/O threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace signpost::queue {

enum class RcptState {
    pending,    // to be tried (again) at next_attempt
    delivered,  // accepted by the next hop
    failed,     // permanently failed or expired: reported in a failure DSN
};

// "pending", "delivered", "failed" (the envelope's rstate words, and what the CLI shows).
const char* to_string(RcptState s);

struct Recipient {
    std::string address;
    RcptState state = RcptState::pending;
    std::uint32_t attempts = 0;
    std::chrono::system_clock::time_point last_attempt{};
    std::chrono::system_clock::time_point next_attempt{};  // epoch = as soon as possible
    int reply_code = 0;        // last remote reply (0 = none)
    std::string enhanced;      // its RFC 3463 status, or ours
    std::string reply_text;    // one line, remote text or our description
    std::string remote_host;   // who answered, "" when nobody did
    bool reported = false;     // a failure DSN covering it was queued (or none is due)

    bool operator==(const Recipient&) const = default;
};

struct Envelope {
    std::string id;
    std::string mail_from;               // "" = null reverse-path (a DSN we generated)
    std::vector<Recipient> recipients;
    std::string user;                    // authenticated submitter ("" for our DSNs)
    std::string client;                  // client address, for logs
    std::string prepend;                 // header text written before the message at
                                         // delivery: DKIM-Signature(s), Received, fix-ups
    std::chrono::system_clock::time_point arrival{};
    std::uint64_t size = 0;              // message octets at the start of the file
    bool smtputf8 = false;
    bool body_8bit = false;
    bool requiretls = false;             // REQUIRETLS (RFC 8689): verified TLS to a REQUIRETLS hop
    bool tls_required_no = false;        // "TLS-Required: No" (RFC 8689 §5): policies may yield
    bool held = false;                   // `queue hold`: not delivered until released
    bool warned = false;                 // a delay DSN was sent
    // On a DSN we generated: the message it reports on, its kind ("failure" or "delay")
    // and the recipients it covers. Recovery marks them reported in that message
    // (apply_dsn_record), so a crash between the DSN's commit and the message's state
    // save never makes a second report for the same recipient.
    std::string dsn_of;
    std::string dsn_kind;
    std::vector<std::string> dsn_rcpts;

    // Convenience for callers that only have addresses.
    void set_recipients(const std::vector<std::string>& addresses);
    bool all_final() const;              // no recipient pending
};

std::string encode_envelope(const Envelope& e);
std::optional<Envelope> decode_envelope(std::string_view text);  // nullopt: damaged

// What a committed DSN says about `original` (dsn.dsn_of == original.id): its failure
// recipients become failed and reported, a delay DSN sets warned. Returns true when that
// changed `original` (its state was not saved after the DSN was committed).
bool apply_dsn_record(Envelope& original, const Envelope& dsn);

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
    bool group_commit = true;          // false: one fsync of queue/ per message (comparison)
    std::uint64_t min_free_space = 0;  // begin() refuses below this many free bytes
};

// What recovery found in queue/.
struct Recovered {
    std::vector<Envelope> messages;                           // oldest first
    std::vector<std::pair<std::string, std::string>> corrupt;  // id, why (moved to corrupt/)
    std::size_t orphans_removed = 0;                          // .state without a message
    std::size_t reconciled = 0;  // messages updated from a DSN committed before a crash
};

namespace detail {
class Committer;
class DirSyncer;
class SparePool;
}

// Free message files (in queue/, see above): at most this many are kept, each at most this
// large, and at most this many bytes in all (none while the disk is short of space).
inline constexpr std::size_t kMaxSpareFiles = 256;
inline constexpr std::uint64_t kMaxSpareSize = 256 * 1024;
inline constexpr std::uint64_t kMaxSpareBytes = 8 * 1024 * 1024;

class Spool {
public:
    explicit Spool(std::filesystem::path dir, SpoolOptions options = {});

    // Creates the directories and removes uncommitted temporaries. Returns an error naming
    // the directory when it cannot be used.
    std::error_code open(std::string& detail);

    // Reads every committed message; damaged ones are moved to corrupt/ and reported.
    Recovered recover();

    // A new message being received. Fails (ENOSPC, EACCES, ...) without leaving files.
    std::error_code begin(std::unique_ptr<IncomingMessage>& out);

    // Commits a complete message in one call (DSNs); sets envelope.id.
    std::error_code commit_message(Envelope& envelope, std::string_view bytes);

    // Committed messages, oldest first.
    std::vector<std::string> list() const;
    // The current envelope: the .state when there is one, else the one in the file.
    // nullopt with `why` set when missing or damaged.
    std::optional<Envelope> load(const std::string& id, std::string* why = nullptr) const;
    // Replaces the envelope's state durably.
    std::error_code save_state(const Envelope& e);
    // Removes a message (delivered, bounced, deleted). Missing is not an error.
    std::error_code remove(const std::string& id);
    // Removes several, with one fsync of queue/ for all; one result per id.
    std::vector<std::error_code> remove_all(std::span<const std::string> ids);
    // Moves a message (and its state) to corrupt/.
    std::error_code move_to_corrupt(const std::string& id);

    std::filesystem::path message_path(const std::string& id) const;
    // The message bytes (the first `size` octets), or nullopt.
    std::optional<std::string> read_message(const std::string& id) const;
    // The header section (up to and including the empty line, at most `limit` octets).
    std::optional<std::string> read_headers(const std::string& id, std::size_t limit = 256 * 1024) const;
    const std::filesystem::path& dir() const { return dir_; }

    // Free bytes on the spool's filesystem (for metrics and the health check).
    std::optional<std::uint64_t> free_space() const;
    // True while the free space is below SpoolOptions::min_free_space (begin() refuses then).
    bool low_on_space() const;

    static std::string new_id();
    static bool valid_id(std::string_view id);

    // For tests and benchmarks: batches committed and fsyncs of queue/ done so far (by
    // commits; by removals).
    std::uint64_t batches() const;
    std::uint64_t dir_syncs() const;
    std::uint64_t removal_syncs() const;
    // Free files in queue/ ready for reuse.
    std::size_t spare_files() const;

private:
    std::optional<Envelope> load_checked(const std::string& id, bool check_data, std::string* why) const;

    std::filesystem::path dir_;
    SpoolOptions options_;
    bool recovered_ = false;  // recover() ran: the free files in queue/ are known
    std::shared_ptr<detail::Committer> committer_;
    std::shared_ptr<detail::DirSyncer> remover_;
    std::shared_ptr<detail::SparePool> spare_;
};

}  // namespace signpost::queue
