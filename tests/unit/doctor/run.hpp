// tests/unit/doctor/run.hpp — runs one awaitable to completion for the doctor unit tests
// (everything else queued on the io_context runs too).
#pragma once

#include <exception>
#include <optional>
#include <stdexcept>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace signpost::doctor::test {

template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> a) {
    std::optional<T> out;
    std::exception_ptr error;
    boost::asio::co_spawn(io, std::move(a), [&](std::exception_ptr e, T v) {
        if (e) error = e;
        else out = std::move(v);
    });
    io.restart();
    io.run();
    if (error) std::rethrow_exception(error);
    if (!out) throw std::runtime_error("the awaitable did not complete");
    return std::move(*out);
}

template <class T>
T run(boost::asio::awaitable<T> a) {
    boost::asio::io_context io;
    return run(io, std::move(a));
}

}  // namespace signpost::doctor::test
