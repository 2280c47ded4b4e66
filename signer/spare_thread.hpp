// signer/spare_thread.hpp — one spare thread that takes half of an RSA signature when it is
// idle, so that on a lightly loaded machine a signature uses two cores and the message that
// waits for it is answered sooner (see key.hpp "Split RSA signatures").
//
// The protocol, for one job at a time:
//  - offer(job): hands `job` to the thread if it is idle and holds no other job; false
//    otherwise (the caller then does the work itself). Never waits.
//  - withdraw(job): takes an offered job back if the thread has not started it (true: the
//    thread will never touch it, the caller does the work); false: the thread has it, and the
//    caller waits for it with wait(job). So a thread that is slow to wake (a busy machine) costs
//    the caller nothing beyond doing the work itself.
//  - Back-off: a job taken back means the thread did not get a core in time (the machine is
//    busy). After k such in a row, the next 2^k - 1 offers (at most 63) are refused at once,
//    so a loaded machine does not pay for wake-ups that come too late; the first job the
//    thread runs ends the back-off.
//  - The caller must not return (destroying `job`) before either withdraw() returned true or
//    job.finished() is true.
//
// Pure computation: no I/O, no clock. Threading: offer() and withdraw() may be called from
// any number of threads. The destructor stops and joins the thread; no job may be pending
// then.
#pragma once
#include <atomic>
#include <cstdint>
#include <thread>

namespace signpost::signer {

class SpareThread {
public:
    class Job {
    public:
        virtual ~Job() = default;
        // Done on the spare thread. Must not throw.
        virtual void run() noexcept = 0;
        bool finished() const noexcept { return done_.load(std::memory_order_acquire); }

    private:
        friend class SpareThread;
        std::atomic<bool> done_{false};
    };

    SpareThread();
    ~SpareThread();
    SpareThread(const SpareThread&) = delete;
    SpareThread& operator=(const SpareThread&) = delete;

    bool offer(Job& job) noexcept;
    bool withdraw(Job& job) noexcept;
    // After withdraw() returned false: returns once the thread has finished `job`. Spins
    // briefly (the two halves of a signature take about as long), then sleeps.
    void wait(const Job& job) const noexcept;

    // How many offered jobs the thread ran, and how many were taken back (tests, metrics).
    std::uint64_t ran() const noexcept { return ran_.load(std::memory_order_relaxed); }
    std::uint64_t withdrawn() const noexcept { return withdrawn_.load(std::memory_order_relaxed); }
    // Split signatures that failed a step or their check and were made whole instead: the
    // signer records them here, since it has no other place to report to (metrics).
    void count_failed_split() noexcept { failed_splits_.fetch_add(1, std::memory_order_relaxed); }
    std::uint64_t failed_splits() const noexcept { return failed_splits_.load(std::memory_order_relaxed); }

private:
    void loop() noexcept;

    std::atomic<Job*> slot_{nullptr};
    std::atomic<bool> busy_{false};        // the thread is running a job
    std::atomic<std::uint32_t> wake_{0};   // bumped to wake the thread (futex word)
    // Bumped after each job: callers sleep on this, never on the job, which its owner may
    // destroy as soon as it is finished.
    std::atomic<std::uint32_t> finished_{0};
    std::atomic<bool> stop_{false};
    std::atomic<int> misses_{0};            // jobs taken back in a row
    std::atomic<int> skip_{0};              // offers still to refuse
    std::atomic<std::uint64_t> ran_{0};
    std::atomic<std::uint64_t> withdrawn_{0};
    std::atomic<std::uint64_t> failed_splits_{0};
    std::thread thread_;                   // last: started once the rest is built
};

}  // namespace signpost::signer
