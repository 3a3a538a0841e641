// File: tests/host/raw_http.h
//
// One HTTP/1.1 exchange over a plain POSIX socket to 127.0.0.1, for test programs that must not use
// the library's own transport (the host programs, the tests of the real `vmcp` binary). The request
// should say `Connection: close`: the answer is read until the server closes.
#pragma once

#include <cstdint>
#include <string>

namespace vmcp::testing {

// The raw response (status line, headers, body), or "" when nothing answered.
std::string RawHttpExchange(uint16_t port, const std::string& request);

// GET `path` with Host 127.0.0.1; the raw response.
std::string RawHttpGet(uint16_t port, const std::string& path);

}  // namespace vmcp::testing
