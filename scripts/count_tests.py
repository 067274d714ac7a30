#!/usr/bin/python3
"""Counts test cases across meson test logs and fuzz runs and prints the
summary line CI reads: `N passed, N failed`.

Each meson test prints TAP; every `ok`/`not ok` line is one case, and a
line with a `# SKIP` directive is neither (cmocka writes skips as
`not ok N # SKIP`, which meson 1.0 calls a failure; we follow the TAP
directive). A test program that exited non-zero without printing its own
failure (a crash, a timeout) counts as one failed case. Extra results (the
fuzzers) come as NAME=PASS|FAIL args.
"""
import json
import re
import sys

SKIP = re.compile(r"#\s*skip", re.IGNORECASE)


def count_log(path):
    passed = failed = 0
    with open(path) as f:
        for line in f:
            test = json.loads(line)
            out = test.get("stdout") or ""
            lines = out.splitlines()
            oks = [l for l in lines if re.match(r"ok\b", l) and not SKIP.search(l)]
            bads = [l for l in lines if re.match(r"not ok\b", l) and not SKIP.search(l)]
            skips = [l for l in lines if re.match(r"(not )?ok\b", l) and SKIP.search(l)]
            passed += len(oks)
            failed += len(bads)
            for line in skips:
                print(f"skipped: {test['name']}: {line}")
            result = test.get("result")
            died = test.get("returncode") not in (0, None) or result in ("TIMEOUT", "ERROR")
            if result not in ("OK", "EXPECTEDFAIL", "SKIP") and not bads and (died or not skips):
                failed += 1
                print(f"FAILED (no TAP failure line): {test['name']} [{result}]")
            for line in bads:
                print(f"FAILED: {test['name']}: {line}")
    return passed, failed


def main(args):
    passed = failed = 0
    for arg in args:
        if "=" in arg:
            name, result = arg.split("=", 1)
            if result == "PASS":
                passed += 1
            else:
                failed += 1
                print(f"FAILED: {name}")
        else:
            p, f = count_log(arg)
            passed += p
            failed += f
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
