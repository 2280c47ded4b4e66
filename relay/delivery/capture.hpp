// relay/delivery/capture.hpp — "delivery" into a directory ([delivery] mode = "capture"),
// for tests, staging and dry runs: nothing leaves the machine.
//
// What it does: for each Job writes `<capture_dir>/<queue_id>.envelope` (lines
// "MAIL FROM:<sender>" and one "RCPT TO:<recipient>" per recipient, LF line ends) and then
// `<capture_dir>/<queue_id>.eml`, exactly the octets that would go on the wire before
// dot-stuffing: `prepend` followed by the first `size` octets of the message file. Each
// file is written under a hidden temporary name, fsynced, renamed into place, and the
// directory is fsynced (STYLE.md habit 6), so a file with the final name is always
// complete and a reader waiting for the .eml finds the .envelope already there. A second
// delivery of the same queue id replaces both files. capture_dir is created (mode 0700,
// parents as needed) when missing.
//
// Outcomes: success -> delivered, code 250, "2.0.0"; any file error (ENOSPC, EACCES, a
// message file shorter than `size`, ...) -> temporary for every recipient, code 0, with
// the error text ("4.3.1" for a full disk or quota, else "4.3.0"). Nothing is permanent.
//
// Untrusted input: none (the queue id and addresses come from our own queue; a queue id
// that is not a plain file name is refused).
// Threading: deliver() posts the file work to the `blocking` executor (never an I/O
// thread); `done` is called there. stop() may be called from any thread.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "relay/delivery/deliverer.hpp"
#include "relay/log/log.hpp"

namespace signpost::delivery {

// The blocking work of one job (what deliver() runs on the blocking executor).
std::vector<RecipientResult> capture_job(const std::filesystem::path& capture_dir, const Job& job);

class CaptureDeliverer final : public Deliverer {
public:
    CaptureDeliverer(std::filesystem::path capture_dir, boost::asio::any_io_executor blocking,
                     log::Logger logger = nullptr);

    void deliver(Job job, DoneHandler done) override;
    // Jobs not yet started answer temporary "delivery stopped"; one being written finishes.
    void stop() override;

private:
    struct Impl {
        std::filesystem::path dir;
        boost::asio::any_io_executor blocking;
        log::Logger logger;
        std::atomic<bool> stopping{false};
    };
    std::shared_ptr<Impl> impl_;
};

}  // namespace signpost::delivery
