// relay/queue/spool.cpp — durable spool files (see spool.hpp).
#include "relay/queue/spool.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <random>
#include <span>
#include <unistd.h>

namespace signpost::queue {
namespace fs = std::filesystem;

namespace detail {

// One message handed to the committer: its written files in tmp/, open until synced.
struct PendingCommit {
    std::string id;
    int msg_fd = -1;
    int env_fd = -1;
    std::error_code result;
    bool done = false;  // guarded by Committer::mu_
};

class Committer {
public:
    Committer(fs::path dir, bool group) : dir_(std::move(dir)), group_(group) {}

    // Returns once `p` is durable in queue/ (success) or not committed at all (error).
    // Closes p's file descriptors either way.
    std::error_code commit(PendingCommit& p) {
        // Each session syncs its own files, concurrently with the others: the filesystem
        // journal merges concurrent fsyncs into shared commits. Only then is the pair queued.
        if (::fsync(p.msg_fd) != 0) p.result = last_error();
        if (!p.result && ::fsync(p.env_fd) != 0) p.result = last_error();
        ::close(p.msg_fd);
        ::close(p.env_fd);
        p.msg_fd = p.env_fd = -1;
        if (p.result) return p.result;
        if (!group_) {
            PendingCommit* one = &p;
            run_batch(std::span<PendingCommit* const>(&one, 1));
            return p.result;
        }
        std::unique_lock lk(mu_);
        queue_.push_back(&p);
        while (!p.done) {
            if (leader_active_) {
                cv_.wait(lk);
                continue;
            }
            // Leader: take everything queued (ours included) and commit it as one batch.
            leader_active_ = true;
            std::vector<PendingCommit*> batch;
            batch.swap(queue_);
            lk.unlock();
            run_batch(batch);
            lk.lock();
            for (auto* q : batch) q->done = true;
            leader_active_ = false;
            cv_.notify_all();
        }
        return p.result;
    }

    std::uint64_t batches() const { return batches_.load(); }
    std::uint64_t dir_syncs() const { return dir_syncs_.load(); }

private:
    fs::path tmp_path(const std::string& id, const char* ext) const { return dir_ / "tmp" / (id + ext); }
    fs::path queue_path(const std::string& id, const char* ext) const { return dir_ / "queue" / (id + ext); }

    void run_batch(std::span<PendingCommit* const> batch) {
        batches_.fetch_add(1);
        // Every .msg, then every .env: the envelope's arrival in queue/ is the commit.
        for (auto* p : batch) {
            if (p->result) continue;
            if (::rename(tmp_path(p->id, ".msg").c_str(), queue_path(p->id, ".msg").c_str()) != 0)
                p->result = last_error();
        }
        bool any = false;
        for (auto* p : batch) {
            if (p->result) continue;
            if (::rename(tmp_path(p->id, ".env").c_str(), queue_path(p->id, ".env").c_str()) != 0) {
                p->result = last_error();
                ::unlink(queue_path(p->id, ".msg").c_str());
            } else {
                any = true;
            }
        }
        if (!any) return;
        dir_syncs_.fetch_add(1);
        if (auto ec = fsync_queue()) {
            // Not known durable: undo every pair of the batch so none is acknowledged.
            for (auto* p : batch) {
                if (p->result) continue;
                ::unlink(queue_path(p->id, ".env").c_str());
                ::unlink(queue_path(p->id, ".msg").c_str());
                p->result = ec;
            }
        }
    }

    std::error_code fsync_queue() {
        int fd = ::open((dir_ / "queue").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return {errno, std::generic_category()};
        std::error_code ec;
        if (::fsync(fd) != 0) ec = {errno, std::generic_category()};
        ::close(fd);
        return ec;
    }

    static std::error_code last_error() { return {errno, std::generic_category()}; }

    const fs::path dir_;
    const bool group_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<PendingCommit*> queue_;  // waiting for the next batch
    bool leader_active_ = false;
    std::atomic<std::uint64_t> batches_{0};
    std::atomic<std::uint64_t> dir_syncs_{0};
};

}  // namespace detail

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

void record(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ' ';
    out += std::to_string(value.size());
    out += '\n';
    out += value;
    out += '\n';
}

class FileMessage final : public IncomingMessage {
public:
    FileMessage(fs::path dir, std::string id, int fd, std::shared_ptr<detail::Committer> committer)
        : dir_(std::move(dir)), id_(std::move(id)), fd_(fd), committer_(std::move(committer)) {
        buffer_.reserve(kBuffer);
    }
    ~FileMessage() override {
        if (!committed_) abort();
    }

    std::error_code write(std::string_view bytes) override {
        if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
        if (buffer_.size() + bytes.size() > kBuffer) {
            if (auto ec = flush()) return ec;
            if (bytes.size() >= kBuffer) return write_all(fd_, bytes);
        }
        buffer_.append(bytes);
        return {};
    }

    std::error_code commit(Envelope& envelope) override {
        if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
        envelope.id = id_;
        if (auto ec = flush()) return ec;
        fs::path env_tmp = dir_ / "tmp" / (id_ + ".env");
        int efd = ::open(env_tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (efd < 0) return last_error();
        if (auto ec = write_all(efd, encode_envelope(envelope))) {
            ::close(efd);
            return ec;  // abort() (here or in the destructor) removes both temporaries
        }
        detail::PendingCommit p;
        p.id = id_;
        p.msg_fd = fd_;
        p.env_fd = efd;
        fd_ = -1;  // the committer syncs and closes both
        if (auto ec = committer_->commit(p)) return ec;
        committed_ = true;
        return {};
    }

    void abort() override {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        ::unlink((dir_ / "tmp" / (id_ + ".msg")).c_str());
        ::unlink((dir_ / "tmp" / (id_ + ".env")).c_str());
    }

    const std::string& id() const override { return id_; }

private:
    static constexpr std::size_t kBuffer = 64 * 1024;

    std::error_code flush() {
        auto ec = write_all(fd_, buffer_);
        buffer_.clear();
        return ec;
    }

    fs::path dir_;
    std::string id_;
    int fd_;
    std::string buffer_;
    std::shared_ptr<detail::Committer> committer_;
    bool committed_ = false;
};

}  // namespace

std::string encode_envelope(const Envelope& e) {
    std::string out = "signpost-envelope 1\n";
    record(out, "id", e.id);
    record(out, "from", e.mail_from);
    for (const auto& r : e.rcpt_to) record(out, "rcpt", r);
    record(out, "user", e.user);
    record(out, "client", e.client);
    record(out, "prepend", e.prepend);
    record(out, "arrival",
           std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(e.arrival.time_since_epoch()).count()));
    record(out, "size", std::to_string(e.size));
    record(out, "flags", std::string(e.smtputf8 ? "u" : "") + (e.body_8bit ? "8" : ""));
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
        return ec == std::errc{} && p == s.data() + s.size();
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
        if (text.size() < nl + 1 + len + 1 || text[nl + 1 + len] != '\n') return std::nullopt;
        std::string_view value = text.substr(nl + 1, len);
        text.remove_prefix(nl + 1 + len + 1);
        if (name == "id") e.id = value, have_id = true;
        else if (name == "from") e.mail_from = value, have_from = true;
        else if (name == "rcpt") e.rcpt_to.emplace_back(value);
        else if (name == "user") e.user = value;
        else if (name == "client") e.client = value;
        else if (name == "prepend") e.prepend = value;
        else if (name == "arrival") {
            long long us = 0;
            if (!number(value, us)) return std::nullopt;
            e.arrival = std::chrono::system_clock::time_point(std::chrono::microseconds(us));
        } else if (name == "size") {
            if (!number(value, e.size)) return std::nullopt;
        } else if (name == "flags") {
            e.smtputf8 = value.find('u') != std::string_view::npos;
            e.body_8bit = value.find('8') != std::string_view::npos;
        }  // unknown records are skipped: later versions may add some
    }
    if (!have_id || !have_from || e.rcpt_to.empty()) return std::nullopt;
    return e;
}

Spool::Spool(fs::path dir, SpoolOptions options)
    : dir_(std::move(dir)), committer_(std::make_shared<detail::Committer>(dir_, options.group_commit)) {}

std::uint64_t Spool::batches() const { return committer_->batches(); }
std::uint64_t Spool::dir_syncs() const { return committer_->dir_syncs(); }

std::error_code Spool::open(std::string& detail) {
    for (const char* sub : {"tmp", "queue"}) {
        std::error_code ec;
        fs::create_directories(dir_ / sub, ec);
        if (ec) {
            detail = (dir_ / sub).string() + ": " + ec.message();
            return ec;
        }
    }
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_ / "tmp", ec)) fs::remove(entry.path(), ec);
    // A .msg in queue/ without its .env was never committed (crash between the renames).
    for (const auto& entry : fs::directory_iterator(dir_ / "queue", ec)) {
        const auto& p = entry.path();
        if (p.extension() == ".msg" && !fs::exists(fs::path(p).replace_extension(".env"))) fs::remove(p, ec);
    }
    // Probe that we can write here.
    std::unique_ptr<IncomingMessage> probe;
    if (auto bec = begin(probe)) {
        detail = (dir_ / "tmp").string() + ": " + bec.message();
        return bec;
    }
    probe->abort();
    return {};
}

std::error_code Spool::begin(std::unique_ptr<IncomingMessage>& out) {
    std::string id = new_id();
    fs::path tmp = dir_ / "tmp" / (id + ".msg");
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return last_error();
    out = std::make_unique<FileMessage>(dir_, std::move(id), fd, committer_);
    return {};
}

std::vector<std::string> Spool::list() const {
    std::vector<std::string> ids;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_ / "queue", ec))
        if (entry.path().extension() == ".env") ids.push_back(entry.path().stem().string());
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::optional<Envelope> Spool::read_envelope(const std::string& id) const {
    std::ifstream in(dir_ / "queue" / (id + ".env"), std::ios::binary);
    if (!in) return std::nullopt;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return decode_envelope(text);
}

fs::path Spool::message_path(const std::string& id) const { return dir_ / "queue" / (id + ".msg"); }

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
