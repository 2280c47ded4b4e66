// signer/spare_thread.cpp — see spare_thread.hpp.
#include "signer/spare_thread.hpp"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace signpost::signer {
namespace {

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
}

}  // namespace

void SpareThread::wait(const Job& job) const noexcept {
    // 4096 pauses of polling (a pause is 40-150 cycles depending on the CPU, so roughly
    // 50-200 µs), then the futex.
    for (int i = 0; i < 4096; ++i) {
        if (job.finished()) return;
        cpu_relax();
    }
    while (true) {
        const std::uint32_t seen = finished_.load(std::memory_order_acquire);
        if (job.finished()) return;
        finished_.wait(seen, std::memory_order_acquire);
    }
}

SpareThread::SpareThread() : thread_([this] { loop(); }) {}

SpareThread::~SpareThread() {
    stop_.store(true, std::memory_order_release);
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_one();
    thread_.join();
}

bool SpareThread::offer(Job& job) noexcept {
    // Approximate by design (relaxed, not exact under races): a heuristic, not a contract.
    if (skip_.load(std::memory_order_relaxed) > 0) {
        skip_.fetch_sub(1, std::memory_order_relaxed);
        return false;
    }
    if (busy_.load(std::memory_order_acquire)) return false;
    Job* expected = nullptr;
    if (!slot_.compare_exchange_strong(expected, &job, std::memory_order_acq_rel)) return false;
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_one();
    return true;
}

bool SpareThread::withdraw(Job& job) noexcept {
    Job* expected = &job;
    if (!slot_.compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel)) return false;
    withdrawn_.fetch_add(1, std::memory_order_relaxed);
    const int misses = std::min(misses_.fetch_add(1, std::memory_order_relaxed) + 1, 6);
    skip_.store((1 << misses) - 1, std::memory_order_relaxed);
    return true;
}

void SpareThread::loop() noexcept {
    std::uint32_t seen = wake_.load(std::memory_order_acquire);
    while (!stop_.load(std::memory_order_acquire)) {
        busy_.store(true, std::memory_order_release);
        // Whoever empties the slot owns the job: here the thread, in withdraw() the caller.
        if (Job* job = slot_.exchange(nullptr, std::memory_order_acq_rel)) {
            misses_.store(0, std::memory_order_relaxed);
            skip_.store(0, std::memory_order_relaxed);
            job->run();
            ran_.fetch_add(1, std::memory_order_relaxed);
            // The caller may destroy the job as soon as it sees done_: touch nothing after.
            job->done_.store(true, std::memory_order_release);
            finished_.fetch_add(1, std::memory_order_release);
            finished_.notify_all();
        }
        busy_.store(false, std::memory_order_release);
        // A job offered between the exchange above and now bumped wake_ after filling the
        // slot, so `seen` differs and the loop looks again instead of sleeping.
        wake_.wait(seen, std::memory_order_acquire);
        seen = wake_.load(std::memory_order_acquire);
    }
}

}  // namespace signpost::signer
