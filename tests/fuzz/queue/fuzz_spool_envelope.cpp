// tests/fuzz/queue/fuzz_spool_envelope.cpp — libFuzzer target for the spool's readers
// (relay/queue/spool.hpp): decode_envelope, and recovery at start-up (Spool::open +
// Spool::recover, which read each queue/<id> through its trailer and its <id>.state)
// over a spool directory holding the fuzzed files.
// Covers: relay/queue/spool.cpp
//
// Input: the first octet says what to write, the rest is split at lines "--8<--" into
// [0] message bytes, [1] envelope text, [2] state text:
//   bits 0-1: queue/<id> is 0: [0] as the whole file (raw damage), 1: [0] + [1] + the
//             trailer Spool writes for them (length and FNV-1a checksum right, so the
//             envelope records are what is read), 2: like 1 with the trailer's length one
//             short, 3: absent;
//   bit 2:    queue/<id>.state holds [2];
//   bit 3:    junk beside it: a tmp/ file, files in queue/ that are no queue ids, and a
//             .state without a message;
//   bit 4:    an intact DSN beside it reporting the message's recipient bob@example.org
//             as failed (committed just before a crash: recovery applies it);
//   bit 5:    with 1 and 2, the file as written in place: [0] + [1] + 5 octets left over
//             + the slot trailer (its data hash right, unless bit 6: one off, a write cut
//             short). With 0, [0] may end in a slot trailer or the free marker itself.
// <id> is a fixed valid queue id. The spool is fuzz-spool-<pid> in /dev/shm (else in
// /tmp), emptied before and removed after each input.
// Invariants:
//   - decode_envelope: an accepted envelope has a valid id and recipients, its values are
//     disjoint pieces of the text (so their total length is within it); encode() of it
//     decodes to the same envelope, and encoding that again gives the same text;
//   - recovery never crashes; open() succeeds and empties tmp/; a message is either
//     recovered or reported damaged with a reason and moved to corrupt/ (its .state with
//     it), exactly as an independent reading of the trailer, checksum and records says
//     (the embedded envelope must name the file's own id and size; a slot trailer also
//     checks the data hash, and a file ending in the free marker, or in a slot trailer
//     whose envelope names another id, is a free file: neither listed nor moved aside, kept
//     in queue/ ending in the free marker, its .state removed as an orphan); the recovered
//     envelope is the .state's when that decodes and matches id, size and recipient count,
//     else the embedded one; read_message gives the first `size` octets and read_headers
//     a prefix of them; a .state without a message is removed as an orphan; files that are
//     no queue ids are left alone; a DSN's report is applied to the message it names (a
//     message left with nobody pending is removed, files and all; another changed one has
//     its .state saved, which reads back as recovered); a second recovery finds the same
//     messages with nothing damaged, orphaned or left to apply. Messages come oldest
//     arrival first.
// Seeds: corpus/fuzz_spool_envelope/ — spool files as Signpost writes them (envelopes as
// in tests/unit/queue/test_spool.cpp: fresh, with per-recipient state, held/warned, a DSN
// with the null sender), with and without .state files, torn and damaged ones.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/queue/spool.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::queue;
namespace fs = std::filesystem;

constexpr std::string_view kId = "00HOFGO6F3U700NNAOVB";
constexpr std::string_view kDsnId = "00HOFGO6F3U800000001";
constexpr std::string_view kDsnBody = "From: MAILER-DAEMON@relay.example.test\r\nSubject: failure\r\n\r\nreport\r\n";
constexpr std::string_view kCut = "--8<--\n";

bool same(const Envelope& a, const Envelope& b) {
    return a.id == b.id && a.mail_from == b.mail_from && a.recipients == b.recipients && a.user == b.user &&
           a.client == b.client && a.prepend == b.prepend && a.arrival == b.arrival && a.size == b.size &&
           a.smtputf8 == b.smtputf8 && a.body_8bit == b.body_8bit && a.held == b.held && a.warned == b.warned &&
           a.dsn_of == b.dsn_of && a.dsn_kind == b.dsn_kind && a.dsn_rcpts == b.dsn_rcpts;
}

// FNV-1a 64 and the trailer line as spool.hpp describes them.
std::uint64_t fnv1a64(std::string_view s) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

std::string hex16(std::uint64_t v) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (int i = 15; i >= 0; --i) out += digits[(v >> (4 * i)) & 0xf];
    return out;
}

std::string trailer(std::uint64_t offset, std::uint64_t length, std::uint64_t checksum) {
    return "signpost-trailer " + hex16(offset) + ' ' + hex16(length) + ' ' + hex16(checksum) + '\n';
}

std::string slot_trailer(std::uint64_t offset, std::uint64_t length, std::uint64_t checksum, std::uint64_t data) {
    return "signpost-commit " + hex16(offset) + ' ' + hex16(length) + ' ' + hex16(checksum) + ' ' + hex16(data) + '\n';
}

const std::string kFreeMarker = "signpost-free   0000000000000000 0000000000000000 0000000000000000 0000000000000000\n";

// The data hash of spool.hpp, octet by octet.
std::uint64_t data_hash(std::string_view bytes) {
    constexpr std::uint64_t k = 0x9e3779b97f4a7c15ULL;
    std::uint64_t h = 0x243f6a8885a308d3ULL;
    std::size_t i = 0;
    auto le = [&](std::size_t at, std::size_t n) {
        std::uint64_t w = 0;
        for (std::size_t b = 0; b < n; ++b) w |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[at + b])) << (8 * b);
        return w;
    };
    for (; i + 8 <= bytes.size(); i += 8) {
        h = (h ^ le(i, 8)) * k;
        h ^= h >> 29;
    }
    h = (h ^ le(i, bytes.size() - i) ^ static_cast<std::uint64_t>(bytes.size())) * k;
    return h ^ (h >> 32);
}

void check_decoded(std::string_view text) {
    const auto e = decode_envelope(text);
    if (!e) return;
    CHECK(Spool::valid_id(e->id) && !e->recipients.empty());
    // Every value is a piece of the text of its own, in a record "<name> <length>\n<value>\n"
    // (lengths are checked, never trusted): the records found fit in the text.
    auto record = [](std::string_view name, std::size_t value) {
        return name.size() + 1 + std::to_string(value).size() + 1 + value + 1;
    };
    std::size_t total = std::string_view("signpost-envelope 1\nend\n").size() + record("id", e->id.size()) +
                        record("from", e->mail_from.size());
    for (const auto& [name, value] : {std::pair{"user", &e->user}, {"client", &e->client}, {"prepend", &e->prepend}})
        if (!value->empty()) total += record(name, value->size());
    for (const Recipient& r : e->recipients) {
        total += record("rcpt", r.address.size()) + r.enhanced.size() + r.reply_text.size();
        if (!r.remote_host.empty()) total += record("rhost", r.remote_host.size());
    }
    if (!e->dsn_of.empty()) total += record("dsn-of", e->dsn_of.size());
    if (!e->dsn_kind.empty()) total += record("dsn-kind", e->dsn_kind.size());
    for (const std::string& a : e->dsn_rcpts) total += record("dsn-rcpt", a.size());
    CHECK(total <= text.size());
    const std::string again = encode_envelope(*e);
    const auto back = decode_envelope(again);
    CHECK(back && same(*back, *e));
    CHECK(encode_envelope(*back) == again);
}

void write_file(const fs::path& p, std::string_view bytes) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    CHECK(f.good());
}

std::optional<std::string> read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) return std::nullopt;
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// What recovery must make of the message file, read independently: the embedded envelope,
// a free file, or damage (neither).
struct Expected {
    std::optional<Envelope> envelope;
    bool free = false;
};

std::optional<std::uint64_t> hex_field(std::string_view t, std::size_t at) {
    std::uint64_t out = 0;
    for (std::size_t k = 0; k < 16; ++k) {
        const char c = t[at + k];
        int v = -1;
        if (c >= '0' && c <= '9') v = c - '0';
        if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        if (v < 0) return std::nullopt;
        out = out << 4 | static_cast<std::uint64_t>(v);
    }
    return out;
}

Expected expected_embedded(std::string_view file) {
    constexpr std::size_t kTrailer = 17 + 3 * 17, kSlot = 16 + 4 * 17;
    const Expected damage{.envelope = std::nullopt, .free = false};
    if (file.size() >= kSlot && (file.substr(file.size() - kSlot).starts_with("signpost-commit ") ||
                                 file.substr(file.size() - kSlot).starts_with("signpost-free   "))) {
        const std::string_view t = file.substr(file.size() - kSlot);
        if (t == kFreeMarker) return Expected{.envelope = std::nullopt, .free = true};
        if (!t.starts_with("signpost-commit ")) return damage;
        std::uint64_t f[4] = {};
        for (int i = 0; i < 4; ++i) {
            auto v = hex_field(t, 16 + 17 * static_cast<std::size_t>(i));
            if (!v || t[16 + 17 * static_cast<std::size_t>(i) + 16] != (i < 3 ? ' ' : '\n')) return damage;
            f[i] = *v;
        }
        const std::uint64_t room = file.size() - kSlot;
        if (f[0] > room || f[1] > room - f[0] || f[1] > (16u << 20)) return damage;
        const std::string_view text = file.substr(f[0], f[1]);
        if (fnv1a64(text) != f[2]) return damage;
        auto e = decode_envelope(text);
        if (!e || e->size != f[0]) return damage;
        if (e->id != kId) return Expected{.envelope = std::nullopt, .free = true};
        if (data_hash(file.substr(0, f[0])) != f[3]) return damage;
        return Expected{.envelope = std::move(e), .free = false};
    }
    if (file.size() < kTrailer) return damage;
    const std::string_view t = file.substr(file.size() - kTrailer);
    if (!t.starts_with("signpost-trailer ")) return damage;
    std::uint64_t f[3] = {};
    for (int i = 0; i < 3; ++i) {
        auto v = hex_field(t, 17 + 17 * static_cast<std::size_t>(i));
        if (!v || t[17 + 17 * static_cast<std::size_t>(i) + 16] != (i < 2 ? ' ' : '\n')) return damage;
        f[i] = *v;
    }
    const std::uint64_t body = file.size() - kTrailer;
    if (f[0] > body || f[1] != body - f[0]) return damage;
    const std::string_view text = file.substr(f[0], f[1]);
    if (fnv1a64(text) != f[2]) return damage;
    auto e = decode_envelope(text);
    if (!e || e->size != f[0] || e->id != kId) return damage;
    return Expected{.envelope = std::move(e), .free = false};
}

// The DSN that bit 4 puts beside the fuzzed message: intact, reporting bob@example.org of
// message kId as failed (a DSN committed just before a crash, its message's state unsaved).
Envelope companion_dsn() {
    Envelope e;
    e.id = std::string(kDsnId);
    e.set_recipients({"alice@example.test"});
    e.client = "local";
    e.arrival = std::chrono::system_clock::time_point(std::chrono::microseconds(1795437700000000));
    e.size = kDsnBody.size();
    e.dsn_of = std::string(kId);
    e.dsn_kind = "failure";
    e.dsn_rcpts = {"bob@example.org"};
    return e;
}

std::string file_with_trailer(std::string_view message, std::string_view envelope, std::uint64_t length) {
    std::string b(message);
    b += envelope;
    b += trailer(message.size(), length, fnv1a64(envelope));
    return b;
}

void check_recovery(const fs::path& dir, unsigned mode, std::string_view message, std::string_view envelope,
                    std::string_view state) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    CHECK(fs::create_directories(dir / "queue") && fs::create_directories(dir / "tmp"));
    const std::string id(kId);
    const fs::path file = dir / "queue" / id;
    const fs::path state_file = dir / "queue" / (id + ".state");

    std::optional<std::string> file_bytes;
    const bool in_place = (mode & 32) != 0;
    const std::uint64_t length = envelope.size() - ((mode & 3) == 2 && !envelope.empty() ? 1 : 0);
    switch (mode & 3) {
    case 0: file_bytes = std::string(message); break;
    case 1:
    case 2:
        if (in_place)
            file_bytes = std::string(message) + std::string(envelope) + "leftover" +
                         slot_trailer(message.size(), length, fnv1a64(envelope.substr(0, length)),
                                      data_hash(message) + ((mode & 64) ? 1 : 0));
        else
            file_bytes = file_with_trailer(message, envelope, length);
        break;
    default: break;
    }
    if (file_bytes) write_file(file, *file_bytes);
    const bool with_state = (mode & 4) != 0;
    if (with_state) write_file(state_file, state);
    const bool junk = (mode & 8) != 0;
    if (junk) {
        write_file(dir / "tmp" / id, message);
        write_file(dir / "queue" / "README", message);
        write_file(dir / "queue" / "0000000000000000000a", message);  // lower case: no queue id
        write_file(dir / "queue" / "ZZZZZZZZZZZZZZZZZZZZ.state", state);  // no message: an orphan
    }
    const bool with_dsn = (mode & 16) != 0;
    const Envelope dsn = companion_dsn();
    if (with_dsn) {
        const std::string text = encode_envelope(dsn);
        write_file(dir / "queue" / std::string(kDsnId), file_with_trailer(kDsnBody, text, text.size()));
    }

    Spool spool(dir);
    std::string detail;
    CHECK(!spool.open(detail));
    CHECK(fs::is_empty(dir / "tmp"));
    const Recovered r = spool.recover();

    // What recovery must find, read independently: the fuzzed message (embedded envelope,
    // or its .state when that matches), then the companion DSN.
    const Expected expected = file_bytes ? expected_embedded(*file_bytes) : Expected{};
    const std::optional<Envelope>& embedded = expected.envelope;
    const bool free_file = expected.free;
    std::vector<Envelope> want;
    if (embedded) {
        want.push_back(*embedded);
        if (with_state) {
            const auto current = decode_envelope(state);
            if (current && current->id == id && current->size == embedded->size &&
                current->recipients.size() == embedded->recipients.size())
                want.back() = *current;
        }
    }
    if (with_dsn) want.push_back(dsn);
    // Oldest arrival first (ties: by id, the order they are read in).
    std::stable_sort(want.begin(), want.end(), [](const Envelope& a, const Envelope& b) { return a.arrival < b.arrival; });
    // Then what each DSN among them reports is applied to the message it names: a message
    // with nobody left pending is finished (removed), any other changed one saved.
    std::size_t reconciled = 0;
    std::vector<bool> finished(want.size(), false), saved(want.size(), false);
    for (std::size_t i = 0; i < want.size(); ++i) {
        const Envelope about = want[i];
        for (std::size_t k = 0; k < want.size(); ++k) {
            if (about.dsn_of.empty() || want[k].id != about.dsn_of || !apply_dsn_record(want[k], about)) continue;
            ++reconciled;
            (want[k].all_final() ? finished : saved)[k] = true;
        }
    }

    CHECK(r.reconciled == reconciled);
    CHECK(r.orphans_removed == (with_state && (!file_bytes || free_file) ? 1u : 0u) + (junk ? 1u : 0u));
    if (free_file) {
        // Kept for reuse, ending in the free marker now; not a message.
        const auto kept = read_file(file);
        CHECK(kept && kept->size() == file_bytes->size() && kept->ends_with(kFreeMarker));
        CHECK(!fs::exists(state_file) && !fs::exists(dir / "corrupt" / id));
        CHECK(!spool.load(id));
    }
    if (file_bytes && !embedded && !free_file) {
        CHECK(r.corrupt.size() == 1);
        CHECK(r.corrupt[0].first == id && !r.corrupt[0].second.empty());
        CHECK(!fs::exists(file) && read_file(dir / "corrupt" / id) == file_bytes);
        CHECK(!fs::exists(state_file));
        if (with_state) CHECK(read_file(dir / "corrupt" / (id + ".state")) == std::string(state));
    } else {
        CHECK(r.corrupt.empty());
    }
    std::vector<std::string> listed;
    std::size_t next = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const fs::path path = dir / "queue" / want[i].id;
        const fs::path path_state = dir / "queue" / (want[i].id + ".state");
        if (finished[i]) {
            CHECK(!fs::exists(path) && !fs::exists(path_state));
            continue;
        }
        listed.push_back(want[i].id);
        CHECK(next < r.messages.size());
        const Envelope& got = r.messages[next++];
        CHECK(same(got, want[i]) && fs::exists(path));
        if (saved[i]) {
            const auto on_disk = read_file(path_state);
            CHECK(on_disk);
            const auto back = decode_envelope(*on_disk);
            CHECK(back && same(*back, got));
        }
        const auto bytes = spool.read_message(got.id);
        CHECK(bytes && bytes->size() == got.size);
        if (got.id == id) CHECK(*bytes == file_bytes->substr(0, got.size));
        const auto headers = spool.read_headers(got.id);
        CHECK(headers && bytes->starts_with(*headers));
    }
    CHECK(next == r.messages.size());
    std::sort(listed.begin(), listed.end());
    CHECK(spool.list() == listed);
    if (!file_bytes) CHECK(!fs::exists(state_file));
    if (junk) {
        CHECK(fs::exists(dir / "queue" / "README") && fs::exists(dir / "queue" / "0000000000000000000a"));
        CHECK(!fs::exists(dir / "queue" / "ZZZZZZZZZZZZZZZZZZZZ.state"));
    }

    // Restarting finds the same, with nothing left to move aside or to apply.
    Spool again(dir);
    CHECK(!again.open(detail));
    const Recovered r2 = again.recover();
    CHECK(r2.corrupt.empty() && r2.orphans_removed == 0 && r2.reconciled == 0);
    CHECK(r2.messages.size() == r.messages.size());
    for (std::size_t i = 0; i < r.messages.size(); ++i) CHECK(same(r.messages[i], r2.messages[i]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0 || size > 64 * 1024) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const unsigned mode = data[0];
    std::string_view parts[3];
    std::string_view rest = in.substr(1);
    for (int i = 0; i < 3; ++i) {
        const std::size_t cut = i < 2 ? rest.find(kCut) : std::string_view::npos;
        parts[i] = rest.substr(0, cut);
        if (cut == std::string_view::npos) break;
        rest.remove_prefix(cut + kCut.size());
    }

    for (const std::string_view& p : parts) check_decoded(p);
    check_decoded(in);

    // On tmpfs when there is one: recovery fsyncs directories, which on a disk costs more
    // than everything else here.
    static const fs::path base = ::access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : fs::temp_directory_path();
    static const fs::path dir = base / ("fuzz-spool-" + std::to_string(::getpid()));
    check_recovery(dir, mode, parts[0], parts[1], parts[2]);
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 0;
}
