"""Batch throughput: `panslice batch` on a LocalCluster of 1 and of 2 worker processes.

Bounces FILES synthetic songs of SECONDS each (44.1 kHz, 16-bit, the karaoke preset) and
reports, for each cluster size: files per minute and the real-time factor (audio seconds per
wall second, the cluster's start-up and each
worker's one-time kernel load excluded and given apart), the speed-up of 2 over 1, and
the per-file overhead of the engine (wall per file on 1 worker minus the bounce's own time in
this process: submission, hashing, stamping, publishing). Then the skip-check cost: a folder
of 10,000 inputs whose outputs are all stamped, planned and checked as a rerun does (listing,
naming, reading every stamp). Writes its section of benchmarks/RESULTS.md.

    python3 benchmarks/batch.py [--files 32] [--seconds 60] [--done 10000] [--no-write]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import _common  # noqa: E402  (first: the repo root on sys.path)
from panslice.plugin.formats import audiofile, presets  # noqa: E402
from panslice.plugin.offline import batch, batch_work, bounce, catalogue, cluster, stamp  # noqa: E402

SR = 44100


def make_songs(folder: Path, files: int, seconds: float) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n = int(seconds * SR)
    out = []
    for k in range(files):
        voice = 0.1 * rng.standard_normal(n).astype(np.float32)
        x = np.stack([voice, voice]) + 0.05 * rng.standard_normal((2, n)).astype(np.float32)
        p = folder / f"song{k:03d}.wav"
        audiofile.write_stereo(p, x, SR, 16)
        out.append(p)
    return out


def bounce_time(song: Path, st: batch_work.Settings, out: Path) -> float:
    """The bounce's own time for one file, in this process, kernel warm (best of 3)."""
    times = []
    for _ in range(3):
        job = bounce.BounceJob(song, out / "ref.wav", st.preset, st.params, overwrite=True)
        t = time.perf_counter()
        bounce.run(job)
        times.append(time.perf_counter() - t)
    return min(times)


def throughput(src: Path, out: Path, st: batch_work.Settings, workers: int) -> dict:
    tasks = cluster.plan(catalogue.expand([str(src)]), str(out), lambda p: st)
    t0 = time.perf_counter()
    client, lc = cluster.connect(workers, None)
    try:
        client.wait_for_workers(workers)
        client.run(batch._load_kernel)  # each worker loads the kernel once, before the clock
        start = time.perf_counter() - t0
        t1 = time.perf_counter()
        rows = list(cluster.bounce_all(client, tasks))
        wall = time.perf_counter() - t1
    finally:
        client.close()
        lc.close()
    assert all(r["status"] == "done" for r in rows), rows
    audio = sum(r["audio_seconds"] for r in rows)
    return {"workers": workers, "start": start, "wall": wall, "files": len(rows),
            "per_min": 60 * len(rows) / wall, "rtf": audio / wall,
            "task": float(np.median([r["seconds"] for r in rows])),
            "cpu_per_min": 60 * sum(r["cpu_seconds"] for r in rows) / audio,
            "share": sum(r["cpu_seconds"] for r in rows) / (wall * workers)}


def skip_check(folder: Path, done: int, st: batch_work.Settings) -> tuple[float, int]:
    """Stamp ``done`` tiny inputs as finished (outputs and stamps), then time a rerun's plan
    and check."""
    src, out = folder / "in", folder / "out"
    tiny = make_songs(folder / "tiny", 1, 0.01)[0]
    for k in range(done):
        d = src / f"disc{k // 500:02d}"
        d.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tiny, d / f"t{k:05d}.wav")
    for t in cluster.plan(catalogue.expand([str(src)]), str(out), lambda p: st):
        Path(t.output).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tiny, t.output)
        stamp.write(t.output, stamp.record(t.input, "-", t.fingerprint, st.digest, [t.output], 0.01))
    t0 = time.perf_counter()
    todo = cluster.check(cluster.plan(catalogue.expand([str(src)]), str(out), lambda p: st))
    return time.perf_counter() - t0, len(todo.tasks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--done", type=int, default=10000)
    ap.add_argument("--tiny", type=int, default=20, help="0.25 s files for the per-file overhead")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    st = batch_work.settings(presets.load("karaoke"), [])
    with tempfile.TemporaryDirectory(prefix="panslice-bench-") as tmp:
        tmp = Path(tmp)
        songs = make_songs(tmp / "in", args.files, args.seconds)
        own = bounce_time(songs[0], st, tmp)
        load0 = _common.load()
        runs = [throughput(tmp / "in", tmp / f"out{w}", st, w) for w in (1, 2)]
        load1 = _common.load()
        tiny = make_songs(tmp / "tiny-in", args.tiny, 0.25)
        tiny_own = bounce_time(tiny[0], st, tmp)
        tiny_run = throughput(tmp / "tiny-in", tmp / "tiny-out", st, 1)
        check_s, left = skip_check(tmp / "skip", args.done, st)
    lines = report(args, runs, own, (tiny_run, tiny_own), check_s, left, load0, load1)
    _common.publish("batch", "\n".join(lines), not args.no_write)


def report(args, runs, own, tiny, check_s, left, load0, load1) -> list[str]:
    one = runs[0]
    tiny_run, tiny_own = tiny
    overhead = tiny_run["wall"] / tiny_run["files"] - tiny_own
    lines = [
        "## Batch: `panslice batch` on a Dask LocalCluster (benchmarks/batch.py)",
        "",
        f"{args.files} synthetic songs of {args.seconds:g} s (44.1 kHz, 16-bit wav, karaoke); "
        f"{_common.machine()}, load average {load0:.1f} before, {load1:.1f} after (the cores are "
        "shared with other jobs: the 2-worker figure is what was left to it).",
        "",
        "| workers | files/min | real-time factor | wall (s) | median task (s) | worker CPU s per audio min "
        "| CPU share per worker | cluster start + kernel (s) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        lines.append(f"| {r['workers']} | {r['per_min']:.1f} | {r['rtf']:.1f}x | {r['wall']:.1f} | "
                     f"{r['task']:.2f} | {r['cpu_per_min']:.2f} | {100 * r['share']:.0f}% | {r['start']:.1f} |")
    lines += [
        "",
        f"- 2 workers over 1: {runs[1]['per_min'] / one['per_min']:.2f}x (target 1.7x on two free cores). "
        "CPU share per worker is the workers' CPU time over their wall time: below 100% the "
        "workers waited for a core (other jobs), not for the batch.",
        f"- Per-file overhead of the batch (scheduling, content hash, stamp, publish, report): "
        f"{args.tiny} files of 0.25 s on 1 worker took {tiny_run['wall'] / tiny_run['files']:.3f} s "
        f"each against {tiny_own:.3f} s for the bounce alone in-process: {overhead * 1000:.0f} ms a "
        f"file, {100 * overhead / own:.0f}% of one {args.seconds:g} s song's bounce ({own:.2f} s "
        "in-process). On the songs themselves a task on 1 worker took "
        f"{one['task']:.2f} s (median) against {own:.2f} s: the size-dependent part (sha256 of "
        "the input, copying the output into place) and a worker thread's slower start, "
        f"{one['task'] - own:.2f} s a song.",
        f"- Skip check of a rerun over {args.done:,} stamped files (listing, naming, reading every "
        f"stamp, a stat of every output; no input read): {check_s:.2f} s, {left} left to do (target < 10 s).",
    ]
    return lines


if __name__ == "__main__":
    main()
