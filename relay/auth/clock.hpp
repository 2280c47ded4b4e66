// relay/auth/clock.hpp — the clock seam of relay/auth (STYLE.md habit 8).
//
// The authenticator's cache and the failure tracker measure time through a function
// injected at construction, so tests drive expiry with a fake clock instead of sleeping.
// Only intervals matter, so it is a monotonic (steady) clock: a wall-clock step never
// expires a cache entry or lifts a lockout early.
// Threading: the function is called from whichever thread uses the owner; it must be
// safe to call concurrently (steady_clock::now is).
#pragma once

#include <chrono>
#include <functional>

namespace signpost::auth {

using SteadyClock = std::function<std::chrono::steady_clock::time_point()>;

inline SteadyClock default_clock() {
    return [] { return std::chrono::steady_clock::now(); };
}

}  // namespace signpost::auth
