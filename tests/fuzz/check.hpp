// tests/fuzz/check.hpp — CHECK(cond) for the fuzz targets: a failed invariant aborts, which
// libFuzzer reports as a crash (with the input that caused it) and replay_main.cpp as a
// failed test.
#pragma once

#include <cstdlib>

#define CHECK(cond)                \
    do {                           \
        if (!(cond)) std::abort(); \
    } while (0)
