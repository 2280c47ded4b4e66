// relay/delivery/capture.cpp — delivery into a directory (see capture.hpp).
#include "relay/delivery/capture.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>

#include <boost/asio/post.hpp>

#include "relay/delivery/results.hpp"

namespace signpost::delivery {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t block = 64 * 1024;

// A failed file operation: what, on which path, and errno.
struct FileError {
    std::string text;
    int error = 0;
};

FileError file_error(const std::string& what, const fs::path& path, int err) {
    return {what + " " + path.string() + ": " + std::strerror(err), err};
}

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    // Closes now and reports close()'s error (NFS and friends report write errors here).
    int close() {
        int rc = ::close(fd_);
        fd_ = -1;
        return rc;
    }

private:
    int fd_;
};

bool write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// Writes `dir/name` through a hidden temporary file: fill, fsync, close, rename.
std::optional<FileError> write_atomically(const fs::path& dir, const std::string& name,
                                          const std::function<std::optional<FileError>(int fd)>& fill) {
    const fs::path tmp = dir / ("." + name + ".tmp");
    const fs::path final_path = dir / name;
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) return file_error("create", tmp, errno);
    std::optional<FileError> err = fill(fd.get());
    if (!err && ::fsync(fd.get()) != 0) err = file_error("fsync", tmp, errno);
    if (fd.close() != 0 && !err) err = file_error("close", tmp, errno);
    if (!err && ::rename(tmp.c_str(), final_path.c_str()) != 0) err = file_error("rename", final_path, errno);
    if (err) ::unlink(tmp.c_str());
    return err;
}

std::optional<FileError> fsync_dir(const fs::path& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return file_error("open", dir, errno);
    if (::fsync(fd.get()) != 0) return file_error("fsync", dir, errno);
    return std::nullopt;
}

std::optional<FileError> ensure_dir(const fs::path& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) return std::nullopt;
        return file_error("use as capture directory", dir, ENOTDIR);
    }
    if (errno != ENOENT) return file_error("stat", dir, errno);
    std::error_code ec;
    if (dir.has_parent_path()) fs::create_directories(dir.parent_path(), ec);
    if (ec) return FileError{"create " + dir.parent_path().string() + ": " + ec.message(), ec.value()};
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return file_error("create", dir, errno);
    return std::nullopt;
}

bool plain_file_name(const std::string& id) {
    return !id.empty() && id != "." && id != ".." && id.front() != '.' &&
           id.find_first_of(std::string("/\0", 2)) == std::string::npos;
}

}  // namespace

std::vector<RecipientResult> capture_job(const fs::path& capture_dir, const Job& job) {
    auto fail = [&](const FileError& e) {
        const bool full = e.error == ENOSPC || e.error == EDQUOT;
        return results_for_all(job, Outcome::temporary, full ? "4.3.1" : "4.3.0", "capture: " + e.text);
    };
    if (!plain_file_name(job.queue_id)) return fail({"invalid queue id \"" + job.queue_id + "\"", EINVAL});
    if (auto e = ensure_dir(capture_dir)) return fail(*e);

    // The MAIL command as it would go out: the parameters the message needs.
    std::string envelope = "MAIL FROM:<" + job.mail_from + ">" + (job.body_8bit ? " BODY=8BITMIME" : "") +
                           (job.smtputf8 ? " SMTPUTF8" : "") + (job.requiretls ? " REQUIRETLS" : "") + "\n";
    for (const auto& r : job.recipients) envelope += "RCPT TO:<" + r + ">\n";
    auto e = write_atomically(capture_dir, job.queue_id + ".envelope", [&](int fd) -> std::optional<FileError> {
        if (!write_all(fd, envelope.data(), envelope.size()))
            return file_error("write", capture_dir / (job.queue_id + ".envelope"), errno);
        return std::nullopt;
    });
    if (e) return fail(*e);

    e = write_atomically(capture_dir, job.queue_id + ".eml", [&](int fd) -> std::optional<FileError> {
        const fs::path out = capture_dir / (job.queue_id + ".eml");
        if (!write_all(fd, job.prepend.data(), job.prepend.size())) return file_error("write", out, errno);
        Fd in(::open(job.message_file.c_str(), O_RDONLY | O_CLOEXEC));
        if (in.get() < 0) return file_error("open", job.message_file, errno);
        std::vector<char> buf(block);
        std::uint64_t left = job.size;
        while (left > 0) {
            const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
            ssize_t n = ::read(in.get(), buf.data(), want);
            if (n < 0) {
                if (errno == EINTR) continue;
                return file_error("read", job.message_file, errno);
            }
            if (n == 0) return FileError{"message file " + job.message_file.string() + " is shorter than its size", EIO};
            if (!write_all(fd, buf.data(), static_cast<std::size_t>(n))) return file_error("write", out, errno);
            left -= static_cast<std::uint64_t>(n);
        }
        return std::nullopt;
    });
    if (e) return fail(*e);
    // One directory fsync makes both renames durable before we report delivered.
    if (auto d = fsync_dir(capture_dir)) return fail(*d);

    auto results = results_for_all(job, Outcome::delivered, "2.0.0",
                                   "captured as " + (capture_dir / (job.queue_id + ".eml")).string(), 250);
    return results;
}

CaptureDeliverer::CaptureDeliverer(fs::path capture_dir, boost::asio::any_io_executor blocking, log::Logger logger)
    : impl_(std::make_shared<Impl>()) {
    impl_->dir = std::move(capture_dir);
    impl_->blocking = std::move(blocking);
    impl_->logger = std::move(logger);
}

void CaptureDeliverer::deliver(Job job, DoneHandler done) {
    auto impl = impl_;
    boost::asio::post(impl->blocking, [impl, job = std::move(job), done = std::move(done)]() mutable {
        std::vector<RecipientResult> results =
            impl->stopping.load() ? results_for_all(job, Outcome::temporary, "4.3.0", "delivery stopped")
                                  : capture_job(impl->dir, job);
        if (impl->logger) log_results(log::with_id(impl->logger, job.queue_id.empty() ? "-" : job.queue_id), results);
        done(std::move(results));
    });
}

void CaptureDeliverer::stop() { impl_->stopping = true; }

}  // namespace signpost::delivery
