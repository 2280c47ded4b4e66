// relay/tlsrpt/sender.cpp — the daily TLS report sending (see sender.hpp).
#include "relay/tlsrpt/sender.hpp"

#include <random>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "relay/queue/dsn.hpp"
#include "relay/smtp/sasl.hpp"
#include "relay/tlsrpt/post.hpp"
#include "relay/tlsrpt/report.hpp"

namespace signpost::tlsrpt {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::system_clock;

std::string random_hex(std::size_t octets) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < octets; ++i) {
        const auto b = static_cast<unsigned>(rng() & 0xff);
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 15]);
    }
    return out;
}

// An RFC 4122-shaped random identifier (the report-id, §4.4).
std::string new_report_id() {
    std::string h = random_hex(16);
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string domain_of(const std::string& address) {
    const auto at = address.rfind('@');
    return at == std::string::npos ? address : address.substr(at + 1);
}

// The day before `day` ("YYYY-MM-DD").
std::string day_before(const std::string& day, int days) {
    return day_of(Clock::time_point(std::chrono::seconds(day_start_unix(day) - 86400LL * days))).value_or(day);
}

}  // namespace

std::string report_message(const SenderOptions& o, const std::string& to, const std::string& policy_domain,
                           const std::string& report_id, const std::string& filename, const std::string& gzipped,
                           Clock::time_point now) {
    const std::string boundary = "tlsrpt-" + random_hex(12);
    std::string m;
    m += "From: " + o.from + "\r\n";
    m += "To: " + to + "\r\n";
    m += "Date: " + queue::rfc5322_date(now) + "\r\n";
    m += "Subject: Report Domain: " + policy_domain + " Submitter: " + o.organization + " Report-ID: <" + report_id + ">\r\n";
    m += "TLS-Report-Domain: " + policy_domain + "\r\n";
    m += "TLS-Report-Submitter: " + o.organization + "\r\n";
    m += "Message-ID: <tlsrpt-" + random_hex(10) + "@" + o.hostname + ">\r\n";
    m += "MIME-Version: 1.0\r\n";
    m += "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n\tboundary=\"" + boundary + "\"\r\n";
    m += "\r\n";
    m += "--" + boundary + "\r\n";
    m += "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
    m += "This is an aggregate TLS report (RFC 8460) from " + o.organization + " for " + policy_domain + ".\r\n";
    m += "Contact: " + o.contact + "\r\n\r\n";
    m += "--" + boundary + "\r\n";
    m += "Content-Type: application/tlsrpt+gzip\r\n";
    m += "Content-Transfer-Encoding: base64\r\n";
    m += "Content-Disposition: attachment;\r\n\tfilename=\"" + filename + "\"\r\n\r\n";
    const std::string b64 = smtp::encode_base64(gzipped);
    for (std::size_t i = 0; i < b64.size(); i += 76) m += b64.substr(i, 76) + "\r\n";
    m += "\r\n--" + boundary + "--\r\n";
    return m;
}

Sender::Sender(asio::any_io_executor io, std::shared_ptr<Store> store, std::shared_ptr<dns::Resolver> resolver,
               SenderOptions options, log::Logger logger)
    : strand_(asio::make_strand(io)), store_(std::move(store)), resolver_(std::move(resolver)), opt_(std::move(options)),
      log_(std::move(logger)), timer_(strand_) {}

void Sender::start() {
    asio::co_spawn(strand_, [self = shared_from_this()]() { return self->loop(); }, [](std::exception_ptr) {});
}

void Sender::stop() {
    stopped_ = true;
    asio::post(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
}

asio::awaitable<void> Sender::loop() {
    while (!stopped_) {
        const auto now = Clock::now();
        const std::string today = day_of(now).value_or("");
        const auto hour = std::chrono::duration_cast<std::chrono::hours>(now.time_since_epoch()).count() % 24;
        for (const std::string& day : store_->days()) {
            if (stopped_ || day >= today) break;
            // The day before today waits for send_hour; older ones (missed while stopped) go now.
            if (day == day_before(today, 1) && hour < opt_.send_hour) continue;
            if (day < day_before(today, 3)) continue;  // given up: no more retries
            DayResult r = co_await send_day(day);
            for (const auto& line : r.lines) log_->info("TLS report {}: {}", day, line);
        }
        store_->prune(day_before(today, 14));
        timer_.expires_after(opt_.check_every);
        boost::system::error_code ec;
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

asio::awaitable<DayResult> Sender::send_day(std::string day) {
    DayResult out;
    std::size_t bad = 0;
    const std::vector<PolicyCounts> counts = store_->load_day(day, &bad);
    if (bad) out.lines.push_back(std::to_string(bad) + " damaged line(s) in " + day + ".events skipped");
    std::set<std::string> domains;
    for (const auto& c : counts) domains.insert(c.policy.domain);
    out.domains = domains.size();
    const std::set<std::string> already = store_->sent(day);
    for (const auto& domain : domains) {
        if (already.count(domain)) continue;
        const bool done = co_await send_domain(day, domain, counts, out);
        if (done) {
            if (auto ec = store_->mark_sent(day, domain)) out.lines.push_back(domain + ": cannot mark sent: " + ec.message());
        } else {
            ++out.failed;
        }
    }
    co_return out;
}

asio::awaitable<bool> Sender::send_domain(const std::string& day, const std::string& domain,
                                          const std::vector<PolicyCounts>& counts, DayResult& out) {
    dns::TxtRecords txt = co_await resolver_->txt("_smtp._tls." + domain);
    if (txt.status == dns::Status::servfail || txt.status == dns::Status::timeout) {
        out.lines.push_back(domain + ": _smtp._tls TXT lookup failed (" + txt.why + "); trying again later");
        co_return false;
    }
    std::vector<std::vector<std::string>> valid;
    for (const auto& r : txt.records)
        if (auto rua = parse_tlsrpt_record(r)) valid.push_back(*rua);
    if (valid.size() != 1 || valid.front().empty()) {
        ++out.no_policy;
        out.lines.push_back(domain + (valid.size() > 1 ? ": more than one TLSRPT record: no report"
                                                       : ": publishes no TLSRPT record: no report"));
        co_return true;
    }
    ReportMeta meta;
    meta.organization = opt_.organization;
    meta.contact = opt_.contact;
    meta.report_id = new_report_id();
    meta.day = day;
    const std::string json = report_json(meta, for_domain(counts, domain));
    const std::string gz = gzip(json);
    const std::string filename = report_filename(domain_of(opt_.from), domain, day, meta.report_id.substr(0, 8));
    bool any = false;
    for (const std::string& uri : valid.front()) {
        if (uri.rfind("mailto:", 0) == 0) {
            const std::string to = uri.substr(7);
            if (to.empty() || to.find_first_of("?\r\n ") != std::string::npos || to.find('@') == std::string::npos) {
                out.lines.push_back(domain + ": " + uri + ": not an address this sender can use");
                continue;
            }
            std::string error = "no queue";
            std::string id;
            if (opt_.queue_mail) {
                const std::string message = report_message(opt_, to, domain, meta.report_id, filename, gz, Clock::now());
                id = opt_.queue_mail(opt_.from, to, message, error);
            }
            if (id.empty()) {
                out.lines.push_back(domain + ": " + uri + ": not queued: " + error);
                continue;
            }
            out.lines.push_back(domain + ": report " + meta.report_id + " to " + uri + " queued as " + id);
            any = true;
        } else if (uri.rfind("https:", 0) == 0) {
            PostResult r = co_await https_post(*resolver_, opt_.tls, uri, "application/tlsrpt+gzip", gz);
            if (!r.ok) {
                out.lines.push_back(domain + ": report " + meta.report_id + " POST failed: " + r.error);
                continue;
            }
            out.lines.push_back(domain + ": report " + meta.report_id + " POSTed to " + uri + " (HTTP " +
                                std::to_string(r.status) + ")");
            any = true;
        }
    }
    if (any) ++out.sent;
    co_return any;
}

}  // namespace signpost::tlsrpt
