// The `vmcp` binary: a thin main over cli/commands.h.
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  return vmcp::cli::Run(args, std::cout, std::cerr);
}
