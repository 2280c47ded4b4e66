// tests/bench/queue/bench_commit.cpp — spool commit throughput (relay/queue/spool).
//
// Threads each run begin / write 4 KB / commit in a loop against one Spool for a bounded time
// and count; commits/s is measured at concurrency 1, 8 and 32 in three modes, interleaved
// round by round so drift in the disk's speed hits all alike:
//   group   group commit (the daemon's mode): each session fsyncs its own file, concurrently;
//           one rename batch + one fsync of queue/ per batch;
//   single  one fsync of queue/ per message, sessions still concurrent (their file and
//           directory fsyncs may still share journal commits inside the filesystem);
//   serial  one commit at a time, each with its own flushes: the rate a spool gets when
//           every message waits for its own fsync (the "collapse" group commit avoids).
// Prints the median commits/s per case, the directory fsyncs per commit, and the ratios
// group/single and group/serial at each concurrency. The goal: at concurrency 32, group
// commit >= 5x the one-fsync-per-message rate.
//
// The spool lives under --dir (default ./bench-commit-tmp): put it on the real filesystem
// being measured, not tmpfs. Every case's directory is removed after it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "relay/queue/spool.hpp"

namespace fs = std::filesystem;
using signpost::queue::Envelope;
using signpost::queue::IncomingMessage;
using signpost::queue::Spool;
using signpost::queue::SpoolOptions;

namespace {

struct Options {
    fs::path dir = "bench-commit-tmp";
    double seconds = 3.0;    // per case and round (short runs are skewed by the previous case's cleanup)
    int rounds = 3;
    long max_commits = 40000;  // per case and round
};

struct Sample {
    double rate = 0;           // commits/s
    double syncs_per_commit = 0;
};

bool failed = false;

enum Mode { kSerial = 0, kSingle = 1, kGroup = 2 };
const char* const kModeNames[] = {"serial", "single", "group"};

Sample run_case(const Options& o, int concurrency, Mode mode, int round) {
    const bool group = mode == kGroup;
    std::mutex serial;  // kSerial: one commit at a time
    // Appended, not `"c" + std::string`: GCC 12 -O3 reports a false -Wrestrict (bug 105651).
    std::string name = "c";
    name += std::to_string(concurrency);
    name += "-";
    name += kModeNames[mode];
    name += "-";
    name += std::to_string(round);
    fs::path dir = o.dir / name;
    fs::remove_all(dir);
    Spool spool(dir, SpoolOptions{.group_commit = group});
    std::string detail;
    if (auto ec = spool.open(detail)) {
        std::printf("bench_commit: cannot open spool %s\n", detail.c_str());
        std::exit(1);
    }
    const std::string body = [] {
        std::string b = "Subject: bench\r\n\r\n";
        while (b.size() < 4096) b += "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n";
        b.resize(4096);
        return b;
    }();
    std::atomic<long> started{0}, done{0}, errors{0};
    std::atomic<bool> stop{false};
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < concurrency; ++t)
        pool.emplace_back([&] {
            while (!stop.load(std::memory_order_relaxed) && started.fetch_add(1) < o.max_commits) {
                std::unique_ptr<IncomingMessage> m;
                Envelope e;
                e.mail_from = "bench@example.test";
                e.set_recipients({"sink@example.org"});
                e.size = body.size();
                std::unique_lock lk(serial, std::defer_lock);
                if (mode == kSerial) lk.lock();
                if (spool.begin(m) || m->write(body) || m->commit(e)) {
                    errors.fetch_add(1);
                    return;
                }
                done.fetch_add(1);
            }
        });
    auto deadline = t0 + std::chrono::duration<double>(o.seconds);
    while (std::chrono::steady_clock::now() < deadline && done.load() + errors.load() < o.max_commits &&
           errors.load() == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    stop = true;
    for (auto& th : pool) th.join();
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Self-check: every acknowledged commit is a message in queue/.
    auto listed = static_cast<long>(spool.list().size());
    if (errors.load() != 0 || listed != done.load()) {
        std::printf("bench_commit: c%d %s: %ld errors, %ld committed, %ld listed\n", concurrency,
                    kModeNames[mode], errors.load(), done.load(), listed);
        failed = true;
    }
    Sample s;
    s.rate = static_cast<double>(done.load()) / elapsed;
    s.syncs_per_commit = done.load() ? static_cast<double>(spool.dir_syncs()) / static_cast<double>(done.load()) : 0;
    fs::remove_all(dir);
    return s;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : (v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&] {
            if (i + 1 >= argc) {
                std::printf("bench_commit: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return std::string(argv[++i]);
        };
        if (a == "--quick") o.seconds = 0.2, o.rounds = 1, o.max_commits = 2000;
        else if (a == "--dir") o.dir = value();
        else if (a == "--seconds") o.seconds = std::stod(value());
        else if (a == "--rounds") o.rounds = std::stoi(value());
        else if (a == "--max-commits") o.max_commits = std::stol(value());
        else {
            std::printf("usage: bench_commit [--quick] [--dir DIR] [--seconds S] [--rounds N] [--max-commits N]\n");
            return a == "--help" ? 0 : 2;
        }
    }
    fs::create_directories(o.dir);
    const int levels[] = {1, 8, 32};
    // [level][mode] -> samples
    std::vector<double> rates[3][3], syncs[3][3];
    for (int r = 0; r < o.rounds; ++r)
        for (int li = 0; li < 3; ++li)
            for (int k = 0; k < 3; ++k) {
                // Rotate which mode goes first from round to round.
                auto mode = static_cast<Mode>((k + r) % 3);
                Sample s = run_case(o, levels[li], mode, r);
                rates[li][mode].push_back(s.rate);
                syncs[li][mode].push_back(s.syncs_per_commit);
            }
    std::error_code ec;
    fs::remove(o.dir, ec);  // only if empty

    std::printf("spool commit, 4 KB messages, %d round(s) of %.2f s (max %ld commits) per case, median\n",
                o.rounds, o.seconds, o.max_commits);
    std::printf("%-12s %10s %9s %10s %9s %10s %13s %13s\n", "concurrency", "group/s", "dirsync/c", "single/s",
                "dirsync/c", "serial/s", "group/single", "group/serial");
    auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    for (int li = 0; li < 3; ++li) {
        double g = median(rates[li][kGroup]), s1 = median(rates[li][kSingle]), s0 = median(rates[li][kSerial]);
        std::printf("%-12d %10.0f %9.3f %10.0f %9.3f %10.0f %12.2fx %12.2fx\n", levels[li], g,
                    median(syncs[li][kGroup]), s1, median(syncs[li][kSingle]), s0, ratio(g, s1), ratio(g, s0));
    }
    for (int li = 0; li < 3; ++li) {
        double g = median(rates[li][kGroup]), s1 = median(rates[li][kSingle]), s0 = median(rates[li][kSerial]);
        std::printf("RESULT group.c%d %.0f commits/s\n", levels[li], g);
        std::printf("RESULT single.c%d %.0f commits/s\n", levels[li], s1);
        std::printf("RESULT serial.c%d %.0f commits/s\n", levels[li], s0);
        std::printf("RESULT ratio_single.c%d %.2f\n", levels[li], ratio(g, s1));
        std::printf("RESULT ratio_serial.c%d %.2f\n", levels[li], ratio(g, s0));
    }
    return failed ? 1 : 0;
}
