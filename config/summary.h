// File: config/summary.h
//
// A short human-readable summary of a loaded config, as `vmcp validate` prints it: the server, then one
// line per backend (name, direct/proxy, transport, URL, CA bundle, outgoing auth strategy, names of
// extra headers), then incoming auth, aggregation and the operational settings. Never a secret value;
// credentials embedded in a URL are masked.
#pragma once

#include <string>

#include "config/config.h"

namespace vmcp::config {

std::string SummarizeConfig(const Config& cfg);

// The URL with any `user:password@` replaced by `***@`.
std::string RedactUrl(const std::string& url);

}  // namespace vmcp::config
