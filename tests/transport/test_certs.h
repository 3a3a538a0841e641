// File: tests/transport/test_certs.h
//
// Real X.509 certificates for TLS tests, made with the OpenSSL API at test time: a private CA, and
// server certificates it signs (with chosen subject alternative names and validity), written as PEM
// files into the test's temporary directory.
#pragma once

#include <string>
#include <vector>

namespace vmcp::transport::testing {

struct CertFiles {
  std::string cert_path;  // PEM certificate (a leaf is followed by nothing: the CA is separate)
  std::string key_path;   // PEM private key
};

class TestCa {
 public:
  // A self-signed CA named `name`; files are written under `dir` with `name` as prefix.
  TestCa(const std::string& dir, const std::string& name);
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::string& cert_path() const { return files_.cert_path; }

  // A server certificate for `dns_names` and `ips`, valid from now+not_before_s to now+not_after_s.
  CertFiles Issue(const std::string& name, const std::vector<std::string>& dns_names, const std::vector<std::string>& ips,
                  long not_before_s = -3600, long not_after_s = 86400);

 private:
  std::string dir_;
  std::string name_;
  CertFiles files_;
  void* key_ = nullptr;   // EVP_PKEY*
  void* cert_ = nullptr;  // X509*
};

// The test's scratch directory ($TEST_TMPDIR under Bazel).
std::string TempDir();

}  // namespace vmcp::transport::testing
