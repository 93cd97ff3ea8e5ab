"""A longer fuzzing run of every input panslice reads (tests/test_fuzz.py, issue 18 item 10).

The tests run each property on a small seeded budget; this runs the same properties with
``--examples`` examples each, random (not derandomized), keeping what it finds in hypothesis's
example database (``.hypothesis/`` in the repo root: the next run tries those first). Prints
the examples tried per input and the failures, and exits non-zero on any.

    python3 benchmarks/fuzz.py [--examples 500] [-k osc]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

import _common


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=500, help="examples per input (default 500)")
    ap.add_argument("-k", default=None, help="only the properties matching (pytest -k)")
    args = ap.parse_args()
    env = dict(os.environ, PANSLICE_FUZZ_PROFILE="fuzz-long", PANSLICE_FUZZ_EXAMPLES=str(args.examples))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics",
           str(_common.ROOT / "tests" / "test_fuzz.py")] + (["-k", args.k] if args.k else [])
    r = subprocess.run(cmd, cwd=_common.ROOT, env=env, capture_output=True, text=True)
    out = r.stdout + r.stderr
    total = 0
    for name, passing, failing, invalid in re.findall(
            r"tests/test_fuzz.py::(\w+):\s*\n\s*- during generate phase \([^)]*\): (\d+) passing examples, "
            r"(\d+) failing examples, (\d+) invalid", out):
        total += int(passing) + int(failing)
        print(f"{name:32s} {int(passing) + int(failing):6d} tried, {failing} failing")
    print(f"{total} examples tried; pytest exit {r.returncode} ({_common.cpu_name()})")
    if r.returncode:
        print(out[-6000:])
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
