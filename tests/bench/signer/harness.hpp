// tests/bench/signer/harness.hpp — a small, dependency-free timing harness for benchmarks
// that compare a subject (our code) with reference primitives measured in the same run.
//
// How a run measures (why it is shaped like this: the benchmark machines are shared and
// noisy, so a single long measurement of each case would fold load changes into the ratio):
//  - Every case is one callable doing one unit of work (one message signed, one buffer
//    hashed). A *sample* calls it back to back until the sample's time budget is spent or
//    the iteration cap is reached, whichever comes first, and records seconds per call.
//  - The run is `reps` rounds; each round takes one sample of every case, in forward order on
//    even rounds and backward on odd ones. So a subject and its references are always
//    measured close together in time (interleaved), several times over.
//  - A case's value is the median of its samples. A ratio is computed per round from that
//    round's own samples (subject / sum of scaled references), and the median of those
//    per-round ratios is reported: a slow patch of the machine hits both sides of a round.
//  - A case stops taking samples once it has used `max_time` in all (it keeps >= 1 sample).
//
// Threading: single-threaded; nothing here is shared.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

struct Options {
    double min_time = 0.5;           // seconds per case, summed over its samples
    double max_time = 2.0;           // seconds per case at most (a single call may overrun)
    int reps = 7;                    // rounds, i.e. samples per case
    std::uint64_t max_iters = 1'000'000;  // calls per sample at most
    std::string filter;              // report only rows whose name contains this ("" = all);
                                     // the cases they compare with are still measured...
    bool with_refs = true;           // ...unless this is false (profiling one case alone)
};

enum class Unit { ops, messages, megabytes };  // how the rate column is expressed

struct Case {
    std::string name;    // stable identifier, also used in RESULT lines
    std::size_t bytes;   // input bytes per call (for MB/s and for scaling hash references)
    Unit unit;
    std::function<void()> op;

    std::vector<double> samples;  // seconds per call, one per round taken
    double spent = 0;             // seconds of sampling so far
};

// A reference time built from other cases' samples: sum of case time x scale. E.g. "one
// RSA signature + SHA-256 over 4700 bytes" = {rsa_sign, 1.0} + {sha256_1MB, 4700 / 1MB}.
struct RefTerm {
    const Case* c;
    double scale;
};
using Reference = std::vector<RefTerm>;

class Suite {
public:
    explicit Suite(Options opts) : opts_(std::move(opts)) {}

    // Registers a case; returns a stable pointer for use in references.
    Case* add(std::string name, std::size_t bytes, Unit unit, std::function<void()> op);

    // A row of the report: a case and, optionally, what it is compared with.
    void row(const Case* subject, Reference botan_ref = {}, Reference openssl_ref = {},
             std::optional<double> goal = std::nullopt);
    // A section heading in the printed table.
    void heading(std::string text);

    // Takes one untimed call of every case needed, then `reps` interleaved rounds.
    void run();

    // Prints the aligned table followed by one "RESULT ..." line per row. Returns false if
    // any selected row produced no measurement.
    bool report() const;

private:
    struct Row {
        std::string heading;  // non-empty: this entry is a heading, not a row
        const Case* subject = nullptr;
        Reference botan_ref;
        Reference openssl_ref;
        std::optional<double> goal;
    };

    bool selected(const Case& c) const;
    void sample(Case& c, double budget);

    Options opts_;
    std::vector<std::unique_ptr<Case>> cases_;
    std::vector<Row> rows_;
};

// Keeps the optimizer from dropping work whose result is otherwise unused.
void keep(std::size_t value);

}  // namespace bench
