// tests/unit/delivery/fake_server.hpp — a scripted SMTP server on 127.0.0.1 for the
// delivery tests, running in the test's io_context: it answers each command with the
// script's reply and records what it received (command lines, the raw DATA octets, TLS).
// Also: a throw-away self-signed certificate made in memory, temp directories and
// message files.
//
// Threading: everything on one single-threaded io_context.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "relay/delivery/deliverer.hpp"
#include "relay/delivery/smtp_session.hpp"

namespace signpost::delivery::test {

// A self-signed certificate (EC P-256) with subjectAltName DNS:localhost, IP:127.0.0.1
// (or the given SAN list), valid from an hour ago for a day.
struct TestCert {
    std::string cert_pem;
    std::string key_pem;
};
TestCert make_test_cert(const std::string& san = "DNS:localhost,IP:127.0.0.1");
std::shared_ptr<boost::asio::ssl::context> server_context(const TestCert& cert);

struct Script {
    std::string greeting = "220 fake.test ESMTP ready\r\n";
    bool silent = false;        // accept, then never send a byte (timeouts)
    bool implicit_tls = false;  // TLS handshake right after accept
    std::string ehlo = "250-fake.test greets you\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
                       "250-ENHANCEDSTATUSCODES\r\n250 SIZE 1000000\r\n";
    std::string ehlo_tls;       // the EHLO reply once TLS is on; "" = `ehlo`
    std::string helo = "250 fake.test\r\n";
    std::string starttls = "220 2.0.0 Ready to start TLS\r\n";
    bool close_instead_of_handshake = false;  // after a 220 to STARTTLS, just close
    std::string mail = "250 2.1.0 Sender ok\r\n";
    std::map<std::string, std::string> rcpt;  // address -> reply
    std::string rcpt_default = "250 2.1.5 Recipient ok\r\n";
    std::string data = "354 End data with <CR><LF>.<CR><LF>\r\n";
    std::string data_end = "250 2.0.0 Ok: queued as FAKE1\r\n";
    std::string user, password;  // AUTH PLAIN/LOGIN succeed with these
    // When > 0: on MAIL, wait until this many command lines (MAIL included) have arrived
    // before answering. A client that does not pipeline then times out.
    std::size_t pipeline_lines = 0;
    std::string rset = "250 2.0.0 Ok\r\n";
    bool close_after_data_end = false;  // close the connection right after the final reply
    bool trickle = false;  // write every reply one octet at a time
    std::chrono::milliseconds trickle_gap{0};  // with trickle: the pause before each octet
    std::shared_ptr<boost::asio::ssl::context> tls;  // for STARTTLS / implicit TLS
};

// What one connection brought.
struct Record {
    std::vector<std::string> commands;  // lines without CRLF (DATA content not included)
    std::string data;                   // octets after 354, terminator included
    bool tls = false;                   // a TLS handshake completed
    bool pipelined = false;             // pipeline_lines were buffered when MAIL was read
};

class FakeServer {
public:
    FakeServer(boost::asio::io_context& io, Script script);
    boost::asio::ip::tcp::endpoint endpoint() const;
    // Accepts connections until close(); each gets the same script.
    void start();
    void close();
    std::vector<Record> records;  // one per connection, in accept order

private:
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket, std::size_t index);

    boost::asio::ip::tcp::acceptor acceptor_;
    Script script_;
};

// A private directory under the system temp dir, removed with everything in it.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& content);
std::string read_file(const std::filesystem::path& path);

// Every session timeout set to `t` (default 3 s), so tests that wait for one stay short.
SessionTimeouts short_timeouts(std::chrono::milliseconds t = std::chrono::seconds(3));

// A job whose message file holds `message` followed by trailing garbage (the spool's
// trailer stands in): size = message.size().
Job make_job(const std::filesystem::path& dir, const std::string& message, std::vector<std::string> recipients,
             std::string prepend = "", std::string queue_id = "Q1");

}  // namespace signpost::delivery::test
