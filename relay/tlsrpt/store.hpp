// relay/tlsrpt/store.hpp — the TLS-RPT counts on disk, so that a restart or a crash loses
// none (RFC 8460 reports cover whole days; the queue's durability contract in spirit).
//
// Layout under `dir` (default <queue.dir>/tls-rpt, mode 0700):
//   <YYYY-MM-DD>.events   one line per session event of that UTC day: a JSON object
//                         (encode_event), appended with one write(2) each, so a killed
//                         process leaves whole lines (a torn last line, from a power loss,
//                         is skipped when read and counted in `bad_lines`)
//   <YYYY-MM-DD>.sent     the policy domains whose report for that day has been handed on
//                         (queued for mailto, or POSTed), one per line: a report is never
//                         sent twice, and a day is deleted once it is older than `keep_days`
// Durability: every event is written before record() returns (it survives the process
// being killed at any point); fdatasync runs at most once a second per file, so a power
// loss may take the last second's events. mark_sent() syncs before it returns.
//
// Untrusted input: the files (hand edits, damage): a line that does not decode is skipped.
// Threading: one Store may be used from any thread (a mutex guards the open file).
#pragma once

#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "relay/tlsrpt/tlsrpt.hpp"

namespace signpost::tlsrpt {

// One event as one line of JSON (no newline), and back; nullopt for a line that is not one.
std::string encode_event(const SessionEvent& e);
std::optional<SessionEvent> decode_event(std::string_view line);

class Store {
public:
    // Creates `dir` (0700) when missing; throws std::system_error when it cannot.
    explicit Store(std::filesystem::path dir);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // Appends `e` to the file of `now`'s UTC day.
    std::error_code record(const SessionEvent& e, std::chrono::system_clock::time_point now);

    // The counts of `day` ("YYYY-MM-DD"); `bad_lines` (may be null) gets the lines skipped.
    std::vector<PolicyCounts> load_day(const std::string& day, std::size_t* bad_lines = nullptr) const;
    // Days with an events file, oldest first.
    std::vector<std::string> days() const;
    // The policy domains whose report for `day` was sent.
    std::set<std::string> sent(const std::string& day) const;
    std::error_code mark_sent(const std::string& day, const std::string& domain);
    // Deletes the files of days before `oldest_kept` ("YYYY-MM-DD").
    void prune(const std::string& oldest_kept);

    const std::filesystem::path& dir() const { return dir_; }

private:
    std::filesystem::path dir_;
    mutable std::mutex mu_;
    int fd_ = -1;                 // the open events file of day_
    std::string day_;
    std::chrono::steady_clock::time_point last_sync_{};
};

}  // namespace signpost::tlsrpt
