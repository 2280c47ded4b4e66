// relay/dns/resolver.cpp — the daemon's resolver over libunbound's asynchronous API (see
// resolver.hpp for the contract).
//
// How it runs:
//   - One ub_ctx per resolver, in libunbound's threaded asynchronous mode
//     (ub_ctx_async(ctx, 1)): libunbound does the network work in one background thread of
//     its own and hands every answer back through a pipe. The other mode (0) forks a
//     process for that work instead: a copy of this multi-threaded daemon, holding all its
//     descriptors (listeners, spool files), which later calls exit() and so runs our static
//     destructors and atexit handlers. Neither mode runs queries inside ub_process(); in
//     both, callbacks run only inside ub_process(), so the thread is the safer choice.
//   - Everything that touches the context runs on one strand (`strand_`): starting a query
//     (ub_resolve_async), cancelling one (ub_cancel), and reading answers (ub_process, which
//     calls on_result). ub_fd() — the pipe's read end — is watched with an asio
//     stream_descriptor on that strand; the wait is armed only while queries are
//     outstanding, so an idle resolver keeps no work on the io_context. Asio's epoll
//     registration is edge-triggered, so the wait is re-armed before the pipe is drained,
//     never after (an answer written between a drain and a later arm would otherwise wake
//     nobody).
//   - Every query has a steady_timer ([dns] timeout). On expiry the query is cancelled in
//     unbound (ub_cancel: libunbound then never calls back for it) and answered `timeout`.
//     Callback data is the query's number, never a pointer, so a late answer for a query we
//     gave up on finds nothing and is dropped.
//   - The awaiting coroutine is completed by posting to its own executor (with outstanding
//     work tracked on it until then), never inline on the strand. If its cancellation slot
//     fires (e.g. `co_await (r.mx(x) || timer)`), the query is cancelled in unbound and the
//     operation completes with `servfail`, why "cancelled".
//   - Shutdown: destroying the UnboundResolver posts Core::shutdown to the strand; every
//     outstanding query is cancelled in unbound and completes with Status::servfail, why
//     "resolver shut down" (answers carry no error_code, so there is no operation_aborted;
//     servfail is the temporary failure callers already handle). Core, owned jointly by its
//     pending handlers, is freed when the last one has run; only then is the context
//     deleted (which stops unbound's thread). The resolver must be destroyed before its
//     io_context, as every asio I/O object.
//
// Bounds: at most kMaxOutstanding queries at once (more answer servfail at once); names
// over 253 octets are refused without asking.
#include "relay/dns/resolver.hpp"

#include <atomic>
#include <cstdint>
#include <unordered_map>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <unbound.h>

#include "relay/dns/rdata.hpp"
#include "relay/dns/unbound_config.hpp"

namespace signpost::dns {

const char* to_string(Status s) {
    switch (s) {
    case Status::ok: return "ok";
    case Status::nxdomain: return "nxdomain";
    case Status::servfail: return "servfail";
    case Status::timeout: return "timeout";
    }
    return "?";
}

const char* to_string(Security s) {
    switch (s) {
    case Security::indeterminate: return "indeterminate";
    case Security::insecure: return "insecure";
    case Security::secure: return "secure";
    case Security::bogus: return "bogus";
    }
    return "?";
}

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr int kClassIn = 1;
constexpr int kTypeA = 1;
constexpr int kTypePtr = 12;
constexpr int kTypeMx = 15;
constexpr int kTypeTxt = 16;
constexpr int kTypeAaaa = 28;
constexpr int kTypeTlsa = 52;
constexpr int kTypeDnskey = 48;

constexpr std::size_t kMaxOutstanding = 1000;  // queries in flight per resolver
constexpr std::size_t kMaxName = 253;          // RFC 1035 §2.3.4 in text form, no final dot

// What unbound said, before the records are decoded for their type.
struct RawAnswer {
    Status status = Status::servfail;
    Security security = Security::indeterminate;
    std::string why;
    std::string canonical;
    std::vector<std::string> rdata;
};

RawAnswer failure(Status status, std::string why) {
    RawAnswer a;
    a.status = status;
    a.why = std::move(why);
    return a;
}

std::string rcode_name(int rcode) {
    switch (rcode) {
    case 1: return "FORMERR";
    case 2: return "SERVFAIL";
    case 4: return "NOTIMP";
    case 5: return "REFUSED";
    }
    return "rcode " + std::to_string(rcode);
}

// The canonical name libunbound reports, normalized; empty when it is the name asked.
std::string canonical_of(const ub_result* r) {
    if (!r->canonname || !r->qname) return {};
    auto norm = [](std::string n) {
        while (!n.empty() && n.back() == '.') n.pop_back();
        for (auto& c : n)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        return n;
    };
    std::string c = norm(r->canonname);
    return c == norm(r->qname) ? std::string() : c;
}

RawAnswer classify(int err, const ub_result* r, bool validating) {
    if (err != 0) return failure(Status::servfail, std::string("unbound: ") + ub_strerror(err));
    if (r->bogus) {
        RawAnswer a = failure(Status::servfail, r->why_bogus ? std::string("DNSSEC bogus: ") + r->why_bogus : "DNSSEC bogus");
        a.security = Security::bogus;
        return a;
    }
    RawAnswer a;
    a.security = !validating ? Security::indeterminate : r->secure ? Security::secure : Security::insecure;
    a.canonical = canonical_of(r);
    if (r->rcode == 3) {  // NXDOMAIN
        a.status = Status::nxdomain;
        a.why = "NXDOMAIN";
        return a;
    }
    if (r->rcode != 0) {
        RawAnswer f = failure(Status::servfail, rcode_name(r->rcode));
        return f;
    }
    a.status = Status::ok;
    if (r->havedata && r->data)
        for (int i = 0; r->data[i] != nullptr; ++i)
            a.rdata.emplace_back(r->data[i], static_cast<std::size_t>(r->len[i]));
    return a;
}

// Empty when `name` may be asked; otherwise why not.
std::string refuse_name(std::string_view name, int type) {
    if (name == "." && type == kTypeDnskey) return {};  // the root's keys (the DNSSEC probe)
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty()) return "empty name";
    if (name.size() > kMaxName) return "name longer than 253 octets";
    if (name.find('\0') != std::string_view::npos) return "name contains a NUL octet";
    return {};
}

struct ResultFree {
    void operator()(ub_result* r) const noexcept { ub_resolve_free(r); }
};

// The awaiting operation's completion handler, type-erased so queries of every type share
// one table.
class Waiter {
public:
    virtual ~Waiter() = default;
    // Posts the handler with `answer` to the handler's own executor.
    virtual void complete(RawAnswer answer) = 0;
};

template <class Handler>
class WaiterFor final : public Waiter {
public:
    explicit WaiterFor(Handler handler)
        : handler_(std::move(handler)), work_(asio::make_work_guard(asio::get_associated_executor(handler_))) {}

    void complete(RawAnswer answer) override {
        auto ex = work_.get_executor();
        asio::post(ex, [h = std::move(handler_), a = std::move(answer)]() mutable {
            // On the handler's executor, where its cancellation signal is emitted: our slot
            // handler must be gone before the operation completes.
            asio::get_associated_cancellation_slot(h).clear();
            std::move(h)(std::move(a));
        });
        work_.reset();
    }

private:
    Handler handler_;
    asio::executor_work_guard<asio::associated_executor_t<Handler>> work_;
};

class Core;
thread_local Core* t_processing = nullptr;  // the Core whose ub_process() runs on this thread

class Core : public std::enable_shared_from_this<Core> {
public:
    using Strand = asio::strand<asio::any_io_executor>;

    Core(asio::any_io_executor io, UbCtxPtr ctx, std::chrono::seconds timeout, bool validating)
        : strand_(asio::make_strand(io)), ctx_(std::move(ctx)), fd_(strand_, ub_fd(ctx_.get())), timeout_(timeout),
          validating_(validating) {}

    ~Core() {
        // The descriptor belongs to libunbound, which closes it in ub_ctx_delete.
        fd_.release();
    }

    Core(const Core&) = delete;
    Core& operator=(const Core&) = delete;

    const Strand& strand() const { return strand_; }

    // Any thread: starts a query whose answer goes to `handler`.
    template <class Handler>
    void submit(std::string name, int type, Handler handler) {
        const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
        // A cancellation emitted before start() has run on the strand finds no query and is
        // dropped; that query then ends by its answer or its timeout.
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) {
            slot.assign([weak = weak_from_this(), id](asio::cancellation_type what) {
                if (what == asio::cancellation_type::none) return;
                if (auto self = weak.lock()) asio::post(self->strand_, [self, id] { self->cancel(id); });
            });
        }
        std::unique_ptr<Waiter> waiter = std::make_unique<WaiterFor<Handler>>(std::move(handler));
        asio::post(strand_, [self = shared_from_this(), id, name = std::move(name), type,
                             waiter = std::move(waiter)]() mutable {
            self->start(id, std::move(name), type, std::move(waiter));
        });
    }

    // Strand: answers every outstanding query servfail and takes no more.
    void shutdown() {
        closed_ = true;
        fail_all("resolver shut down", true);
    }

private:
    struct Query {
        explicit Query(const Strand& ex) : timer(ex) {}
        int ub_id = 0;
        asio::steady_timer timer;
        std::unique_ptr<Waiter> waiter;
    };

    void start(std::uint64_t id, std::string name, int type, std::unique_ptr<Waiter> waiter) {
        std::string refused = closed_ ? "resolver shut down" : !broken_.empty() ? broken_ : refuse_name(name, type);
        if (refused.empty() && queries_.size() >= kMaxOutstanding)
            refused = "too many queries (limit " + std::to_string(kMaxOutstanding) + ")";
        if (!refused.empty()) {
            waiter->complete(failure(Status::servfail, std::move(refused)));
            return;
        }
        auto it = queries_.try_emplace(id, strand_).first;
        Query& q = it->second;
        q.waiter = std::move(waiter);
        const int rc = ub_resolve_async(ctx_.get(), name.c_str(), type, kClassIn,
                                        reinterpret_cast<void*>(static_cast<std::uintptr_t>(id)), &Core::on_result,
                                        &q.ub_id);
        if (rc != 0) {
            waiter = std::move(q.waiter);
            queries_.erase(it);
            waiter->complete(failure(Status::servfail, std::string("unbound: ") + ub_strerror(rc)));
            return;
        }
        q.timer.expires_after(timeout_);
        q.timer.async_wait([self = shared_from_this(), id](const boost::system::error_code& ec) {
            if (ec) return;  // the query ended first
            self->finish(id, failure(Status::timeout, "timeout after " + std::to_string(self->timeout_.count()) + "s"),
                         true);
        });
        arm();
    }

    void cancel(std::uint64_t id) { finish(id, failure(Status::servfail, "cancelled"), true); }

    // Strand: completes query `id` if it is still outstanding; `in_unbound` = also cancel it
    // there (it has not answered).
    void finish(std::uint64_t id, RawAnswer answer, bool in_unbound) {
        auto it = queries_.find(id);
        if (it == queries_.end()) return;  // answered, timed out or cancelled already
        if (in_unbound) ub_cancel(ctx_.get(), it->second.ub_id);
        std::unique_ptr<Waiter> waiter = std::move(it->second.waiter);
        queries_.erase(it);  // the timer's wait ends with operation_aborted
        waiter->complete(std::move(answer));
        disarm_if_idle();
    }

    void fail_all(const std::string& why, bool in_unbound) {
        auto queries = std::move(queries_);
        queries_.clear();
        for (auto& [id, q] : queries) {
            if (in_unbound) ub_cancel(ctx_.get(), q.ub_id);
            q.waiter->complete(failure(Status::servfail, why));
        }
        disarm_if_idle();
    }

    // Called by libunbound inside ub_process(), so on the strand, in drain().
    static void on_result(void* data, int err, ub_result* result) {
        std::unique_ptr<ub_result, ResultFree> owned(result);
        Core* self = t_processing;
        if (!self) return;
        try {
            self->finish(reinterpret_cast<std::uintptr_t>(data), classify(err, result, self->validating_), false);
        } catch (const std::exception&) {
            // Nothing may unwind into libunbound. Only allocation can fail here; the
            // query then ends by its timer.
        }
    }

    void arm() {
        if (armed_ || closed_ || queries_.empty() || !broken_.empty()) return;
        armed_ = true;
        fd_.async_wait(asio::posix::descriptor_base::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) { self->on_readable(ec); });
    }

    void disarm_if_idle() {
        if (armed_ && queries_.empty()) fd_.cancel();  // on_readable runs, finds nothing to do
    }

    void on_readable(const boost::system::error_code& ec) {
        armed_ = false;
        if (closed_) return;
        if (ec && ec != asio::error::operation_aborted) {
            // The descriptor cannot be watched: a wait would fail again at once, so stop
            // (never spin) and answer everything servfail.
            broken_ = "watching unbound's pipe: " + ec.message();
            fail_all(broken_, true);
            return;
        }
        arm();  // first: from here on, a new answer wakes the new wait (edge-triggered)
        drain();
        disarm_if_idle();
    }

    void drain() {
        t_processing = this;
        const int rc = ub_process(ctx_.get());
        t_processing = nullptr;
        if (rc != 0) {
            // The pipe to unbound's worker failed: nothing can be answered from now on.
            broken_ = std::string("unbound: ") + ub_strerror(rc);
            fail_all(broken_, false);
        }
    }

    const Strand strand_;
    UbCtxPtr ctx_;
    asio::posix::stream_descriptor fd_;  // ub_fd(ctx_), released (not closed) in ~Core
    const std::chrono::seconds timeout_;
    const bool validating_;  // a trust anchor is set: answers are secure, insecure or bogus
    std::atomic<std::uint64_t> next_id_{1};
    // Strand only:
    std::unordered_map<std::uint64_t, Query> queries_;
    bool armed_ = false;   // an async_wait on fd_ is queued
    bool closed_ = false;  // shutdown() ran
    std::string broken_;   // why the pipe to unbound failed, once it has
};

template <class Answer, class Parse, class Record>
Answer decode(RawAnswer raw, const char* type, Parse parse, std::vector<Record> Answer::*records) {
    Answer a;
    a.status = raw.status;
    a.security = raw.security;
    a.why = std::move(raw.why);
    a.canonical = std::move(raw.canonical);
    if (raw.status != Status::ok) return a;
    for (const std::string& rdata : raw.rdata) {
        auto r = parse(rdata);
        if (!r) {
            Answer bad;
            bad.status = Status::servfail;
            bad.security = a.security;
            bad.why = std::string("malformed ") + type + " record: " + r.error().message();
            return bad;
        }
        (a.*records).push_back(std::move(*r));
    }
    return a;
}

// The initiation is a named object and every co_await a statement of its own: with GCC 12,
// `co_return co_await async_initiate([core, ...]{...}, ...)` destroyed the lambda temporary
// (and so released its shared_ptr<Core>) twice — a use-after-free that ASan found.
asio::awaitable<RawAnswer> ask(std::shared_ptr<Core> core, std::string name, int type) {
    auto initiation = [core, type](auto handler, std::string n) {
        core->submit(std::move(n), type, std::move(handler));
    };
    RawAnswer raw = co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(RawAnswer)>(
        initiation, asio::use_awaitable, std::move(name));
    co_return raw;
}

class UnboundResolver final : public Resolver {
public:
    explicit UnboundResolver(std::shared_ptr<Core> core) : core_(std::move(core)) {}

    ~UnboundResolver() override {
        asio::post(core_->strand(), [core = core_] { core->shutdown(); });
    }

    UnboundResolver(const UnboundResolver&) = delete;
    UnboundResolver& operator=(const UnboundResolver&) = delete;

    // The coroutines hold `core`, never `this`: a query outlives the resolver object
    // (it then ends with "resolver shut down").
    asio::awaitable<MxAnswer> mx(std::string name) override { return mx_of(core_, std::move(name)); }
    asio::awaitable<AddressAnswer> a(std::string name) override { return a_of(core_, std::move(name)); }
    asio::awaitable<AddressAnswer> aaaa(std::string name) override {
        return aaaa_of(core_, std::move(name));
    }
    asio::awaitable<TxtRecords> txt(std::string name) override { return txt_of(core_, std::move(name)); }
    asio::awaitable<TlsaAnswer> tlsa(std::string name) override { return tlsa_of(core_, std::move(name)); }
    asio::awaitable<Answer> dnskey(std::string zone) override { return dnskey_of(core_, std::move(zone)); }
    asio::awaitable<NameAnswer> ptr(asio::ip::address address) override {
        return ptr_of(core_, reverse_name(address));
    }

private:
    static asio::awaitable<MxAnswer> mx_of(std::shared_ptr<Core> core, std::string name) {
        RawAnswer raw = co_await ask(std::move(core), std::move(name), kTypeMx);
        co_return decode(std::move(raw), "MX", parse_mx, &MxAnswer::records);
    }
    static asio::awaitable<AddressAnswer> a_of(std::shared_ptr<Core> core, std::string name) {
        RawAnswer raw = co_await ask(std::move(core), std::move(name), kTypeA);
        co_return decode(std::move(raw), "A", parse_a, &AddressAnswer::addresses);
    }
    static asio::awaitable<AddressAnswer> aaaa_of(std::shared_ptr<Core> core, std::string name) {
        RawAnswer raw = co_await ask(std::move(core), std::move(name), kTypeAaaa);
        co_return decode(std::move(raw), "AAAA", parse_aaaa, &AddressAnswer::addresses);
    }
    static asio::awaitable<TxtRecords> txt_of(std::shared_ptr<Core> core, std::string name) {
        RawAnswer raw = co_await ask(std::move(core), std::move(name), kTypeTxt);
        co_return decode(std::move(raw), "TXT", parse_txt, &TxtRecords::records);
    }
    static asio::awaitable<Answer> dnskey_of(std::shared_ptr<Core> core, std::string zone) {
        RawAnswer raw = co_await ask(std::move(core), std::move(zone), kTypeDnskey);
        Answer a;
        a.status = raw.status;
        a.security = raw.security;
        a.why = std::move(raw.why);
        co_return a;
    }
    static asio::awaitable<NameAnswer> ptr_of(std::shared_ptr<Core> core, std::string name) {
        RawAnswer raw = co_await ask(std::move(core), std::move(name), kTypePtr);
        co_return decode(std::move(raw), "PTR", parse_ptr, &NameAnswer::names);
    }
    static asio::awaitable<TlsaAnswer> tlsa_of(std::shared_ptr<Core> core, std::string name) {
        RawAnswer raw = co_await ask(std::move(core), std::move(name), kTypeTlsa);
        co_return decode(std::move(raw), "TLSA", parse_tlsa, &TlsaAnswer::records);
    }

    std::shared_ptr<Core> core_;
};

}  // namespace

std::string reverse_name(const asio::ip::address& address) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    if (address.is_v4() || (address.is_v6() && address.to_v6().is_v4_mapped())) {
        auto v4 = address.is_v4() ? address.to_v4() : asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
        auto b = v4.to_bytes();
        for (int i = 3; i >= 0; --i) out += std::to_string(b[static_cast<std::size_t>(i)]) + ".";
        return out + "in-addr.arpa";
    }
    auto b = address.to_v6().to_bytes();
    for (int i = 15; i >= 0; --i) {
        out += kHex[b[static_cast<std::size_t>(i)] & 0xf];
        out += '.';
        out += kHex[b[static_cast<std::size_t>(i)] >> 4];
        out += '.';
    }
    return out + "ip6.arpa";
}

std::shared_ptr<Resolver> make_unbound_resolver(asio::any_io_executor io, const config::DnsConfig& dns) {
    UnboundSettings settings;
    for (const auto& f : dns.forwarders) settings.forwarders.push_back(f.host + "@" + std::to_string(f.port));
    if (dns.dnssec) settings.trust_anchor_file = dns.trust_anchor_file.string();
    UbCtxPtr ctx = make_unbound_context(settings);
    check_unbound(ub_ctx_async(ctx.get(), 1), "libunbound asynchronous mode");
    const std::chrono::seconds timeout = dns.timeout > 0s ? dns.timeout : 10s;
    return std::make_shared<UnboundResolver>(std::make_shared<Core>(std::move(io), std::move(ctx), timeout, dns.dnssec));
}

}  // namespace signpost::dns
