// tests/bench/signer/harness.cpp — interleaved sampling, medians and the report (see
// harness.hpp).
#include "harness.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <unistd.h>

namespace bench {
namespace {

volatile std::size_t g_sink = 0;

double median(std::vector<double> v) {
    if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Rounds for which every case named in `ref` (and the subject) has a sample.
std::size_t common_rounds(const Case& subject, const Reference& ref) {
    std::size_t n = subject.samples.size();
    for (const auto& t : ref) n = std::min(n, t.c->samples.size());
    return n;
}

double ref_time(const Reference& ref, std::size_t round) {
    double t = 0;
    for (const auto& term : ref) t += term.c->samples[round] * term.scale;
    return t;
}

struct Comparison {
    double ref = std::numeric_limits<double>::quiet_NaN();    // median reference s/call
    double ratio = std::numeric_limits<double>::quiet_NaN();  // median of per-round ratios
};

Comparison compare(const Case& subject, const Reference& ref) {
    Comparison out;
    if (ref.empty()) return out;
    const std::size_t n = common_rounds(subject, ref);
    if (n == 0) return out;
    std::vector<double> refs;
    std::vector<double> ratios;
    for (std::size_t r = 0; r < n; ++r) {
        const double t = ref_time(ref, r);
        refs.push_back(t);
        ratios.push_back(subject.samples[r] / t);
    }
    out.ref = median(refs);
    out.ratio = median(ratios);
    return out;
}

std::string fmt(const char* format, double v) {
    if (std::isnan(v)) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

std::string fmt_time(double seconds) {
    if (std::isnan(seconds)) return "-";
    if (seconds >= 1.0) return fmt("%.2f s", seconds);
    if (seconds >= 1e-3) return fmt("%.3f ms", seconds * 1e3);
    if (seconds >= 1e-6) return fmt("%.2f us", seconds * 1e6);
    return fmt("%.0f ns", seconds * 1e9);
}

std::string_view unit_name(Unit u) {
    switch (u) {
        case Unit::ops: return "op/s";
        case Unit::messages: return "msg/s";
        case Unit::megabytes: return "MB/s";
    }
    return "?";
}

double rate(const Case& c, double seconds_per_call) {
    if (c.unit == Unit::megabytes) return static_cast<double>(c.bytes) / seconds_per_call / 1e6;
    return 1.0 / seconds_per_call;
}

}  // namespace

void keep(std::size_t value) { g_sink = g_sink + value; }

Case* Suite::add(std::string name, std::size_t bytes, Unit unit, std::function<void()> op) {
    cases_.push_back(std::make_unique<Case>(Case{std::move(name), bytes, unit, std::move(op), {}, 0}));
    return cases_.back().get();
}

void Suite::row(const Case* subject, Reference botan_ref, Reference openssl_ref,
                std::optional<double> goal) {
    Row r;
    r.subject = subject;
    r.botan_ref = std::move(botan_ref);
    r.openssl_ref = std::move(openssl_ref);
    r.goal = goal;
    rows_.push_back(std::move(r));
}

void Suite::heading(std::string text) {
    Row r;
    r.heading = std::move(text);
    rows_.push_back(std::move(r));
}

bool Suite::selected(const Case& c) const {
    return opts_.filter.empty() || c.name.find(opts_.filter) != std::string::npos;
}

void Suite::sample(Case& c, double budget) {
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(budget));
    std::uint64_t calls = 0;
    Clock::time_point now;
    do {
        c.op();
        ++calls;
        now = Clock::now();
    } while (now < deadline && calls < opts_.max_iters);
    const double elapsed = std::chrono::duration<double>(now - start).count();
    c.samples.push_back(elapsed / static_cast<double>(calls));
    c.spent += elapsed;
}

void Suite::run() {
    // The selected cases, plus every case a selected row compares with (so --filter keeps
    // its ratios).
    std::vector<const Case*> wanted;
    for (const Row& row : rows_) {
        if (row.subject == nullptr || !selected(*row.subject)) continue;
        wanted.push_back(row.subject);
        if (!opts_.with_refs) continue;
        for (const auto* ref : {&row.botan_ref, &row.openssl_ref}) {
            for (const RefTerm& t : *ref) wanted.push_back(t.c);
        }
    }
    std::vector<Case*> order;
    for (auto& c : cases_) {
        if (std::find(wanted.begin(), wanted.end(), c.get()) != wanted.end()) {
            order.push_back(c.get());
        }
    }
    for (Case* c : order) c->op();  // warm-up: lazy initialization, caches, allocator pools

    const int reps = std::max(1, opts_.reps);
    const double budget = opts_.min_time / reps;
    const bool progress = isatty(STDERR_FILENO) == 1;
    for (int r = 0; r < reps; ++r) {
        if (progress) {
            std::fprintf(stderr, "\rbench: round %d/%d", r + 1, reps);
            std::fflush(stderr);
        }
        for (std::size_t i = 0; i < order.size(); ++i) {
            Case& c = *order[r % 2 == 0 ? i : order.size() - 1 - i];
            if (!c.samples.empty() && c.spent >= opts_.max_time) continue;
            sample(c, budget);
        }
    }
    if (progress) std::fprintf(stderr, "\r%*s\r", 40, "");
}

bool Suite::report() const {
    // Build all cells first, then size the columns.
    const std::vector<std::string> header = {"row",   "bytes",          "rate",  "time/op",
                                             "+-",    "Botan ref/op",   "ratio", "OpenSSL ref/op",
                                             "ratio", "goal",           "result"};
    std::vector<std::vector<std::string>> cells;
    std::vector<std::string> results;
    bool complete = true;
    std::string pending_heading;  // printed only if a row of its section is
    for (const Row& row : rows_) {
        if (!row.heading.empty()) {
            pending_heading = row.heading;
            continue;
        }
        const Case& c = *row.subject;
        if (!selected(c)) continue;
        if (!pending_heading.empty()) {
            cells.push_back({pending_heading});
            pending_heading.clear();
        }
        if (c.samples.empty()) {
            complete = false;
            continue;
        }
        const double t = median(c.samples);
        const auto [lo, hi] = std::minmax_element(c.samples.begin(), c.samples.end());
        const double spread = (*hi - *lo) / 2 / t * 100;
        const Comparison b = compare(c, row.botan_ref);
        const Comparison o = compare(c, row.openssl_ref);
        std::string verdict = "-";
        if (row.goal && !std::isnan(b.ratio)) verdict = b.ratio <= *row.goal ? "PASS" : "MISS";
        const double r = rate(c, t);
        cells.push_back({c.name,
                         std::to_string(c.bytes),
                         fmt(r >= 100 ? "%.0f " : "%.1f ", r) + std::string(unit_name(c.unit)),
                         fmt_time(t),
                         fmt("%.1f%%", spread),
                         fmt_time(b.ref),
                         fmt("%.2fx", b.ratio),
                         fmt_time(o.ref),
                         fmt("%.2fx", o.ratio),
                         row.goal ? fmt("<=%.2fx", *row.goal) : "-",
                         verdict});
        results.push_back("RESULT " + c.name + " " + fmt("%.6g", r) + " " +
                          std::string(unit_name(c.unit)) + " " + fmt("%.4f", b.ratio) + " " +
                          fmt("%.4f", o.ratio) + " " + verdict);
    }

    std::vector<std::size_t> width(header.size(), 0);
    auto widen = [&](const std::vector<std::string>& line) {
        if (line.size() == 1) return;  // headings span the table
        for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
    };
    widen(header);
    for (const auto& line : cells) widen(line);

    auto print = [&](const std::vector<std::string>& line) {
        if (line.size() == 1) {
            std::printf("\n%s\n", line[0].c_str());
            return;
        }
        std::string out;
        for (std::size_t i = 0; i < line.size(); ++i) {
            const std::string& cell = line[i];
            const std::size_t pad = width[i] - cell.size();
            if (i == 0) {
                out += cell + std::string(pad, ' ');  // names left-aligned
            } else {
                out += "  " + std::string(pad, ' ') + cell;  // numbers right-aligned
            }
        }
        while (!out.empty() && out.back() == ' ') out.pop_back();
        std::printf("%s\n", out.c_str());
    };
    print(header);
    for (const auto& line : cells) print(line);
    std::printf("\n");
    for (const auto& line : results) std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    return complete;
}

}  // namespace bench
