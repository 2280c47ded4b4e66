// relay/queue/control.cpp — the queue's control socket, lock and views (see control.hpp).
#include "relay/queue/control.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "relay/queue/dsn.hpp"

namespace signpost::queue {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using local = asio::local::stream_protocol;

namespace {

constexpr std::size_t kMaxLine = 1024;

std::string json_string(std::string_view s) {
    std::string out = "\"";
    log::append_json_escaped(out, s);
    return out + "\"";
}

long long unix_seconds(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// 95 -> "1m35s", 7260 -> "2h1m", 200000 -> "2d7h"
std::string human(std::chrono::seconds d) {
    long long s = std::max<long long>(0, d.count());
    auto part = [](long long v, const char* unit) { return std::to_string(v) + unit; };
    if (s < 60) return part(s, "s");
    if (s < 3600) return part(s / 60, "m") + (s % 60 ? part(s % 60, "s") : "");
    if (s < 86400) return part(s / 3600, "h") + (s % 3600 / 60 ? part(s % 3600 / 60, "m") : "");
    return part(s / 86400, "d") + (s % 86400 / 3600 ? part(s % 86400 / 3600, "h") : "");
}

std::string size_text(std::uint64_t n) {
    if (n < 10000) return std::to_string(n);
    if (n < 10000000) return std::to_string(n / 1000) + "K";
    return std::to_string(n / 1000000) + "M";
}


std::string reply_of(const Recipient& r) {
    std::string out;
    if (r.reply_code) out += std::to_string(r.reply_code) + ' ';
    if (!r.enhanced.empty()) out += r.enhanced + ' ';
    out += r.reply_text;
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

// The most recent reply among recipients still pending (else any), for "last error".
const Recipient* last_error(const Envelope& e) {
    const Recipient* best = nullptr;
    for (const auto& r : e.recipients) {
        if (r.reply_code == 0 && r.reply_text.empty()) continue;
        if (r.state == RcptState::delivered) continue;
        if (!best || r.last_attempt > best->last_attempt) best = &r;
    }
    return best;
}

std::string next_text(const Envelope& e, Clock::time_point now) {
    if (e.held) return "held";
    auto next = message_next_attempt(e);
    if (!next) return "-";
    if (*next <= now) return "now";
    return "in " + human(std::chrono::duration_cast<std::chrono::seconds>(*next - now));
}

std::string envelope_json(const Envelope& e, bool in_flight, Clock::time_point now) {
    std::string o = "{\"id\":" + json_string(e.id);
    o += ",\"arrival\":" + std::to_string(unix_seconds(e.arrival));
    o += ",\"age_seconds\":" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - e.arrival).count());
    o += ",\"from\":" + json_string(e.mail_from);
    o += ",\"user\":" + json_string(e.user);
    o += ",\"size\":" + std::to_string(e.size);
    o += ",\"state\":" + json_string(message_state(e, in_flight));
    o += ",\"held\":" + std::string(e.held ? "true" : "false");
    auto next = message_next_attempt(e);
    o += ",\"next_attempt\":" + (next ? std::to_string(unix_seconds(*next)) : std::string("null"));
    const Recipient* err = last_error(e);
    o += ",\"last_error\":" + (err ? json_string(reply_of(*err)) : std::string("null"));
    o += ",\"recipients\":[";
    for (std::size_t i = 0; i < e.recipients.size(); ++i) {
        const auto& r = e.recipients[i];
        if (i) o += ",";
        o += "{\"address\":" + json_string(r.address) + ",\"state\":" + json_string(to_string(r.state)) +
             ",\"attempts\":" + std::to_string(r.attempts);
        o += ",\"next_attempt\":" +
             (r.state == RcptState::pending ? std::to_string(unix_seconds(r.next_attempt)) : std::string("null"));
        o += ",\"last_reply\":" + (r.reply_code || !r.reply_text.empty() ? json_string(reply_of(r)) : std::string("null"));
        o += ",\"remote_host\":" + (r.remote_host.empty() ? std::string("null") : json_string(r.remote_host)) + "}";
    }
    return o + "]}";
}

}  // namespace

std::string message_state(const Envelope& e, bool in_flight) {
    if (in_flight) return "active";
    if (e.held) return "held";
    if (e.all_final()) return "done";
    for (const auto& r : e.recipients)
        if (r.attempts > 0) return "deferred";
    return "queued";
}

std::optional<Clock::time_point> message_next_attempt(const Envelope& e) {
    if (e.held) return std::nullopt;
    std::optional<Clock::time_point> next;
    for (const auto& r : e.recipients)
        if (r.state == RcptState::pending && (!next || r.next_attempt < *next)) next = r.next_attempt;
    return next;
}

std::string render_list(const std::vector<Envelope>& messages, const std::set<std::string>& in_flight,
                        Clock::time_point now, bool json) {
    std::string out;
    if (json) {
        out = "[";
        for (std::size_t i = 0; i < messages.size(); ++i)
            out += std::string(i ? ",\n " : "\n ") + envelope_json(messages[i], in_flight.count(messages[i].id) > 0, now);
        out += messages.empty() ? "]\n" : "\n]\n";
        return out;
    }
    if (messages.empty()) return "The queue is empty.\n";
    char line[512];
    std::snprintf(line, sizeof line, "%-20s %8s %7s %-9s %-10s %s\n", "ID", "AGE", "SIZE", "STATE", "NEXT", "FROM");
    out += line;
    for (const auto& e : messages) {
        std::string from = "<" + e.mail_from + ">";
        std::snprintf(line, sizeof line, "%-20s %8s %7s %-9s %-10s %s", e.id.c_str(),
                      human(std::chrono::duration_cast<std::chrono::seconds>(now - e.arrival)).c_str(),
                      size_text(e.size).c_str(), message_state(e, in_flight.count(e.id) > 0).c_str(),
                      next_text(e, now).c_str(), from.c_str());
        out += line;
        out += '\n';
        for (const auto& r : e.recipients) {
            out += "    <" + r.address + "> " + to_string(r.state);
            if (r.attempts) out += ", " + std::to_string(r.attempts) + (r.attempts == 1 ? " attempt" : " attempts");
            if (r.reply_code || !r.reply_text.empty()) out += ": " + reply_of(r);
            if (!r.remote_host.empty()) out += " (" + r.remote_host + ")";
            out += '\n';
        }
    }
    out += std::to_string(messages.size()) + (messages.size() == 1 ? " message\n" : " messages\n");
    return out;
}

std::string render_show(const Envelope& e, const std::string& headers, bool in_flight, Clock::time_point now) {
    std::string out;
    out += "id:        " + e.id + "\n";
    out += "arrival:   " + rfc5322_date(e.arrival) + " (" +
           human(std::chrono::duration_cast<std::chrono::seconds>(now - e.arrival)) + " ago)\n";
    out += "from:      <" + e.mail_from + ">\n";
    out += "user:      " + (e.user.empty() ? std::string("-") : e.user) + "\n";
    out += "client:    " + (e.client.empty() ? std::string("-") : e.client) + "\n";
    out += "size:      " + std::to_string(e.size) + " octets";
    if (e.smtputf8) out += ", SMTPUTF8";
    if (e.requiretls) out += ", REQUIRETLS";
    if (e.tls_required_no) out += ", TLS-Required: No";
    if (e.body_8bit) out += ", 8BITMIME";
    out += "\n";
    out += "state:     " + message_state(e, in_flight) + (e.warned ? " (delay warning sent)" : "") + "\n";
    out += "next:      " + next_text(e, now) + "\n";
    out += "recipients:\n";
    for (const auto& r : e.recipients) {
        out += "  <" + r.address + "> " + to_string(r.state) + ", " + std::to_string(r.attempts) + " attempt(s)";
        if (r.attempts) out += ", last " + rfc5322_date(r.last_attempt);
        out += "\n";
        if (r.reply_code || !r.reply_text.empty()) out += "      reply: " + reply_of(r) + "\n";
        if (!r.remote_host.empty()) out += "      host:  " + r.remote_host + "\n";
    }
    out += "added headers:\n";
    for (char c : e.prepend)
        if (c != '\r') out += c;
    out += "headers:\n";
    for (char c : headers)
        if (c != '\r') out += c;
    return out;
}

std::optional<ControlRequest> parse_control_line(std::string_view line, std::string& error) {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    std::vector<std::string_view> words;
    while (!line.empty()) {
        auto sp = line.find(' ');
        auto w = line.substr(0, sp);
        if (!w.empty()) words.push_back(w);
        if (sp == std::string_view::npos) break;
        line.remove_prefix(sp + 1);
    }
    const bool json = words.size() >= 2 && words.back() == "json";
    if (json) words.pop_back();
    if (words.empty()) {
        error = "no command";
        return std::nullopt;
    }
    ControlRequest r;
    r.json = json;
    r.command = words[0];
    static const std::set<std::string, std::less<>> with_id = {"show", "delete", "hold", "release", "bounce"};
    bool needs_id = with_id.count(r.command) > 0;
    bool may_have_id = needs_id || r.command == "flush";
    if (!needs_id && !may_have_id && r.command != "list") {
        error = "unknown command '" + r.command + "'";
        return std::nullopt;
    }
    if (words.size() > (may_have_id ? 2u : 1u)) {
        error = "too many arguments";
        return std::nullopt;
    }
    if (words.size() == 2) {
        if (!Spool::valid_id(words[1])) {
            error = "'" + std::string(words[1]) + "' is not a queue id";
            return std::nullopt;
        }
        r.id = std::string(words[1]);
    } else if (needs_id) {
        error = r.command + " needs a queue id";
        return std::nullopt;
    }
    return r;
}

std::string format_control_line(const ControlRequest& r) {
    return r.command + (r.id ? " " + *r.id : "") + (r.json ? " json" : "") + "\n";
}

// ---- daemon side ----

struct ControlServer::Impl : std::enable_shared_from_this<ControlServer::Impl> {
    Impl(asio::io_context& io, fs::path p, std::shared_ptr<Manager> m, std::shared_ptr<Spool> s, log::Logger l)
        : acceptor(io), path(std::move(p)), manager(std::move(m)), spool(std::move(s)), log(std::move(l)) {}

    local::acceptor acceptor;
    fs::path path;
    std::shared_ptr<Manager> manager;
    std::shared_ptr<Spool> spool;
    log::Logger log;

    struct Connection : std::enable_shared_from_this<Connection> {
        explicit Connection(local::socket s) : socket(std::move(s)), timer(socket.get_executor()), buf(kMaxLine) {}
        local::socket socket;
        asio::steady_timer timer;
        asio::streambuf buf;
        std::string out;
    };

    void accept() {
        acceptor.async_accept([self = shared_from_this()](const boost::system::error_code& ec, local::socket s) {
            if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
            if (!ec) self->serve(std::make_shared<Connection>(std::move(s)));
            self->accept();
        });
    }

    void serve(std::shared_ptr<Connection> c) {
        c->timer.expires_after(std::chrono::seconds(10));
        c->timer.async_wait([c](const boost::system::error_code& ec) {
            if (!ec) {
                boost::system::error_code ignored;
                c->socket.close(ignored);
            }
        });
        asio::async_read_until(c->socket, c->buf, '\n',
                               [self = shared_from_this(), c](const boost::system::error_code& ec, std::size_t n) {
                                   c->timer.cancel();
                                   if (ec) return;  // too long, closed, timed out: nothing to answer
                                   std::string line(asio::buffers_begin(c->buf.data()),
                                                    asio::buffers_begin(c->buf.data()) + static_cast<std::ptrdiff_t>(n));
                                   self->handle(c, line);
                               });
    }

    void answer(const std::shared_ptr<Connection>& c, bool ok, const std::string& text) {
        // Called from the manager's strand: hop to the socket's executor to write.
        asio::post(c->socket.get_executor(), [c, ok, text] {
            c->out = ok ? "ok\n" + text : "error " + text + "\n";
            asio::async_write(c->socket, asio::buffer(c->out), [c](const boost::system::error_code&, std::size_t) {
                boost::system::error_code ignored;
                c->socket.shutdown(local::socket::shutdown_both, ignored);
                c->socket.close(ignored);
            });
        });
    }

    void handle(const std::shared_ptr<Connection>& c, const std::string& line) {
        std::string error;
        auto r = parse_control_line(line, error);
        if (!r) {
            answer(c, false, error);
            return;
        }
        std::string what = r->command + (r->id ? " " + *r->id : "");
        if (r->command != "list" && r->command != "show") log->info("control: {}", what);
        auto done = [self = shared_from_this(), c](ControlResult res, std::string text) {
            self->answer(c, res == ControlResult::ok, text.empty() ? "" : text + "\n");
        };
        if (r->command == "list" || r->command == "show") {
            manager->snapshot([self = shared_from_this(), c, req = *r](QueueSnapshot s) {
                auto now = Clock::now();
                if (req.command == "list") {
                    self->answer(c, true, render_list(s.messages, s.in_flight, now, req.json));
                    return;
                }
                for (const auto& e : s.messages) {
                    if (e.id != *req.id) continue;
                    self->answer(c, true, render_show(e, self->spool->read_headers(e.id).value_or(""),
                                                      s.in_flight.count(e.id) > 0, now));
                    return;
                }
                self->answer(c, false, "no message " + *req.id + " in the queue");
            });
        } else if (r->command == "flush") {
            manager->flush(r->id, done);
        } else if (r->command == "delete") {
            manager->remove(*r->id, done);
        } else if (r->command == "hold") {
            manager->hold(*r->id, done);
        } else if (r->command == "release") {
            manager->release(*r->id, done);
        } else if (r->command == "bounce") {
            manager->bounce(*r->id, done);
        }
    }
};

ControlServer::ControlServer(asio::io_context& io, fs::path socket_path, std::shared_ptr<Manager> manager,
                             std::shared_ptr<Spool> spool, log::Logger logger)
    : impl_(std::make_shared<Impl>(io, std::move(socket_path), std::move(manager), std::move(spool), std::move(logger))) {}

ControlServer::~ControlServer() { stop(); }

void ControlServer::start() {
    // The caller holds the spool lock, so a socket file left here is stale.
    ::unlink(impl_->path.c_str());
    boost::system::error_code ec;
    impl_->acceptor.open(local(), ec);
    mode_t old = ::umask(0077);
    if (!ec) impl_->acceptor.bind(local::endpoint(impl_->path.string()), ec);
    ::umask(old);
    if (!ec) impl_->acceptor.listen(16, ec);
    if (ec) throw std::runtime_error("control socket " + impl_->path.string() + ": " + ec.message());
    impl_->accept();
}

void ControlServer::stop() {
    if (!impl_->acceptor.is_open()) return;
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    ::unlink(impl_->path.c_str());
}

std::optional<SpoolLock> SpoolLock::acquire(const fs::path& dir, std::string& error) {
    fs::path p = dir / "lock";
    int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = p.string() + ": " + std::strerror(errno);
        return std::nullopt;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        error = errno == EWOULDBLOCK ? p.string() + " is held by a running signpost" : p.string() + ": " + std::strerror(errno);
        ::close(fd);
        return std::nullopt;
    }
    return SpoolLock(fd);
}

SpoolLock::~SpoolLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

// ---- CLI side ----

ControlAnswer send_control(const fs::path& socket_path, const ControlRequest& r, std::chrono::seconds timeout) {
    ControlAnswer a;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.string().size() >= sizeof addr.sun_path) {
        a.text = "socket path too long: " + socket_path.string();
        return a;
    }
    std::strcpy(addr.sun_path, socket_path.c_str());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        a.text = std::strerror(errno);
        return a;
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        a.text = socket_path.string() + ": " + std::strerror(errno);
        ::close(fd);
        return a;  // not reached: nobody listens
    }
    a.reached = true;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count());
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::string line = format_control_line(r);
    if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
        a.text = "cannot send the request: " + std::string(std::strerror(errno));
        ::close(fd);
        return a;
    }
    std::string in;
    char buf[16384];
    while (true) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            a.text = "no answer from the daemon: " + std::string(std::strerror(errno));
            ::close(fd);
            return a;
        }
        if (n == 0) break;
        in.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (in.rfind("ok\n", 0) == 0) {
        a.ok = true;
        a.text = in.substr(3);
    } else if (in.rfind("error ", 0) == 0) {
        a.text = in.substr(6);
        while (!a.text.empty() && a.text.back() == '\n') a.text.pop_back();
    } else {
        a.text = "unexpected answer from the daemon";
    }
    return a;
}

ControlAnswer run_offline(Spool& spool, const ControlRequest& r, Clock::time_point now) {
    ControlAnswer a;
    a.reached = true;
    if (r.command == "list") {
        std::vector<Envelope> messages;
        std::string damaged;
        for (const auto& id : spool.list()) {
            std::string why;
            auto e = spool.load(id, &why);
            if (e) messages.push_back(std::move(*e));
            else damaged += id + ": " + why + " (moved to corrupt/ when signpost starts)\n";
        }
        a.ok = true;
        a.text = render_list(messages, {}, now, r.json) + (r.json ? "" : damaged);
        return a;
    }
    std::vector<std::string> ids = r.id ? std::vector<std::string>{*r.id} : spool.list();
    std::size_t changed = 0;
    for (const auto& id : ids) {
        std::string why;
        auto e = spool.load(id, &why);
        if (!e) {
            if (!r.id) continue;
            a.text = fs::exists(spool.message_path(id)) ? id + ": " + why : "no message " + id + " in the queue";
            return a;
        }
        std::error_code ec;
        if (r.command == "show") {
            a.ok = true;
            a.text = render_show(*e, spool.read_headers(id).value_or(""), false, now);
            return a;
        } else if (r.command == "delete") {
            ec = spool.remove(id);
        } else {
            if (r.command == "hold") e->held = true;
            else if (r.command == "release") e->held = false;
            else if (r.command == "bounce") mark_bounced(*e, now);
            else if (r.command == "flush") {
                if (e->held) continue;
                for (auto& rc : e->recipients)
                    if (rc.state == RcptState::pending) rc.next_attempt = Clock::time_point{};
            }
            ec = spool.save_state(*e);
        }
        if (ec) {
            a.text = id + ": " + ec.message();
            return a;
        }
        ++changed;
    }
    a.ok = true;
    a.text = "signpost is not running: " + std::to_string(changed) + " message(s) changed on disk" +
             (r.command == "delete" ? "" : "; it acts on them when it starts") + "\n";
    return a;
}

}  // namespace signpost::queue
