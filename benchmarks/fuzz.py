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
    tried: dict[str, list[int]] = {}
    name = None
    for line in out.splitlines():
        m = re.match(r"tests/test_fuzz.py::(\w+):$", line.strip())
        if m:
            name = m.group(1)
        m = re.search(r"(\d+) passing examples?, (\d+) failing examples?, (\d+) invalid", line)
        if m and name:
            t = tried.setdefault(name, [0, 0])
            t[0] += int(m.group(1)) + int(m.group(2))
            t[1] += int(m.group(2))
    for name, (n, failing) in tried.items():
        print(f"{name:32s} {n:6d} tried, {failing} failing")
    total = sum(n for n, _ in tried.values())
    print(f"{total} examples tried; pytest exit {r.returncode} ({_common.cpu_name()})")
    if r.returncode:
        print(out[-6000:])
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
