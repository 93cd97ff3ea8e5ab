"""What the benchmark scripts share: the repo root on ``sys.path``, a free UDP port, the line
that says which machine (and how busy) a figure came from, the command line of the scripts that
score real tracks, and how a result is published.

A script run as ``python3 benchmarks/x.py`` sees only its own folder, so it imports this module
first (``import _common``), which puts the repo root on ``sys.path``; ``benchmarks.*`` imports
then work. The tests use :func:`free_port` from here too.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def free_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load() -> float:
    """The 1-minute load average now."""
    return os.getloadavg()[0]


def machine() -> str:
    """'<CPU>, <n> cores': the head of every benchmark's note on where it ran."""
    return f"{cpu_name()}, {os.cpu_count()} cores"


def track_command(prog: str, doc: str):
    """``prog [FOLDER] [--no-write]``, for a script that scores the real tracks in FOLDER:
    ``(args, tracks)``, or None after one line on stderr when FOLDER holds none."""
    import argparse

    from benchmarks import scoring

    ap = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path, default=scoring.SHARED_REAL)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    tracks = scoring.tracks(args.folder)
    if not tracks:
        print(f"{prog}: no tracks in {args.folder}", file=sys.stderr)
        return None
    return args, tracks


def publish(section: str, body: str, write: bool, heading: str = "") -> None:
    """Print a benchmark's ``body``; with ``write`` (no --no-write), also put it, under
    ``heading`` where given, into its own ``section`` of RESULTS.md."""
    from benchmarks.results import RESULTS, write_section

    print(body)
    if write:
        write_section(section, f"{heading}\n\n{body}" if heading else body)
        print(f"wrote the {section} section of {RESULTS}", file=sys.stderr)
