"""OSC flood: does a storm of control messages disturb file-driven `panslice live`?

Runs `panslice live --input-file` on a real track (or a synthetic mix when ../shared is absent)
four times: quiet, while this script sends valid parameter changes over UDP at a fixed rate,
while it sends as many bad ones (out of range, unknown address, malformed packet), and, as a
control, with OSC off while the same flood goes to a socket nobody reads: what the sending
alone costs a machine with few cores. Prints, for each run, the messages sent and handled (and their rates) and the live
loop's own counts: overruns (input read late), under-runs (output ran dry), blocks whose
processing took longer than their duration, and the peak load. Figures, not a pass/fail: on a
shared machine they move with its load, so the quiet run is the yardstick. Writes its section
of benchmarks/RESULTS.md.

    python3 benchmarks/osc_flood.py [--rate 10000] [--seconds 10] [--buffer 512] [--nice -10] [--no-write]

``--nice`` runs the live process at that niceness (below 0 needs root), as a live rig would
raise its audio's priority: it shields the session from other jobs on a shared machine, while
the OSC thread and the audio loop still share one process and compete as they do in use.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _common  # noqa: E402  (first: the repo root on sys.path)
from benchmarks import scoring  # noqa: E402

# Valid changes, cycled: continuous knobs that the engine glides, as a controller's faders do.
CYCLE = [("/panslice/width", "f"), ("/panslice/center", "f"), ("/panslice/target_gain_db", "f"),
         ("/panslice/band/1/gain_db", "f"), ("/panslice/softness", "f")]


def excerpt(seconds: float, folder: Path) -> tuple[Path, str]:
    import soundfile as sf

    tracks = scoring.tracks()
    if tracks:
        x, sr = scoring.load(tracks[0] / "mixture.wav")
        name = tracks[0].name
    else:
        sr = 44100.0
        rng = np.random.default_rng(0)
        x = (0.1 * rng.standard_normal((2, int(seconds * sr)))).astype(np.float32)
        name = "synthetic noise (../shared absent)"
    n = int(seconds * sr)
    x = np.tile(x, (1, -(-n // x.shape[1])))[:, :n]
    path = folder / "excerpt.wav"
    sf.write(str(path), x.T, int(sr), subtype="FLOAT")
    return path, name


def messages(n: int, bad: bool) -> list[bytes]:
    from pythonosc.osc_message_builder import OscMessageBuilder

    if bad:
        b = OscMessageBuilder("/panslice/center")
        b.add_arg(5.0)
        u = OscMessageBuilder("/panslice/centre")
        u.add_arg(0.1)
        return [b.build().dgram, u.build().dgram, b"not osc at all"] * (n // 3)
    out = []
    for i in range(n):
        addr, _ = CYCLE[i % len(CYCLE)]
        b = OscMessageBuilder(addr)
        b.add_arg(float(0.1 + 0.4 * ((i * 7919) % 1000) / 1000.0) * (-1 if "gain" in addr else 1))
        out.append(b.build().dgram)
    return out


def wait_ready(port: int, proc: subprocess.Popen, said: Path, timeout: float = 120.0) -> None:
    """Until the server answers /panslice/get (the loop starts right after it listens)."""
    from pythonosc.osc_message_builder import OscMessageBuilder

    get = OscMessageBuilder("/panslice/get").build().dgram
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"panslice live exited early: {said.read_text()}")
            s.sendto(get, ("127.0.0.1", port))
            try:
                s.recv(4096)
                return
            except (socket.timeout, TimeoutError):
                continue
    raise RuntimeError("panslice live did not answer OSC in time")


def session(song: Path, out: Path, rate: float, bad: bool, listen: bool, buffer: int,
            flood_s: float, nice: int) -> dict:
    """One live session; the flood lasts ``flood_s`` from when the session answers OSC (or, not
    listening, says it started), which ends while the input still plays, so every message sent
    could be handled."""
    nobody = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    nobody.bind(("127.0.0.1", 0))
    port = _common.free_port() if listen else nobody.getsockname()[1]
    cmd = [sys.executable, "-m", "panslice.plugin.cli", "live", "--input-file", str(song),
           "--output", "none", "--output-file", str(out), "-y", "--buffer", str(buffer),
           "--preset", "vocal-lift", *(["--osc-port", str(port)] if listen else ["--no-osc"])]
    # stderr to a file, not a pipe: a pipe nobody reads until the end fills up with log lines
    # and then blocks the OSC thread's logging (messages pile up in the socket and are lost)
    said = out.with_name("stderr.txt")
    with open(said, "w") as err_file:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err_file, text=True,
                                preexec_fn=(lambda: os.nice(nice)) if nice else None)
    sent = 0
    try:
        if listen:
            wait_ready(port, proc, said)
        else:
            while "Ctrl-C stops" not in said.read_text() and proc.poll() is None:
                time.sleep(0.05)
        if rate > 0:
            msgs = messages(999, bad)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                t0 = time.monotonic()
                tick = 0.005
                while time.monotonic() - t0 < flood_s and proc.poll() is None:
                    due = int((time.monotonic() - t0) * rate)
                    while sent < due:
                        s.sendto(msgs[sent % len(msgs)], ("127.0.0.1", port))
                        sent += 1
                    time.sleep(tick)
                flood_s = time.monotonic() - t0
        proc.wait(timeout=600)
        err = said.read_text()
    finally:
        nobody.close()
        if proc.poll() is None:
            proc.kill()
    if proc.returncode != 0:
        raise RuntimeError(f"panslice live failed: {err}")
    osc = re.search(r"osc: (\d+) messages \((\d+) accepted, (\d+) rejected\), and (\d+) malformed", err)
    live = re.search(r"(\d+) overruns, (\d+) under-runs, (\d+) server xruns, (\d+) late blocks "
                     r"\(peak load (\d+)%", err)
    if not live or (listen and not osc):
        raise RuntimeError(f"could not read the session report:\n{err}")
    # messages, and packets too malformed to be any
    handled = int(osc.group(1)) + int(osc.group(4)) if osc else 0
    return {"sent": sent, "flood_s": flood_s if rate > 0 else 0.0, "handled": handled, "rejected": int(osc.group(3)) + int(osc.group(4)) if osc else 0,
            "overruns": int(live.group(1)), "underruns": int(live.group(2)),
            "late": int(live.group(4)), "peak": int(live.group(5))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=10000.0, help="messages per second (default 10000)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the session (default 10)")
    ap.add_argument("--buffer", type=int, default=512, help="live block size (default 512)")
    ap.add_argument("--nice", type=int, default=0, help="niceness of the live process (default 0)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        song, name = excerpt(args.seconds, Path(tmp))
        rows = []
        r = f"{args.rate:.0f}/s"
        for label, rate, bad, listen in (("none", 0.0, False, True), (f"{r} valid", args.rate, False, True),
                                         (f"{r} bad", args.rate, True, True),
                                         (f"{r}, OSC off (control)", args.rate, False, False)):
            rows.append((label, session(song, Path(tmp) / "heard.wav", rate, bad, listen, args.buffer,
                                        args.seconds - 2.0, args.nice)))
    lines = [f"`panslice live --input-file` ({args.seconds:g} s of {name}, preset vocal-lift, "
             f"blocks of {args.buffer}, no device, niceness {args.nice}); for its first {args.seconds - 2:g} s "
             "`benchmarks/osc_flood.py` sends changes over UDP loopback (bad: out of range, "
             f"unknown address, not OSC). {_common.machine()}, shared: load average "
             f"{_common.load():.1f} at the end.", "",
             "| flood | sent | sent/s | handled | handled/s | rejected | overruns | under-runs "
             "| late blocks | peak load |", "|---|---|---|---|---|---|---|---|---|---|"]
    for label, r in rows:
        per_s = r["sent"] / r["flood_s"] if r["flood_s"] else 0.0
        handled_s = r["handled"] / r["flood_s"] if r["flood_s"] else 0.0
        lines.append(f"| {label} | {r['sent']} | {per_s:.0f} | {r['handled']} | {handled_s:.0f} | "
                     f"{r['rejected']} | {r['overruns']} | {r['underruns']} | {r['late']} | {r['peak']}% |")
    _common.publish("osc_flood", "\n".join(lines), not args.no_write, "## OSC flood")


if __name__ == "__main__":
    main()
