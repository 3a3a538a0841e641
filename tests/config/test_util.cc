#include "tests/config/test_util.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace vmcp::config::testing {

const char kBaseConfig[] = R"(name: test-vmcp
groupRef: test-group
backends:
    - name: a
      url: http://mcp-a.default.svc.cluster.local:8080/mcp
      transport: streamable-http
    - name: b
      url: http://mcp-b.default.svc.cluster.local:8080/sse#b
      transport: sse
incomingAuth:
    type: anonymous
outgoingAuth:
    source: inline
aggregation:
    conflictResolution: prefix
    conflictResolutionConfig:
        prefixFormat: '{workload}_'
)";

namespace {

struct Segment {
  std::string key;
  int index = -1;  // >= 0: a list item of `key`
};

std::vector<Segment> SplitPath(const std::string& path) {
  std::vector<Segment> out;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '.')) {
    Segment s;
    const size_t bracket = part.find('[');
    if (bracket == std::string::npos) {
      s.key = part;
    } else {
      s.key = part.substr(0, bracket);
      s.index = std::stoi(part.substr(bracket + 1));
    }
    out.push_back(s);
  }
  return out;
}

void Apply(YAML::Node node, const std::vector<Segment>& segs, size_t i, const std::string& value) {
  const Segment& s = segs[i];
  const bool last = i + 1 == segs.size();
  if (s.index < 0) {
    if (last) {
      if (value == kDelete) {
        node.remove(s.key);
      } else {
        node[s.key] = YAML::Load(value);
      }
      return;
    }
    Apply(node[s.key], segs, i + 1, value);
    return;
  }
  YAML::Node list = node[s.key];
  if (last) {
    if (value == kDelete) {
      list.remove(s.index);
    } else {
      list[s.index] = YAML::Load(value);
    }
    return;
  }
  YAML::Node item = list[s.index];
  Apply(item, segs, i + 1, value);
}

}  // namespace

std::string ApplyEdits(const std::string& yaml, const std::vector<Edit>& edits) {
  YAML::Node root = YAML::Load(yaml);
  for (const auto& [path, value] : edits) Apply(root, SplitPath(path), 0, value);
  YAML::Emitter emitter;
  emitter << root;
  return std::string(emitter.c_str()) + "\n";
}

std::string WithEdits(const std::vector<Edit>& edits) { return ApplyEdits(kBaseConfig, edits); }

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace vmcp::config::testing
