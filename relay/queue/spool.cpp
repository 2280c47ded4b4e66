// relay/queue/spool.cpp — durable spool files (see spool.hpp).
#include "relay/queue/spool.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <span>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace signpost::queue {
namespace fs = std::filesystem;

namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

std::error_code write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return last_error();
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

std::error_code read_at(int fd, std::string& out, std::size_t length, std::uint64_t offset) {
    out.resize(length);
    std::size_t got = 0;
    while (got < length) {
        ssize_t n = ::pread(fd, out.data() + got, length - got, static_cast<off_t>(offset + got));
        if (n < 0) {
            if (errno == EINTR) continue;
            return last_error();
        }
        if (n == 0) return std::make_error_code(std::errc::io_error);  // shorter than promised
        got += static_cast<std::size_t>(n);
    }
    return {};
}

std::error_code fsync_dir(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return last_error();
    std::error_code ec;
    if (::fsync(fd) != 0) ec = last_error();
    ::close(fd);
    return ec;
}

std::uint64_t fnv1a64(std::string_view s) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

// "signpost-trailer " + 3 x (16 hex + separator)
constexpr std::string_view kTrailerTag = "signpost-trailer ";
constexpr std::size_t kTrailerSize = kTrailerTag.size() + 3 * 17;

void append_hex16(std::string& out, std::uint64_t v) {
    static constexpr char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; --i) out += hex[(v >> (4 * i)) & 0xf];
}

std::string make_trailer(std::uint64_t offset, std::string_view envelope) {
    std::string t(kTrailerTag);
    append_hex16(t, offset);
    t += ' ';
    append_hex16(t, envelope.size());
    t += ' ';
    append_hex16(t, fnv1a64(envelope));
    t += '\n';
    return t;
}

struct Trailer {
    std::uint64_t offset = 0, length = 0, checksum = 0;
};

// A message committed in place in a reused file ends in a longer trailer that also checks
// the message bytes: "signpost-commit <offset> <length> <fnv1a64 of the envelope>
// <DataHash of the message bytes>\n". A file that holds no message ends in the free marker
// of the same length.
constexpr std::string_view kSlotTag = "signpost-commit ";
constexpr std::string_view kFreeTag = "signpost-free   ";
constexpr std::size_t kSlotTrailerSize = kSlotTag.size() + 4 * 17;

std::string make_slot_trailer(std::uint64_t offset, std::string_view envelope, std::uint64_t data_hash) {
    std::string t(kSlotTag);
    for (std::uint64_t v : {offset, static_cast<std::uint64_t>(envelope.size()), fnv1a64(envelope), data_hash}) {
        append_hex16(t, v);
        t += ' ';
    }
    t.back() = '\n';
    return t;
}

const std::string& free_marker() {
    static const std::string m = [] {
        std::string t(kFreeTag);
        for (int i = 0; i < 4; ++i) t += "0000000000000000 ";
        t.back() = '\n';
        return t;
    }();
    return m;
}

// Makes the last octets of a file of `size` octets (size >= kSlotTrailerSize; a larger size
// extends the file) the free marker.
std::error_code write_free_marker(int fd, std::uint64_t size) {
    const auto& m = free_marker();
    const auto n = ::pwrite(fd, m.data(), m.size(), static_cast<off_t>(size - kSlotTrailerSize));
    if (n == static_cast<ssize_t>(m.size())) return {};
    return n < 0 ? last_error() : std::make_error_code(std::errc::io_error);
}

std::error_code write_free_marker(const fs::path& path, std::uint64_t size) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return last_error();
    auto ec = write_free_marker(fd, size);
    ::close(fd);
    return ec;
}

struct SlotTrailer {
    bool free = false;
    std::uint64_t offset = 0, length = 0, checksum = 0, data_hash = 0;
};

std::optional<SlotTrailer> parse_slot_trailer(std::string_view t) {
    if (t.size() != kSlotTrailerSize || t.back() != '\n') return std::nullopt;
    if (t == free_marker()) return SlotTrailer{.free = true};
    if (t.substr(0, kSlotTag.size()) != kSlotTag) return std::nullopt;
    SlotTrailer out;
    std::uint64_t* fields[] = {&out.offset, &out.length, &out.checksum, &out.data_hash};
    std::size_t pos = kSlotTag.size();
    for (int i = 0; i < 4; ++i, pos += 17) {
        auto [p, ec] = std::from_chars(t.data() + pos, t.data() + pos + 16, *fields[i], 16);
        if (ec != std::errc{} || p != t.data() + pos + 16) return std::nullopt;
        if (t[pos + 16] != (i < 3 ? ' ' : '\n')) return std::nullopt;
    }
    return out;
}

// A fast streaming 64-bit hash of the message bytes (8-octet words, multiply and shift; the
// definition is in spool.hpp), for telling a complete in-place write from one a power loss
// cut short. Not cryptographic.
class DataHash {
public:
    void update(std::string_view bytes) {
        total_ += bytes.size();
        while (!bytes.empty()) {
            if (fill_ == 0 && bytes.size() >= 8) {
                mix(word(bytes.data()));
                bytes.remove_prefix(8);
                continue;
            }
            std::size_t n = std::min<std::size_t>(8 - fill_, bytes.size());
            std::memcpy(carry_ + fill_, bytes.data(), n);
            fill_ += n;
            bytes.remove_prefix(n);
            if (fill_ == 8) {
                mix(word(carry_));
                fill_ = 0;
            }
        }
    }
    std::uint64_t value() const {
        unsigned char last[8] = {};
        std::memcpy(last, carry_, fill_);
        std::uint64_t h = (h_ ^ word(last) ^ total_) * 0x9e3779b97f4a7c15ULL;
        return h ^ (h >> 32);
    }

private:
    static std::uint64_t word(const void* p) {  // 8 octets, little-endian
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
        return w;
    }
    void mix(std::uint64_t w) {
        h_ = (h_ ^ w) * 0x9e3779b97f4a7c15ULL;
        h_ ^= h_ >> 29;
    }
    std::uint64_t h_ = 0x243f6a8885a308d3ULL;
    std::uint64_t total_ = 0;
    unsigned char carry_[8] = {};
    std::size_t fill_ = 0;
};

std::optional<Trailer> parse_trailer(std::string_view t) {
    if (t.size() != kTrailerSize || t.substr(0, kTrailerTag.size()) != kTrailerTag || t.back() != '\n')
        return std::nullopt;
    Trailer out;
    std::uint64_t* fields[] = {&out.offset, &out.length, &out.checksum};
    std::size_t pos = kTrailerTag.size();
    for (int i = 0; i < 3; ++i, pos += 17) {
        auto [p, ec] = std::from_chars(t.data() + pos, t.data() + pos + 16, *fields[i], 16);
        if (ec != std::errc{} || p != t.data() + pos + 16) return std::nullopt;
        char sep = t[pos + 16];
        if (sep != (i < 2 ? ' ' : '\n')) return std::nullopt;
    }
    return out;
}

void record(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ' ';
    out += std::to_string(value.size());
    out += '\n';
    out += value;
    out += '\n';
}

long long micros(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_micros(long long us) {
    return std::chrono::system_clock::time_point(std::chrono::microseconds(us));
}

// Whether from_micros(us) is a time system_clock can hold (its ticks are finer than a
// microsecond: a larger count would overflow). Anything else in a file is damage.
bool clock_micros(long long us) {
    using std::chrono::duration_cast;
    using std::chrono::microseconds;
    using std::chrono::system_clock;
    return us >= duration_cast<microseconds>(system_clock::duration::min()).count() &&
           us <= duration_cast<microseconds>(system_clock::duration::max()).count();
}

}  // namespace

namespace detail {

// One message handed to the committer: its file, complete, open until synced.
struct PendingCommit {
    std::string id;
    fs::path from;  // where the complete file is (spare/<name>)
    int fd = -1;
    std::error_code result;
    // Guarded by Committer::mu_: the batch it was in is done, or it is to lead the next.
    bool done = false;
    bool lead = false;
    std::condition_variable wake;  // notified under Committer::mu_
};

class Committer {
public:
    Committer(fs::path dir, bool group) : dir_(std::move(dir)), group_(group) {}

    // Returns once `p` is durable in queue/ (success) or not committed at all (error).
    // Closes p's file descriptor either way.
    std::error_code commit(PendingCommit& p) {
        // Each session syncs its own file, concurrently with the others: the filesystem
        // journal merges concurrent fsyncs into shared commits. Only then is it queued.
        if (::fsync(p.fd) != 0) p.result = last_error();
        ::close(p.fd);
        p.fd = -1;
        if (p.result) return p.result;
        if (!group_) {
            PendingCommit* one = &p;
            run_batch(std::span<PendingCommit* const>(&one, 1));
            return p.result;
        }
        // Leader/follower: the first to find no batch running leads one for everything
        // queued; the others sleep until their batch is done, or until they are told to
        // lead the next one. Each waiter is woken on its own (no herd of every waiter per
        // batch), always under mu_, so a waiter that returns has been notified already.
        std::unique_lock lk(mu_);
        queue_.push_back(&p);
        if (!leader_active_) {
            leader_active_ = true;
            p.lead = true;
        }
        while (!p.done && !p.lead) p.wake.wait(lk);
        if (p.done) return p.result;
        std::vector<PendingCommit*> batch;
        batch.swap(queue_);
        lk.unlock();
        run_batch(batch);
        lk.lock();
        for (auto* q : batch) {
            if (q == &p) continue;
            q->done = true;
            q->wake.notify_one();
        }
        if (queue_.empty()) {
            leader_active_ = false;
        } else {
            queue_.front()->lead = true;
            queue_.front()->wake.notify_one();
        }
        return p.result;
    }

    std::uint64_t batches() const { return batches_.load(); }
    std::uint64_t dir_syncs() const { return dir_syncs_.load(); }

private:
    void run_batch(std::span<PendingCommit* const> batch) {
        batches_.fetch_add(1);
        bool any = false;
        for (auto* p : batch) {
            if (p->result) continue;
            if (::rename(p->from.c_str(), (dir_ / "queue" / p->id).c_str()) != 0)
                p->result = last_error();
            else
                any = true;
        }
        if (!any) return;
        dir_syncs_.fetch_add(1);
        if (auto ec = fsync_dir(dir_ / "queue")) {
            // Not known durable: undo every file of the batch so none is acknowledged.
            for (auto* p : batch) {
                if (p->result) continue;
                ::unlink((dir_ / "queue" / p->id).c_str());
                p->result = ec;
            }
        }
    }

    const fs::path dir_;
    const bool group_;
    std::mutex mu_;
    std::vector<PendingCommit*> queue_;  // waiting for the next batch
    bool leader_active_ = false;
    std::atomic<std::uint64_t> batches_{0};
    std::atomic<std::uint64_t> dir_syncs_{0};
};

// Makes unlinks in one directory durable: every sync() returns after an fsync of the
// directory that began after the call, and calls arriving together share one fsync
// (leader/follower: the first waiter with no fsync running does one for all).
class DirSyncer {
public:
    explicit DirSyncer(fs::path dir) : dir_(std::move(dir)) {}

    std::error_code sync() {
        std::unique_lock lk(mu_);
        const std::uint64_t ticket = ++requested_;
        while (completed_ < ticket) {
            if (running_) {
                cv_.wait(lk);
                continue;
            }
            running_ = true;
            const std::uint64_t upto = requested_;
            lk.unlock();
            std::error_code ec = fsync_dir(dir_);
            syncs_.fetch_add(1);
            lk.lock();
            if (ec) failures_.push_back({completed_ + 1, upto, ec});
            if (failures_.size() > 64) failures_.erase(failures_.begin());
            completed_ = upto;
            running_ = false;
            cv_.notify_all();
        }
        for (const auto& f : failures_)
            if (ticket >= f.from && ticket <= f.to) return f.ec;
        return {};
    }

    std::uint64_t syncs() const { return syncs_.load(); }

private:
    struct Failure {
        std::uint64_t from, to;
        std::error_code ec;
    };
    const fs::path dir_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::uint64_t requested_ = 0;
    std::uint64_t completed_ = 0;
    bool running_ = false;
    std::vector<Failure> failures_;  // recent failed fsyncs and the tickets they covered
    std::atomic<std::uint64_t> syncs_{0};
};

// Free message files (slots) in queue/ kept for reuse (see spool.hpp): names of files that
// hold no message, with their sizes. take() hands one out (it is then busy: owned by one
// IncomingMessage until it commits a message there or gives the file back), give() puts one
// back; at most kMaxSpareFiles files and kMaxSpareBytes in all are kept free.
class SparePool {
public:
    std::optional<std::pair<std::string, std::uint64_t>> take() {
        std::lock_guard lk(mu_);
        if (files_.empty()) return std::nullopt;
        auto it = std::prev(files_.end());
        std::pair<std::string, std::uint64_t> out = *it;
        files_.erase(it);
        bytes_ -= out.second;
        busy_.insert(out.first);
        return out;
    }
    bool has_room(std::uint64_t size) {
        std::lock_guard lk(mu_);
        return room(size);
    }
    // False when there is no room: the caller removes the file instead. Either way the name
    // is no longer busy.
    bool give(const std::string& name, std::uint64_t size) {
        std::lock_guard lk(mu_);
        busy_.erase(name);
        if (!room(size)) return false;
        files_.emplace(name, size);
        bytes_ += size;
        return true;
    }
    // A file about to become free (renamed for reuse, not yet durable): busy until give().
    void reserve(const std::string& name) {
        std::lock_guard lk(mu_);
        busy_.insert(name);
    }
    // A busy file now holds a committed message (or is gone).
    void settle(const std::string& name) {
        std::lock_guard lk(mu_);
        busy_.erase(name);
    }
    // Whether queue/<name> is a free or busy file (no message) as far as this process knows.
    bool owns(const std::string& name) {
        std::lock_guard lk(mu_);
        return files_.count(name) || busy_.count(name);
    }
    std::size_t size() {
        std::lock_guard lk(mu_);
        return files_.size();
    }

private:
    bool room(std::uint64_t size) const {
        return files_.size() < kMaxSpareFiles && size <= kMaxSpareSize && bytes_ + size <= kMaxSpareBytes;
    }
    std::mutex mu_;
    std::map<std::string, std::uint64_t> files_;  // free, by name (take() hands out the newest)
    std::set<std::string> busy_;
    std::uint64_t bytes_ = 0;
};

}  // namespace detail

namespace {

class FileMessage final : public IncomingMessage {
public:
    // A new file: spare/<id>, renamed into queue/ by the committer at commit.
    FileMessage(fs::path dir, std::string id, int fd, std::shared_ptr<detail::Committer> committer,
                std::shared_ptr<detail::SparePool> spare)
        : dir_(std::move(dir)), id_(std::move(id)), fd_(fd), committer_(std::move(committer)), spare_(std::move(spare)) {}
    // A free file queue/<id> of `size` octets (ending in the free marker), written in place.
    FileMessage(fs::path dir, std::string id, int fd, std::uint64_t size, std::shared_ptr<detail::SparePool> spare)
        : dir_(std::move(dir)), id_(std::move(id)), fd_(fd), in_place_(true), size_(size), spare_(std::move(spare)) {}
    ~FileMessage() override {
        if (!committed_) abort();
    }

    std::error_code write(std::string_view bytes) override {
        if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
        written_ += bytes.size();
        if (in_place_) hash_.update(bytes);
        if (buffer_.size() + bytes.size() > kBuffer) {
            if (auto ec = flush()) return ec;
            if (bytes.size() >= kBuffer) return put(bytes);
        }
        if (buffer_.capacity() == 0) buffer_.reserve(kBuffer);
        buffer_.append(bytes);
        return {};
    }

    std::error_code commit(Envelope& envelope) override {
        if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
        envelope.id = id_;
        envelope.size = written_;
        std::string env = encode_envelope(envelope);
        buffer_ += env;
        if (in_place_) return commit_in_place(env);
        buffer_ += make_trailer(written_, env);
        if (auto ec = flush()) return ec;  // abort() (here or in the destructor) removes it
        detail::PendingCommit p;
        p.id = id_;
        p.from = dir_ / "spare" / id_;
        p.fd = fd_;
        fd_ = -1;  // the committer syncs and closes it
        if (auto ec = committer_->commit(p)) {
            // Renamed and then undone (the batch's fsync of queue/ failed): the file is
            // gone. Otherwise it is still in spare/ and abort() removes it.
            if (p.result && !fs::exists(p.from)) gone_ = true;
            return ec;
        }
        committed_ = true;
        return {};
    }

    void abort() override {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        if (gone_) return;
        gone_ = true;
        if (!in_place_) {
            ::unlink((dir_ / "spare" / id_).c_str());
            return;
        }
        // The file ends in the free marker (written before anything could overwrite the
        // one it had): free again, or removed when enough are kept.
        if (!spare_->give(id_, size_)) ::unlink((dir_ / "queue" / id_).c_str());
    }

    const std::string& id() const override { return id_; }

private:
    static constexpr std::size_t kBuffer = 64 * 1024;

    // In place: message bytes and envelope from offset 0, the slot trailer at the end of the
    // file (what lies between is left over from earlier messages and never read), then one
    // fdatasync: the file's size and name do not change, so no directory or inode update
    // is waited for.
    std::error_code commit_in_place(std::string_view env) {
        if (auto ec = flush()) return ec;
        const std::string trailer = make_slot_trailer(written_, env, hash_.value());
        std::error_code ec;
        if (::pwrite(fd_, trailer.data(), trailer.size(), static_cast<off_t>(size_ - kSlotTrailerSize)) !=
            static_cast<ssize_t>(trailer.size()))
            ec = errno ? last_error() : std::make_error_code(std::errc::io_error);
        else if (::fdatasync(fd_) != 0)
            ec = last_error();
        if (ec) {
            // Not known durable: not a message. The file is given up (a failed sync leaves
            // it suspect); should the removal not last, recovery finds either marker.
            write_free_marker(fd_, size_);
            ::close(fd_);
            fd_ = -1;
            ::unlink((dir_ / "queue" / id_).c_str());
            spare_->settle(id_);
            gone_ = true;
            return ec;
        }
        ::close(fd_);
        fd_ = -1;
        spare_->settle(id_);
        committed_ = true;
        return {};
    }

    // Writes at the current offset. In place, the file is first made long enough that the
    // bytes never reach its last kSlotTrailerSize octets, which keep a free marker (written
    // past the old end, which extends the file in the same call).
    std::error_code put(std::string_view data) {
        if (in_place_ && offset_ + data.size() + kSlotTrailerSize > size_) {
            const std::uint64_t want = std::max<std::uint64_t>(offset_ + data.size() + 4096, 2 * size_) + kSlotTrailerSize;
            if (auto ec = write_free_marker(fd_, want)) return ec;
            size_ = want;
        }
        if (auto ec = write_all(fd_, data)) return ec;
        offset_ += data.size();
        return {};
    }

    std::error_code flush() {
        auto ec = put(buffer_);
        buffer_.clear();
        return ec;
    }

    fs::path dir_;
    std::string id_;
    int fd_;
    bool in_place_ = false;
    std::uint64_t size_ = 0;    // in place: the file's size
    std::uint64_t offset_ = 0;  // octets written to the file so far
    std::string buffer_;
    std::uint64_t written_ = 0;
    DataHash hash_;
    std::shared_ptr<detail::Committer> committer_;
    std::shared_ptr<detail::SparePool> spare_;
    bool committed_ = false;
    bool gone_ = false;  // nothing left to give back or remove
};

// What a file in queue/ holds: a message (its envelope as committed), no message (a free
// file: the free marker, or the slot trailer of a message that was removed and whose file
// was renamed for reuse), or damage (`why`).
struct Embedded {
    std::optional<Envelope> envelope;
    bool free = false;
};

// `name`: the file's name in queue/. With `check_data`, a message committed in place also
// has its bytes checked against the trailer (recovery: a power loss may have cut the write
// short; such a message was never acknowledged).
Embedded read_embedded(const fs::path& path, std::string_view name, bool check_data, std::string* why) {
    auto fail = [why](std::string text) {
        if (why) *why = std::move(text);
        return Embedded{};
    };
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(std::string("cannot open: ") + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) < kTrailerSize)
        return fail("no trailer (file too short)");
    const auto file_size = static_cast<std::uint64_t>(st.st_size);
    std::uint64_t offset = 0, length = 0, checksum = 0;
    std::optional<std::uint64_t> data_hash;
    std::string text;
    if (file_size >= kSlotTrailerSize && !read_at(fd, text, kSlotTrailerSize, file_size - kSlotTrailerSize) &&
        (text.starts_with(kSlotTag) || text.starts_with(kFreeTag))) {
        auto t = parse_slot_trailer(text);
        if (t && t->free) return Embedded{.envelope = std::nullopt, .free = true};
        const std::uint64_t room = file_size - kSlotTrailerSize;  // no sum of file fields: they may wrap
        if (!t || t->offset > room || t->length > room - t->offset) return fail("damaged trailer");
        offset = t->offset, length = t->length, checksum = t->checksum, data_hash = t->data_hash;
    } else {
        if (read_at(fd, text, kTrailerSize, file_size - kTrailerSize)) return fail("cannot read the trailer");
        auto t = parse_trailer(text);
        if (!t || t->offset + t->length + kTrailerSize != file_size) return fail("damaged trailer");
        offset = t->offset, length = t->length, checksum = t->checksum;
    }
    if (length > (16u << 20)) return fail("damaged trailer");
    if (read_at(fd, text, length, offset)) return fail("cannot read the envelope");
    if (fnv1a64(text) != checksum) return fail("envelope checksum mismatch");
    auto e = decode_envelope(text);
    if (!e) return fail("damaged envelope records");
    if (e->size != offset) return fail("envelope size does not match the file");
    // A file written in place that names another message held that message once: it was
    // removed, and its file renamed for reuse before the free marker reached the disk.
    if (data_hash && e->id != name) return Embedded{.envelope = std::nullopt, .free = true};
    if (data_hash && check_data) {
        DataHash h;
        std::string chunk;
        for (std::uint64_t at = 0; at < offset; at += chunk.size()) {
            if (read_at(fd, chunk, std::min<std::uint64_t>(offset - at, 1 << 20), at))
                return fail("cannot read the message");
            h.update(chunk);
        }
        if (h.value() != *data_hash) return fail("message checksum mismatch (a write cut short)");
    }
    return Embedded{.envelope = std::move(e), .free = false};
}

std::optional<std::string> slurp(const fs::path& path, std::size_t limit) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string out;
    char buf[16384];
    while (out.size() < limit) {
        ssize_t n = ::read(fd, buf, std::min(sizeof buf, limit - out.size()));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

}  // namespace

const char* to_string(RcptState s) {
    switch (s) {
        case RcptState::pending: return "pending";
        case RcptState::delivered: return "delivered";
        case RcptState::failed: return "failed";
    }
    return "pending";
}

void Envelope::set_recipients(const std::vector<std::string>& addresses) {
    recipients.clear();
    for (const auto& a : addresses) {
        Recipient r;
        r.address = a;
        recipients.push_back(std::move(r));
    }
}

bool Envelope::all_final() const {
    return std::none_of(recipients.begin(), recipients.end(),
                        [](const Recipient& r) { return r.state == RcptState::pending; });
}

std::string encode_envelope(const Envelope& e) {
    std::string out = "signpost-envelope 1\n";
    record(out, "id", e.id);
    record(out, "from", e.mail_from);
    for (const auto& r : e.recipients) {
        record(out, "rcpt", r.address);
        if (r.state != RcptState::pending || r.attempts || r.reported || micros(r.next_attempt))
            record(out, "rstate",
                   std::string(to_string(r.state)) + ' ' + std::to_string(r.attempts) + ' ' +
                       std::to_string(micros(r.last_attempt)) + ' ' + std::to_string(micros(r.next_attempt)) +
                       (r.reported ? " reported" : ""));
        if (r.reply_code || !r.enhanced.empty() || !r.reply_text.empty())
            record(out, "rreply",
                   std::to_string(r.reply_code) + ' ' + (r.enhanced.empty() ? "-" : r.enhanced) + ' ' + r.reply_text);
        if (!r.remote_host.empty()) record(out, "rhost", r.remote_host);
    }
    record(out, "user", e.user);
    record(out, "client", e.client);
    record(out, "prepend", e.prepend);
    record(out, "arrival", std::to_string(micros(e.arrival)));
    record(out, "size", std::to_string(e.size));
    record(out, "flags", std::string(e.smtputf8 ? "u" : "") + (e.body_8bit ? "8" : "") + (e.held ? "h" : "") +
                             (e.warned ? "w" : "") + (e.requiretls ? "r" : "") + (e.tls_required_no ? "n" : ""));
    // Whatever of the three is set is written (decode keeps each on its own).
    if (!e.dsn_of.empty() || !e.dsn_kind.empty() || !e.dsn_rcpts.empty()) {
        record(out, "dsn-of", e.dsn_of);
        record(out, "dsn-kind", e.dsn_kind);
        for (const auto& a : e.dsn_rcpts) record(out, "dsn-rcpt", a);
    }
    out += "end\n";
    return out;
}

std::optional<Envelope> decode_envelope(std::string_view text) {
    constexpr std::string_view magic = "signpost-envelope 1\n";
    if (text.substr(0, magic.size()) != magic) return std::nullopt;
    text.remove_prefix(magic.size());
    Envelope e;
    auto number = [](std::string_view s, auto& v) {
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        return !s.empty() && ec == std::errc{} && p == s.data() + s.size();
    };
    auto next_word = [](std::string_view& s) {
        auto sp = s.find(' ');
        std::string_view w = s.substr(0, sp);
        s = sp == std::string_view::npos ? std::string_view{} : s.substr(sp + 1);
        return w;
    };
    bool have_id = false, have_from = false;
    while (true) {
        if (text == "end\n") break;
        auto sp = text.find(' ');
        auto nl = text.find('\n');
        if (sp == std::string_view::npos || nl == std::string_view::npos || sp > nl) return std::nullopt;
        std::string_view name = text.substr(0, sp);
        std::size_t len = 0;
        if (!number(text.substr(sp + 1, nl - sp - 1), len)) return std::nullopt;
        // len first: a length near SIZE_MAX would wrap the sum below around to a small one.
        if (len >= text.size() || text.size() < nl + 1 + len + 1 || text[nl + 1 + len] != '\n') return std::nullopt;
        std::string_view value = text.substr(nl + 1, len);
        text.remove_prefix(nl + 1 + len + 1);
        if (name == "id") e.id = value, have_id = true;
        else if (name == "from") e.mail_from = value, have_from = true;
        else if (name == "rcpt") {
            e.recipients.emplace_back();
            e.recipients.back().address = value;
        }
        else if (name == "rstate" || name == "rreply" || name == "rhost") {
            if (e.recipients.empty()) return std::nullopt;  // state for no recipient
            Recipient& r = e.recipients.back();
            std::string_view v = value;
            if (name == "rstate") {
                std::string_view st = next_word(v);
                if (st == "pending") r.state = RcptState::pending;
                else if (st == "delivered") r.state = RcptState::delivered;
                else if (st == "failed") r.state = RcptState::failed;
                else return std::nullopt;
                long long last = 0, next = 0;
                if (!number(next_word(v), r.attempts) || !number(next_word(v), last) || !number(next_word(v), next) ||
                    !clock_micros(last) || !clock_micros(next))
                    return std::nullopt;
                r.last_attempt = from_micros(last);
                r.next_attempt = from_micros(next);
                std::string_view rest = next_word(v);
                if (!rest.empty() && rest != "reported") return std::nullopt;
                r.reported = rest == "reported";
            } else if (name == "rreply") {
                if (!number(next_word(v), r.reply_code)) return std::nullopt;
                std::string_view enh = next_word(v);
                r.enhanced = enh == "-" ? "" : std::string(enh);
                r.reply_text = v;
            } else {
                r.remote_host = value;
            }
        } else if (name == "user") e.user = value;
        else if (name == "client") e.client = value;
        else if (name == "prepend") e.prepend = value;
        else if (name == "arrival") {
            long long us = 0;
            if (!number(value, us) || !clock_micros(us)) return std::nullopt;
            e.arrival = from_micros(us);
        } else if (name == "size") {
            if (!number(value, e.size)) return std::nullopt;
        } else if (name == "flags") {
            e.smtputf8 = value.find('u') != std::string_view::npos;
            e.body_8bit = value.find('8') != std::string_view::npos;
            e.held = value.find('h') != std::string_view::npos;
            e.warned = value.find('w') != std::string_view::npos;
            e.requiretls = value.find('r') != std::string_view::npos;
            e.tls_required_no = value.find('n') != std::string_view::npos;
        } else if (name == "dsn-of") e.dsn_of = value;
        else if (name == "dsn-kind") e.dsn_kind = value;
        else if (name == "dsn-rcpt") e.dsn_rcpts.emplace_back(value);
        // unknown records are skipped: later versions may add some
    }
    if (!have_id || !have_from || e.recipients.empty() || !Spool::valid_id(e.id)) return std::nullopt;
    return e;
}

Spool::Spool(fs::path dir, SpoolOptions options)
    : dir_(std::move(dir)),
      options_(options),
      committer_(std::make_shared<detail::Committer>(dir_, options.group_commit)),
      remover_(std::make_shared<detail::DirSyncer>(dir_ / "queue")),
      spare_(std::make_shared<detail::SparePool>()) {}

std::size_t Spool::spare_files() const { return spare_->size(); }

std::uint64_t Spool::batches() const { return committer_->batches(); }
std::uint64_t Spool::dir_syncs() const { return committer_->dir_syncs(); }
std::uint64_t Spool::removal_syncs() const { return remover_->syncs(); }

std::error_code Spool::open(std::string& detail) {
    for (const char* sub : {"tmp", "queue", "corrupt", "spare"}) {
        std::error_code ec;
        fs::create_directories(dir_ / sub, ec);
        if (ec) {
            detail = (dir_ / sub).string() + ": " + ec.message();
            return ec;
        }
        fs::permissions(dir_ / sub, fs::perms::owner_all, ec);  // mail is nobody else's business
    }
    {
        std::error_code ec;
        fs::permissions(dir_, fs::perms::owner_all, ec);
    }
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_ / "tmp", ec)) fs::remove(entry.path(), ec);
    // Whatever is in spare/ was never committed: removed. (Free files in queue/ are found by
    // recover().)
    for (const auto& entry : fs::directory_iterator(dir_ / "spare", ec)) fs::remove(entry.path(), ec);
    // Probe that we can write here (a full disk is not a reason to refuse to start: what is
    // queued can still be delivered; begin() refuses new mail meanwhile).
    std::string probe_name = "probe-" + new_id();
    int fd = ::open((dir_ / "tmp" / probe_name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        auto err = last_error();
        detail = (dir_ / "tmp").string() + ": " + err.message();
        return err;
    }
    ::close(fd);
    ::unlink((dir_ / "tmp" / probe_name).c_str());
    return {};
}

bool apply_dsn_record(Envelope& original, const Envelope& dsn) {
    if (dsn.dsn_of.empty() || dsn.dsn_of != original.id) return false;
    bool changed = false;
    if (dsn.dsn_kind == "delay") {
        changed = !original.warned;
        original.warned = true;
        return changed;
    }
    if (dsn.dsn_kind != "failure") return false;
    for (const auto& address : dsn.dsn_rcpts) {
        for (auto& r : original.recipients) {
            if (r.address != address || r.state == RcptState::delivered) continue;
            if (r.state == RcptState::failed && r.reported) break;
            r.state = RcptState::failed;
            r.reported = true;
            if (r.enhanced.empty() || r.enhanced[0] != '5') r.enhanced = "5.0.0";
            if (r.reply_text.empty()) r.reply_text = "reported as failed in DSN " + dsn.id;
            changed = true;
            break;
        }
    }
    return changed;
}

Recovered Spool::recover() {
    Recovered out;
    recovered_ = false;
    std::vector<std::string> ids;
    std::error_code dir_ec;
    for (const auto& entry : fs::directory_iterator(dir_ / "queue", dir_ec)) {
        std::string name = entry.path().filename().string();
        if (valid_id(name) && !spare_->owns(name)) ids.push_back(std::move(name));
    }
    std::sort(ids.begin(), ids.end());
    for (const auto& id : ids) {
        std::string why;
        const fs::path path = message_path(id);
        if (read_embedded(path, id, false, nullptr).free) {
            // A free file: kept for reuse (ending in the free marker), or removed.
            std::error_code size_ec;
            const auto size = fs::file_size(path, size_ec);
            bool kept = false;
            if (!size_ec && size >= kSlotTrailerSize && spare_->has_room(size))
                kept = !write_free_marker(path, size) && spare_->give(id, size);
            if (!kept) ::unlink(path.c_str());
            if (::unlink((dir_ / "queue" / (id + ".state")).c_str()) == 0) ++out.orphans_removed;
            continue;
        }
        auto e = load_checked(id, true, &why);
        if (e) {
            out.messages.push_back(std::move(*e));
            continue;
        }
        move_to_corrupt(id);
        out.corrupt.emplace_back(id, why);
    }
    recovered_ = true;
    // Oldest first: a message written into a reused file has that file's (older) name as its
    // id, so the order is by arrival.
    std::stable_sort(out.messages.begin(), out.messages.end(),
                     [](const Envelope& a, const Envelope& b) { return a.arrival < b.arrival; });
    // A DSN committed just before a crash, whose message's state was not saved after it:
    // what the DSN reported is applied (and saved) now, so it is not reported twice.
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < out.messages.size(); ++i) index[out.messages[i].id] = i;
    std::vector<bool> finished(out.messages.size(), false);
    for (const auto& dsn : out.messages) {
        auto it = dsn.dsn_of.empty() ? index.end() : index.find(dsn.dsn_of);
        if (it == index.end()) continue;
        Envelope& original = out.messages[it->second];
        if (!apply_dsn_record(original, dsn)) continue;
        ++out.reconciled;
        if (original.all_final()) {
            if (!remove(original.id)) finished[it->second] = true;
        } else {
            save_state(original);
        }
    }
    for (std::size_t i = out.messages.size(); i-- > 0;)
        if (finished[i]) out.messages.erase(out.messages.begin() + static_cast<std::ptrdiff_t>(i));
    // A .state whose message is gone (removed between the two unlinks) is left-over.
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_ / "queue", ec)) {
        const auto& p = entry.path();
        if (p.extension() == ".state" && !fs::exists(fs::path(p).replace_extension(""))) {
            fs::remove(p, ec);
            ++out.orphans_removed;
        }
    }
    return out;
}

bool Spool::low_on_space() const {
    if (options_.min_free_space == 0) return false;
    auto free = free_space();
    return free && *free < options_.min_free_space;
}

std::error_code Spool::begin(std::unique_ptr<IncomingMessage>& out) {
    if (low_on_space()) return std::make_error_code(std::errc::no_space_on_device);
    // A free file first, written in place: no inode to allocate, no name to change, so the
    // commit waits for its data only.
    while (auto slot = spare_->take()) {
        const auto& [name, size] = *slot;
        int fd = ::open((dir_ / "queue" / name).c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st {};
        if (fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            static_cast<std::uint64_t>(st.st_size) == size && size >= kSlotTrailerSize) {
            out = std::make_unique<FileMessage>(dir_, name, fd, size, spare_);
            return {};
        }
        if (fd >= 0) ::close(fd);
        ::unlink((dir_ / "queue" / name).c_str());
        spare_->settle(name);
    }
    std::string id = new_id();
    int fd = ::open((dir_ / "spare" / id).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return last_error();
    out = std::make_unique<FileMessage>(dir_, std::move(id), fd, committer_, spare_);
    return {};
}

std::error_code Spool::commit_message(Envelope& envelope, std::string_view bytes) {
    std::unique_ptr<IncomingMessage> m;
    if (auto ec = begin(m)) return ec;
    if (auto ec = m->write(bytes)) return ec;
    return m->commit(envelope);
}

std::vector<std::string> Spool::list() const {
    std::vector<std::string> ids;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_ / "queue", ec)) {
        std::string name = entry.path().filename().string();
        if (!valid_id(name) || spare_->owns(name)) continue;
        // Before recover() has sorted the free files out (a CLI reading the files), each is
        // looked at.
        if (!recovered_ && read_embedded(entry.path(), name, false, nullptr).free) continue;
        ids.push_back(std::move(name));
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::optional<Envelope> Spool::load(const std::string& id, std::string* why) const {
    return load_checked(id, false, why);
}

std::optional<Envelope> Spool::load_checked(const std::string& id, bool check_data, std::string* why) const {
    if (!valid_id(id)) {
        if (why) *why = "not a queue id";
        return std::nullopt;
    }
    if (spare_->owns(id)) {
        if (why) *why = "no message (a free file)";
        return std::nullopt;
    }
    auto found = read_embedded(message_path(id), id, check_data, why);
    if (found.free && why) *why = "no message (a free file)";
    auto& embedded = found.envelope;
    if (!embedded) return std::nullopt;
    // A file whose envelope names another message (copied or renamed by hand) is damage:
    // state, delivery and removal would all go by the other id and miss this file.
    if (embedded->id != id) {
        if (why) *why = "envelope names another queue id (" + embedded->id + ")";
        return std::nullopt;
    }
    if (auto text = slurp(dir_ / "queue" / (id + ".state"), 16u << 20)) {
        auto current = decode_envelope(*text);
        // A damaged or foreign state is ignored: the message is tried again from its
        // committed envelope (at worst a recipient gets a second copy; nothing is lost).
        if (current && current->id == id && current->size == embedded->size &&
            current->recipients.size() == embedded->recipients.size())
            return current;
    }
    return embedded;
}

std::error_code Spool::save_state(const Envelope& e) {
    if (!valid_id(e.id)) return std::make_error_code(std::errc::invalid_argument);
    fs::path tmp = dir_ / "tmp" / (e.id + ".state");
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return last_error();
    std::error_code ec = write_all(fd, encode_envelope(e));
    if (!ec && ::fsync(fd) != 0) ec = last_error();
    ::close(fd);
    if (!ec && ::rename(tmp.c_str(), (dir_ / "queue" / (e.id + ".state")).c_str()) != 0) ec = last_error();
    if (ec) {
        ::unlink(tmp.c_str());
        return ec;
    }
    return fsync_dir(dir_ / "queue");
}

std::error_code Spool::remove(const std::string& id) { return remove_all({&id, 1}).front(); }

std::vector<std::error_code> Spool::remove_all(std::span<const std::string> ids) {
    std::vector<std::error_code> results(ids.size());
    std::vector<bool> kept(ids.size(), false);
    std::vector<std::uint64_t> sizes(ids.size(), 0);
    std::vector<std::string> names(ids.size());
    const bool low = low_on_space();
    bool any = false;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const std::string& id = ids[i];
        if (!valid_id(id)) {
            results[i] = std::make_error_code(std::errc::invalid_argument);
            continue;
        }
        // A small file is kept for the next message: it gets the free marker at its end
        // and a new name in queue/ (a queue id is never used twice), and becomes free once
        // queue/ no longer lists the message durably. A large file is removed. Nothing is
        // kept while the disk is short of space.
        struct stat st {};
        const fs::path path = message_path(id);
        bool keep = !low && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
                    static_cast<std::uint64_t>(st.st_size) >= kSlotTrailerSize &&
                    spare_->has_room(static_cast<std::uint64_t>(st.st_size));
        sizes[i] = keep ? static_cast<std::uint64_t>(st.st_size) : 0;
        if (keep) keep = !write_free_marker(path, sizes[i]);
        if (keep) {
            // Busy from the start: list() never shows the new name as a message.
            names[i] = new_id();
            spare_->reserve(names[i]);
            if (::rename(path.c_str(), (dir_ / "queue" / names[i]).c_str()) != 0) {
                spare_->settle(names[i]);
                keep = false;
            }
        }
        if (!keep && ::unlink(path.c_str()) != 0 && errno != ENOENT) results[i] = last_error();
        ::unlink((dir_ / "queue" / (id + ".state")).c_str());
        kept[i] = keep;
        any = any || !results[i];
    }
    // One fsync of queue/ makes every removal above durable.
    const std::error_code synced = any ? remover_->sync() : std::error_code{};
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (!results[i]) results[i] = synced;
        if (!kept[i]) continue;
        if (results[i]) spare_->settle(names[i]);
        if (results[i] || !spare_->give(names[i], sizes[i])) ::unlink((dir_ / "queue" / names[i]).c_str());
    }
    return results;
}

std::error_code Spool::move_to_corrupt(const std::string& id) {
    if (!valid_id(id)) return std::make_error_code(std::errc::invalid_argument);
    std::error_code ec;
    fs::create_directories(dir_ / "corrupt", ec);
    if (::rename(message_path(id).c_str(), (dir_ / "corrupt" / id).c_str()) != 0 && errno != ENOENT)
        ec = last_error();
    fs::path state = dir_ / "queue" / (id + ".state");
    if (fs::exists(state)) ::rename(state.c_str(), (dir_ / "corrupt" / (id + ".state")).c_str());
    fsync_dir(dir_ / "corrupt");
    return ec;
}

fs::path Spool::message_path(const std::string& id) const { return dir_ / "queue" / id; }

std::optional<std::string> Spool::read_message(const std::string& id) const {
    auto e = load(id);
    if (!e) return std::nullopt;
    int fd = ::open(message_path(id).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string out;
    auto ec = read_at(fd, out, e->size, 0);
    ::close(fd);
    if (ec) return std::nullopt;
    return out;
}

std::optional<std::string> Spool::read_headers(const std::string& id, std::size_t limit) const {
    auto e = load(id);
    if (!e) return std::nullopt;
    auto text = slurp(message_path(id), std::min<std::uint64_t>(limit, e->size));
    if (!text) return std::nullopt;
    for (std::string_view sep : {"\r\n\r\n", "\n\n"}) {
        auto pos = text->find(sep);
        if (pos != std::string::npos) {
            text->resize(pos + sep.size());
            return text;
        }
    }
    return text;  // no body separator within the limit: all of it is header text
}

std::optional<std::uint64_t> Spool::free_space() const {
    struct statvfs st {};
    if (::statvfs(dir_.c_str(), &st) != 0) return std::nullopt;
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

bool Spool::valid_id(std::string_view id) {
    return id.size() == 20 && std::all_of(id.begin(), id.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
           });
}

std::string Spool::new_id() {
    static std::atomic<std::uint32_t> counter{[] {
        std::random_device rd;
        return rd();
    }()};
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    std::uint32_t c = counter.fetch_add(1);
    static constexpr char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    // 12 base-36 digits of microseconds (good past year 5000), then 8 of the counter.
    std::string out(20, '0');
    auto v = static_cast<unsigned long long>(us);
    for (int i = 11; i >= 0; --i, v /= 36) out[i] = digits[v % 36];
    std::uint64_t cv = c;
    for (int i = 19; i >= 12; --i, cv /= 36) out[i] = digits[cv % 36];
    return out;
}

}  // namespace signpost::queue
