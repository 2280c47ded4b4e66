// relay/queue/control.hpp — `signpost queue ...` while the daemon runs, and when it does not.
//
// Mechanism: the daemon holds an exclusive flock(2) on `<queue.dir>/lock` for as long as it
// runs (a second daemon on the same spool refuses to start) and listens on the Unix socket
// `<queue.dir>/control.sock` (mode 0600: the daemon's user and root). The CLI sends one line,
// "<command> [<id>] [json]\n", and reads the answer until the daemon closes the connection:
// a first line "ok" or "error <text>", then the output. Every change goes through the
// Manager's strand, so it never races a delivery in progress, and is answered once it is on
// disk.
//
// When nobody listens on the socket, the CLI takes the lock itself (so a daemon cannot start
// meanwhile) and works on the files directly: list/show read them; hold, release, flush,
// delete and bounce edit the message's state file, and the daemon acts on it at its next
// start (a bounced message's DSN is queued then). When the socket does not answer but the
// lock is held, the CLI reports that and changes nothing.
//
// Commands: list, show ID, flush [ID], delete ID, hold ID, release ID, bounce ID.
//
// Untrusted input: lines read from the socket (only the daemon's user can connect; still
// bounded to 1 KiB, ids checked with Spool::valid_id, 10 s to send it).
// Threading: ControlServer runs on the io_context it is given.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "relay/log/log.hpp"
#include "relay/queue/manager.hpp"
#include "relay/queue/spool.hpp"

namespace signpost::queue {

// ---- presentation (pure) ----

// "queued" (never tried), "deferred", "active" (in flight), "held", "done" (all final).
std::string message_state(const Envelope& e, bool in_flight);
// The earliest next attempt of a pending recipient (nullopt when held or none pending).
std::optional<Clock::time_point> message_next_attempt(const Envelope& e);
std::string render_list(const std::vector<Envelope>& messages, const std::set<std::string>& in_flight,
                        Clock::time_point now, bool json);
std::string render_show(const Envelope& e, const std::string& headers, bool in_flight, Clock::time_point now);

// ---- the request line ----

struct ControlRequest {
    std::string command;          // list, show, flush, delete, hold, release, bounce
    std::optional<std::string> id;
    bool json = false;
};
// nullopt with `error` set for anything else.
std::optional<ControlRequest> parse_control_line(std::string_view line, std::string& error);
std::string format_control_line(const ControlRequest& r);

// ---- the daemon side ----

class ControlServer {
public:
    ControlServer(boost::asio::io_context& io, std::filesystem::path socket_path, std::shared_ptr<Manager> manager,
                  std::shared_ptr<Spool> spool, log::Logger logger);
    ~ControlServer();
    // Binds the socket (replacing a stale one); throws std::runtime_error naming the path.
    void start();
    void stop();

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

// The exclusive lock on <dir>/lock.
class SpoolLock {
public:
    // nullopt when another process holds it (`error` says so) or it cannot be created.
    static std::optional<SpoolLock> acquire(const std::filesystem::path& dir, std::string& error);
    SpoolLock(SpoolLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    SpoolLock& operator=(SpoolLock&&) = delete;
    ~SpoolLock();

private:
    explicit SpoolLock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

// ---- the CLI side ----

struct ControlAnswer {
    bool reached = false;  // false: no daemon listens on the socket
    bool ok = false;
    std::string text;      // the output, or the error text
};
ControlAnswer send_control(const std::filesystem::path& socket_path, const ControlRequest& r,
                           std::chrono::seconds timeout = std::chrono::seconds(30));

// Runs a request on the spool files directly (the daemon is not running; the caller holds
// the SpoolLock).
ControlAnswer run_offline(Spool& spool, const ControlRequest& r, Clock::time_point now);

}  // namespace signpost::queue
