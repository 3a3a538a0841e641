#!/usr/bin/env python3
"""Counts test cases in Bazel's test.xml files (GoogleTest writes one per test binary).

Usage: count_tests.py TESTLOGS_DIR LABEL
Prints "LABEL: N passed, N failed" and each failed case, and writes "N M" to stdout's last line for the
caller. A test binary that died before writing its cases (a sanitizer abort) counts as one failure.
"""
import pathlib
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    label = sys.argv[2]
    passed = failed = 0
    failures = []
    for xml_path in sorted(root.rglob("test.xml")):
        target = str(xml_path.parent.relative_to(root))
        # A `run_K_of_N` directory is left by a --runs_per_test run, which scripts/test.sh never makes:
        # when the target has its own test.xml (one run, possibly a cached result, whose file is then
        # older), the run directories are stale and not counted.
        if xml_path.parent.name.startswith("run_") and "_of_" in xml_path.parent.name:
            if (xml_path.parent.parent / "test.xml").exists():
                continue
        try:
            tree = ET.parse(xml_path)
        except ET.ParseError:
            failed += 1
            failures.append(f"{target}: unreadable test.xml")
            continue
        cases = list(tree.iter("testcase"))
        if not cases:
            failed += 1
            failures.append(f"{target}: no test cases recorded")
            continue
        for case in cases:
            if case.get("status") == "notrun" or case.get("result") == "skipped":
                continue
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                failures.append(f"{target}: {case.get('classname', '')}.{case.get('name', '')}")
            else:
                passed += 1
    for f in failures:
        print(f"  FAILED {f}", file=sys.stderr)
    print(f"{label}: {passed} passed, {failed} failed", file=sys.stderr)
    print(f"{passed} {failed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
