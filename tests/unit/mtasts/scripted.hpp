// tests/unit/mtasts/scripted.hpp — a scripted dns::Resolver and mtasts::Fetcher for the
// store and fetch tests, a temp dir, and a helper that runs one awaitable to completion.
// Everything here is used from the one thread that runs the test's io_context.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "relay/dns/resolver.hpp"
#include "relay/mtasts/fetch.hpp"

namespace signpost::mtasts::test {

namespace asio = boost::asio;

// Answers from maps; a name not in a map is NXDOMAIN.
class ScriptedResolver final : public dns::Resolver {
public:
    std::map<std::string, dns::TxtRecords> txt_answers;
    std::map<std::string, dns::AddressAnswer> a_answers, aaaa_answers;
    int txt_queries = 0, address_queries = 0;

    void set_txt(const std::string& name, std::vector<std::string> records) {
        dns::TxtRecords r;
        r.status = dns::Status::ok;
        r.records = std::move(records);
        txt_answers[name] = std::move(r);
    }
    void set_txt_status(const std::string& name, dns::Status status, std::string why = {}) {
        dns::TxtRecords r;
        r.status = status;
        r.why = std::move(why);
        txt_answers[name] = std::move(r);
    }
    void set_a(const std::string& name, const std::string& address) {
        dns::AddressAnswer r;
        r.status = dns::Status::ok;
        r.addresses.push_back(asio::ip::make_address(address));
        a_answers[name] = std::move(r);
    }

    asio::awaitable<dns::MxAnswer> mx(std::string) override { co_return dns::MxAnswer{}; }
    asio::awaitable<dns::AddressAnswer> a(std::string name) override {
        ++address_queries;
        co_return find(a_answers, name);
    }
    asio::awaitable<dns::AddressAnswer> aaaa(std::string name) override {
        ++address_queries;
        co_return find(aaaa_answers, name);
    }
    asio::awaitable<dns::TxtRecords> txt(std::string name) override {
        ++txt_queries;
        co_return find(txt_answers, name);
    }
    asio::awaitable<dns::TlsaAnswer> tlsa(std::string) override { co_return dns::TlsaAnswer{}; }

private:
    template <class T>
    static T find(const std::map<std::string, T>& m, const std::string& name) {
        auto it = m.find(name);
        if (it != m.end()) return it->second;
        T r;
        r.status = dns::Status::nxdomain;
        return r;
    }
};

// Returns the scripted result for a domain after `delay`; an unscripted domain fails.
class ScriptedFetcher final : public Fetcher {
public:
    std::map<std::string, FetchResult> results;
    std::chrono::milliseconds delay{0};
    std::vector<std::string> calls;

    void serve(const std::string& domain, std::string body) {
        FetchResult r;
        r.ok = true;
        r.body = std::move(body);
        results[domain] = std::move(r);
    }
    void fail(const std::string& domain, std::string error) {
        FetchResult r;
        r.error = std::move(error);
        results[domain] = std::move(r);
    }

    asio::awaitable<FetchResult> fetch(std::string domain) override {
        calls.push_back(domain);
        if (delay.count() > 0) {
            asio::steady_timer t(co_await asio::this_coro::executor, delay);
            co_await t.async_wait(asio::use_awaitable);
        }
        auto it = results.find(domain);
        if (it != results.end()) co_return it->second;
        FetchResult r;
        r.error = "nothing scripted for " + domain;
        co_return r;
    }
};

class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::path(::testing::TempDir()) / "signpost-mtasts-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// Runs `a` (and everything else queued on `io`, background work included) to completion.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> a) {
    std::optional<T> out;
    std::exception_ptr error;
    asio::co_spawn(io, std::move(a), [&](std::exception_ptr e, T v) {
        if (e) error = e;
        else out = std::move(v);
    });
    io.restart();
    io.run();
    if (error) std::rethrow_exception(error);
    if (!out) throw std::runtime_error("the awaitable did not complete");
    return std::move(*out);
}

}  // namespace signpost::mtasts::test
