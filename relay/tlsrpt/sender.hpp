// relay/tlsrpt/sender.hpp — sends each day's TLS reports (RFC 8460 §3, §5) to the recipient
// domains that ask for them.
//
// Once the UTC day is over and the hour is past [tls_rpt] send_hour, for every policy domain
// counted that day (store.hpp) whose report is not marked sent:
//   1. the domain's "_smtp._tls.<domain>" TXT record (§3): exactly one record starting
//      "v=TLSRPTv1" with an rua; none (NXDOMAIN, no such record, two of them) means the
//      domain wants no report: it is marked sent, nothing goes out; a DNS failure leaves it
//      for the next check;
//   2. the report (report.hpp), gzip'd, to each rua URI: "mailto:" as a message through
//      Signpost's own queue (§5.3: multipart/report; report-type="tlsrpt", the subject
//      "Report Domain: <domain> Submitter: <organization> Report-ID: <<id>>", the
//      TLS-Report-Domain and TLS-Report-Submitter fields, the report attached as
//      application/tlsrpt+gzip; DKIM-signed by the queue_mail callback like any mail from
//      a [[domain]]); "https:" as a POST of application/tlsrpt+gzip (post.hpp);
//   3. marked sent when at least one URI took it (a queued message is the queue's to
//      deliver); when all failed, the next check tries again, for up to 3 days after.
// Checks run at start and every 10 minutes. Days older than 14 are deleted.
//
// Untrusted input: the TXT record (parsed by parse_tlsrpt_record), the HTTPS responses.
// Threading: start()/stop()/send_day() from any thread; the loop runs on its own strand;
// queue_mail is called on that strand.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "relay/dns/resolver.hpp"
#include "relay/log/log.hpp"
#include "relay/tlsrpt/store.hpp"

namespace signpost::tlsrpt {

struct SenderOptions {
    std::string organization;  // [tls_rpt] organization
    std::string contact;       // [tls_rpt] contact
    std::string from;          // [tls_rpt] from
    std::string hostname;      // [server] hostname, for Message-ID
    int send_hour = 1;
    // Queues `message` from `from` to `rcpt`; returns the queue id, or "" with `error` set.
    std::function<std::string(const std::string& from, const std::string& rcpt, const std::string& message,
                              std::string& error)>
        queue_mail;
    std::shared_ptr<boost::asio::ssl::context> tls;  // for https: URIs
    std::chrono::milliseconds check_every = std::chrono::minutes(10);
};

// The mailto: report message (RFC 8460 §5.3), CRLF line ends, ready to sign and queue.
std::string report_message(const SenderOptions& o, const std::string& to, const std::string& policy_domain,
                           const std::string& report_id, const std::string& filename, const std::string& gzipped,
                           std::chrono::system_clock::time_point now);

struct DayResult {
    std::size_t domains = 0;     // policy domains counted that day
    std::size_t sent = 0;        // reports handed on now (to at least one URI)
    std::size_t no_policy = 0;   // domains that publish no TLSRPT record
    std::size_t failed = 0;      // domains left for a later try
    std::vector<std::string> lines;  // one per action, for logs and the CLI
};

class Sender : public std::enable_shared_from_this<Sender> {
public:
    Sender(boost::asio::any_io_executor io, std::shared_ptr<Store> store, std::shared_ptr<dns::Resolver> resolver,
           SenderOptions options, log::Logger logger);
    void start();
    void stop();
    // Sends `day`'s unsent reports now (whatever the hour).
    boost::asio::awaitable<DayResult> send_day(std::string day);

private:
    boost::asio::awaitable<void> loop();
    boost::asio::awaitable<bool> send_domain(const std::string& day, const std::string& domain,
                                             const std::vector<PolicyCounts>& counts, DayResult& out);

    boost::asio::strand<boost::asio::any_io_executor> strand_;
    std::shared_ptr<Store> store_;
    std::shared_ptr<dns::Resolver> resolver_;
    SenderOptions opt_;
    log::Logger log_;
    boost::asio::steady_timer timer_;
    std::atomic<bool> stopped_{false};
};

}  // namespace signpost::tlsrpt
