// relay/tlsrpt/json_impl.cpp — Boost.JSON's compiled part (it is header-only in Boost 1.81:
// exactly one translation unit of the program may include <boost/json/src.hpp>). It is this
// one; every other file includes <boost/json.hpp> only. Code outside relay/tlsrpt that uses
// Boost.JSON links signpost_tlsrpt (or moves this file to a lower module) rather than
// including src.hpp a second time.
#include <boost/json/src.hpp>
