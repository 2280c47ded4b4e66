// tests/unit/delivery/fake_server.cpp — see fake_server.hpp.
#include "fake_server.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "relay/smtp/sasl.hpp"

namespace signpost::delivery::test {
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::ip::tcp;

namespace {

std::string bio_string(BIO* bio) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(n));
}

// One connection's transport: plain, then TLS after STARTTLS (or from the start).
struct Conn {
    explicit Conn(tcp::socket s) : socket(std::move(s)) {}
    tcp::socket socket;
    std::unique_ptr<ssl::stream<tcp::socket&>> tls;
    std::string in;
    std::chrono::milliseconds gap{0};  // Script::trickle_gap

    awaitable<void> write(const std::string& data, bool trickle) {
        if (!trickle) {
            if (tls) co_await asio::async_write(*tls, asio::buffer(data), asio::use_awaitable);
            else co_await asio::async_write(socket, asio::buffer(data), asio::use_awaitable);
            co_return;
        }
        for (char c : data) {
            if (gap.count() > 0) {
                asio::steady_timer t(socket.get_executor(), gap);
                co_await t.async_wait(asio::use_awaitable);
            }
            if (tls) co_await asio::async_write(*tls, asio::buffer(&c, 1), asio::use_awaitable);
            else co_await asio::async_write(socket, asio::buffer(&c, 1), asio::use_awaitable);
        }
    }
    awaitable<void> read_more() {
        char buf[4096];
        std::size_t n = 0;
        if (tls) n = co_await tls->async_read_some(asio::buffer(buf), asio::use_awaitable);
        else n = co_await socket.async_read_some(asio::buffer(buf), asio::use_awaitable);
        in.append(buf, n);
    }
    awaitable<std::string> read_line() {
        for (;;) {
            auto pos = in.find("\r\n");
            if (pos != std::string::npos) {
                std::string line = in.substr(0, pos);
                in.erase(0, pos + 2);
                co_return line;
            }
            co_await read_more();
        }
    }
    std::size_t buffered_lines() const {
        std::size_t n = 0;
        for (std::size_t pos = in.find("\r\n"); pos != std::string::npos; pos = in.find("\r\n", pos + 2)) ++n;
        return n;
    }
    awaitable<void> handshake(ssl::context& ctx) {
        tls = std::make_unique<ssl::stream<tcp::socket&>>(socket, ctx);
        co_await tls->async_handshake(ssl::stream_base::server, asio::use_awaitable);
    }
};

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

TestCert make_test_cert(const std::string& san) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    if (!key) throw std::runtime_error("EVP_EC_gen failed");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), static_cast<long>(std::rand() % 100000 + 1));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("signpost test"), -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, san.c_str()},
                              std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
        if (!ext) throw std::runtime_error("X509V3_EXT_conf_nid failed");
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (X509_sign(x, key, EVP_sha256()) == 0) throw std::runtime_error("X509_sign failed");
    BIO* cb = BIO_new(BIO_s_mem());
    BIO* kb = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(cb, x);
    PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
    TestCert out{bio_string(cb), bio_string(kb)};
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(key);
    return out;
}

std::shared_ptr<ssl::context> server_context(const TestCert& cert) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    ctx->use_certificate_chain(asio::buffer(cert.cert_pem));
    ctx->use_private_key(asio::buffer(cert.key_pem), ssl::context::pem);
    return ctx;
}

FakeServer::FakeServer(asio::io_context& io, Script script)
    : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), script_(std::move(script)) {}

tcp::endpoint FakeServer::endpoint() const { return acceptor_.local_endpoint(); }

void FakeServer::start() { asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached); }

void FakeServer::close() {
    boost::system::error_code ec;
    acceptor_.close(ec);
}

awaitable<void> FakeServer::accept_loop() {
    for (;;) {
        boost::system::error_code ec;
        tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        records.emplace_back();
        asio::co_spawn(acceptor_.get_executor(), session(std::move(socket), records.size() - 1), asio::detached);
    }
}

awaitable<void> FakeServer::session(tcp::socket socket, std::size_t index) {
    Conn c(std::move(socket));
    const Script& s = script_;
    c.gap = s.trickle_gap;
    // records may grow (another connection) while this one runs: index, never a reference.
    auto rec = [&]() -> Record& { return records[index]; };
    std::string login_step;  // "user" / "password" during AUTH LOGIN
    try {
        if (s.implicit_tls) {
            co_await c.handshake(*s.tls);
            rec().tls = true;
        }
        if (s.silent) {
            for (;;) co_await c.read_more();  // until the client gives up
        }
        co_await c.write(s.greeting, s.trickle);
        if (s.greeting.rfind("421", 0) == 0) co_return;
        for (;;) {
            std::string line = co_await c.read_line();
            rec().commands.push_back(line);
            const std::string u = upper(line);
            std::string reply;
            if (!login_step.empty()) {
                auto decoded = smtp::decode_base64(line);
                if (login_step == "user") {
                    login_step = (decoded && *decoded == s.user) ? "password" : "bad";
                    reply = "334 UGFzc3dvcmQ6\r\n";
                } else {
                    reply = (login_step == "password" && decoded && *decoded == s.password)
                                ? "235 2.7.0 Authentication successful\r\n"
                                : "535 5.7.8 Authentication credentials invalid\r\n";
                    login_step.clear();
                }
            } else if (u.rfind("EHLO ", 0) == 0) {
                reply = (c.tls && !s.ehlo_tls.empty()) ? s.ehlo_tls : s.ehlo;
            } else if (u.rfind("HELO ", 0) == 0) {
                reply = s.helo;
            } else if (u == "STARTTLS") {
                co_await c.write(s.starttls, s.trickle);
                if (s.starttls.rfind("220", 0) != 0) continue;
                if (s.close_instead_of_handshake) co_return;
                c.in.clear();
                co_await c.handshake(*s.tls);
                rec().tls = true;
                continue;
            } else if (u.rfind("AUTH PLAIN ", 0) == 0) {
                auto decoded = smtp::decode_base64(line.substr(11));
                auto creds = decoded ? smtp::parse_plain(*decoded) : smtp::Result<smtp::PlainCredentials>(decoded.error());
                reply = (creds && creds->user == s.user && creds->password == s.password)
                            ? "235 2.7.0 Authentication successful\r\n"
                            : "535 5.7.8 Authentication credentials invalid\r\n";
            } else if (u == "AUTH LOGIN") {
                login_step = "user";
                reply = "334 VXNlcm5hbWU6\r\n";
            } else if (u.rfind("MAIL FROM:", 0) == 0) {
                if (s.pipeline_lines > 0) {
                    while (c.buffered_lines() + 1 < s.pipeline_lines) co_await c.read_more();
                    rec().pipelined = true;
                }
                reply = s.mail;
            } else if (u.rfind("RCPT TO:", 0) == 0) {
                auto open = line.find('<');
                auto close = line.find('>');
                std::string address =
                    (open != std::string::npos && close != std::string::npos) ? line.substr(open + 1, close - open - 1) : "";
                if (s.mail.rfind("2", 0) != 0) reply = "503 5.5.1 Error: need MAIL command\r\n";
                else if (auto it = s.rcpt.find(address); it != s.rcpt.end()) reply = it->second;
                else reply = s.rcpt_default;
            } else if (u == "DATA") {
                co_await c.write(s.data, s.trickle);
                if (s.data.rfind("354", 0) != 0) continue;
                for (;;) {
                    std::size_t end = std::string::npos;
                    if (c.in.rfind(".\r\n", 0) == 0) end = 3;
                    else if (auto p = c.in.find("\r\n.\r\n"); p != std::string::npos) end = p + 5;
                    if (end != std::string::npos) {
                        rec().data = c.in.substr(0, end);
                        c.in.erase(0, end);
                        break;
                    }
                    co_await c.read_more();
                }
                reply = s.data_end;
                if (s.close_after_data_end) {
                    co_await c.write(reply, s.trickle);
                    co_return;
                }
            } else if (u == "QUIT") {
                co_await c.write("221 2.0.0 Bye\r\n", s.trickle);
                co_return;
            } else if (u == "RSET") {
                reply = s.rset;
            } else if (u == "NOOP") {
                reply = "250 2.0.0 Ok\r\n";
            } else {
                reply = "502 5.5.2 Error: command not recognized\r\n";
            }
            co_await c.write(reply, s.trickle);
            if (reply.rfind("421", 0) == 0) co_return;
        }
    } catch (const boost::system::system_error&) {
        // The client went away (or a handshake failed): the record is what it is.
    }
}

TempDir::TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "signpost-delivery-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

Job make_job(const std::filesystem::path& dir, const std::string& message, std::vector<std::string> recipients,
             std::string prepend, std::string queue_id) {
    Job job;
    job.queue_id = std::move(queue_id);
    job.mail_from = "alice@example.test";
    job.recipients = std::move(recipients);
    job.message_file = dir / (job.queue_id + ".msg");
    // What follows `size` must never be sent: it even looks like an end of data and a QUIT.
    write_file(job.message_file, message + "GARBAGE AFTER SIZE\r\n.\r\nQUIT\r\n");
    job.size = message.size();
    job.prepend = std::move(prepend);
    return job;
}

SessionTimeouts short_timeouts(std::chrono::milliseconds t) {
    SessionTimeouts s;
    s.connect = s.tls_handshake = s.greeting = s.command = s.mail = s.rcpt = s.data_init = s.data_block =
        s.data_end = s.quit = s.rset = t;
    return s;
}

}  // namespace signpost::delivery::test
