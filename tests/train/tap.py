"""Minimal TAP output for the training tests (meson's protocol: 'tap')."""
import os
import sys
import traceback

ROOT = os.environ.get("RESONANT_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "train"))


def run(tests):
    """tests: list of (name, fn). Each fn raises on failure. Prints TAP and
    exits non-zero if any test failed."""
    print(f"1..{len(tests)}", flush=True)
    failed = 0
    for i, (name, fn) in enumerate(tests, 1):
        try:
            note = fn()
            print(f"ok {i} - {name}" + (f" # {note}" if note else ""), flush=True)
        except Exception:  # noqa: BLE001 - report every failure as TAP
            failed += 1
            print(f"not ok {i} - {name}", flush=True)
            for line in traceback.format_exc().splitlines():
                print("# " + line, flush=True)
    sys.exit(1 if failed else 0)
