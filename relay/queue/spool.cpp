// relay/queue/spool.cpp — durable spool files (see spool.hpp).
#include "relay/queue/spool.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <random>
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

std::error_code fsync_dir(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return last_error();
    std::error_code ec;
    if (::fsync(fd) != 0) ec = last_error();
    ::close(fd);
    return ec;
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
    FileMessage(fs::path dir, std::string id, int fd) : dir_(std::move(dir)), id_(std::move(id)), fd_(fd) {
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
        envelope.id = id_;
        if (auto ec = flush()) return ec;
        if (::fsync(fd_) != 0) return last_error();
        ::close(fd_);
        fd_ = -1;
        fs::path env_tmp = dir_ / "tmp" / (id_ + ".env");
        int efd = ::open(env_tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (efd < 0) return last_error();
        std::error_code ec = write_all(efd, encode_envelope(envelope));
        if (!ec && ::fsync(efd) != 0) ec = last_error();
        ::close(efd);
        if (ec) return ec;
        // The .msg first, then the .env: the envelope's arrival in queue/ is the commit.
        if (::rename((dir_ / "tmp" / (id_ + ".msg")).c_str(), (dir_ / "queue" / (id_ + ".msg")).c_str()) != 0)
            return last_error();
        if (::rename(env_tmp.c_str(), (dir_ / "queue" / (id_ + ".env")).c_str()) != 0) {
            auto err = last_error();
            ::unlink((dir_ / "queue" / (id_ + ".msg")).c_str());
            return err;
        }
        if (auto dec = fsync_dir(dir_ / "queue")) return dec;
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

Spool::Spool(fs::path dir) : dir_(std::move(dir)) {}

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
    out = std::make_unique<FileMessage>(dir_, std::move(id), fd);
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
