"""Speed and real-time safety: how long a person waits for a bounce, and how late a live block
can be. Prints a table and writes its section of ``benchmarks/RESULTS.md``.

Figures (issue 4), measured in one run on this machine:

- offline throughput of the engine (stems output, stereo 44.1 kHz, one thread, blocks of 8192)
  as a real-time factor, at the default settings, the ``low-latency`` preset and FFT 4096 / 8x,
  next to the *FFT floor*: the same number of forward and inverse real FFTs of the same size
  with ``scipy.fft`` in this process, called once per frame (as the engine's frames arrive) and
  batched 8 frames per call (as the engine batches its forward transforms); the floor is the
  faster of the two;
- ``ffmpeg -af surround=chl_out=3.0`` on the same file, whole process, as the peer;
- whole-process wall time of ``panslice bounce --stems`` on a 30 s track with a warm numba cache,
  of ``panslice --help``, and of the first bounce with an empty cache (a fresh install);
- ``panslice bounce -j 2`` on several files against ``-j 1``;
- live: per-block processing time of a chain holding one panslice stage over 10 minutes of audio
  at 64, 128, 256 and 512-sample blocks (median, p99, p99.9, max, also as a share of the block
  period), both wall clock (what the audio thread sees, preemption by other processes included)
  and the thread's own CPU time; and the bytes a block allocates in steady state (tracemalloc).
  Below a hop (512 samples here) the engine spreads each frame's work over the hop's blocks; 128
  is also timed with the engine prepared for 512-sample blocks (no spreading), for comparison;
  the configurations take turns (20 turns), so that a noisy spell falls on all of them alike;
- the machine's own jitter, as a control: a fixed piece of numba arithmetic of about a spread
  block's cost, timed in the same loop as the 128-sample blocks. What it shows in p99.9 and max
  is the machine's (interrupts, the host taking the virtual CPU), not panslice's.

Timings on a shared machine are noisy: every figure is a best-of-N (throughput) or a
distribution (live), CPU time is shown beside wall time, and the load average is reported.
Usage: ``python benchmarks/speed.py [--quick] [--no-write]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from _common import ROOT, load, machine, publish  # first: the repo root on sys.path
from benchmarks.results import RESULTS  # noqa: E402

SHARED_REAL = ROOT.parent / "shared" / "testdata" / "real"
SR = 44100
BLOCK = 8192        # offline block, as a bounce uses
FLOOR_BATCH = 8     # frames per scipy.fft call in the batched floor (the engine's BATCH)
LIVE_BLOCKS = (64, 128, 256, 512)
BATCH_FILE_S = 120     # length of each of the 4 files of the -j figure
BUSY_NS = 50_000_000   # live timing runs flat out for 50 ms, then rests 10 ms (untimed), so a
REST_S = 0.010         # real-time thread stays under Linux's 95% RT throttle
LIVE_TURNS = 20        # the live configurations take turns, a twentieth of the audio each

# Targets of issue 4.
TARGET_RT = 300.0
TARGET_FLOOR_RATIO = 1.5
TARGET_BOUNCE_S = 1.5
TARGET_HELP_S = 0.5
TARGET_P999_PCT = 5.0
TARGET_MAX_PCT = 25.0


# -- audio ---------------------------------------------------------------------------------------
def source_audio(seconds: float) -> tuple[np.ndarray, str]:
    """``seconds`` of a real track (looped) as float32 (2, n), or stereo noise if absent."""
    import soundfile as sf

    n = int(round(seconds * SR))
    tracks = sorted(p for p in SHARED_REAL.glob("*/mixture.wav")) if SHARED_REAL.is_dir() else []
    for path in tracks:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        if sr == SR and x.shape[1] == 2:
            reps = -(-n // x.shape[0])
            return np.ascontiguousarray(np.tile(x.T, reps)[:, :n]), f"{path.parent.name} (looped)"
    rng = np.random.default_rng(0)
    centre = rng.standard_normal(n)
    x = 0.1 * np.stack([centre, centre]) + 0.05 * rng.standard_normal((2, n))
    return x.astype(np.float32), "generated noise (real tracks not found)"


def write_wav(path: Path, x: np.ndarray) -> None:
    import soundfile as sf

    sf.write(path, x.T, SR, subtype="PCM_16")


# -- offline throughput --------------------------------------------------------------------------
def best_of(fns, reps: int) -> list[tuple[float, float]]:
    """(best wall seconds, best CPU seconds) of each of ``fns`` over ``reps`` rounds. The
    functions take turns within a round, so that a slow spell of this shared machine hits them
    alike; each call runs at SCHED_FIFO where permitted (other processes do not preempt it
    mid-run), with a short untimed rest after it."""
    walls = [[] for _ in fns]
    cpus = [[] for _ in fns]
    from panslice.plugin.live.realtime import audio_thread

    for _ in range(reps):
        for k, fn in enumerate(fns):
            with audio_thread(lock_memory=False):
                w, c = time.perf_counter(), time.process_time()
                fn()
                walls[k].append(time.perf_counter() - w)
                cpus[k].append(time.process_time() - c)
            time.sleep(0.1)
    return [(min(w), min(c)) for w, c in zip(walls, cpus)]


def engine_runner(x: np.ndarray, params: dict):
    """A function streaming ``x`` through the engine in 8192-sample blocks (stems output); with
    the seconds of audio it streams, its frame count and the FFT size."""
    from panslice.dsp import Engine

    eng = Engine(params, unity=True).prepare(SR, BLOCK)
    out = np.empty((2, 2, BLOCK), np.float32)
    blocks = [np.ascontiguousarray(x[:, i:i + BLOCK]) for i in range(0, x.shape[1] - BLOCK + 1, BLOCK)]
    eng.process_split(blocks[0], out)  # load the compiled kernel

    def run():
        eng.reset()
        for b in blocks:
            eng.process_split(b, out)

    return run, len(blocks) * BLOCK / SR, len(blocks) * BLOCK // eng.hop, eng.fft_size


def floor_runners(frames: int, n: int, inverses: int):
    """The FFT floor: 2 forward and 2 * ``inverses`` inverse real FFTs of size n per frame with
    scipy.fft, per call (one (2, n) frame at a time) and batched (8 frames per call; its time
    is scaled by the returned factor to the same frame count)."""
    import scipy.fft as sfft

    rng = np.random.default_rng(1)
    one = rng.standard_normal((2, n))
    batch = rng.standard_normal((FLOOR_BATCH * 2, n))

    def per_call():
        for _ in range(frames):
            s = sfft.rfft(one, axis=1)
            for _ in range(inverses):
                sfft.irfft(s, n, axis=1)

    def batched():
        for _ in range(frames // FLOOR_BATCH):
            s = sfft.rfft(batch, axis=1)
            for _ in range(inverses):
                sfft.irfft(s, n, axis=1)

    return per_call, batched, frames / (frames // FLOOR_BATCH * FLOOR_BATCH)


def offline(x: np.ndarray, reps: int) -> list[dict]:
    from panslice.plugin.formats import presets

    low = presets.load("low-latency").params.as_dict()
    configs = [("default (FFT 2048, 4x)", {}),
               ("low-latency preset (FFT 512, 4x)", low),
               ("FFT 4096, 8x", {"fft_size": 4096, "overlap": 8})]
    rows = []
    for name, params in configs:
        run, seconds, frames, n = engine_runner(x, params)
        per_call, batched, scale = floor_runners(frames, n, 1)  # stems: 1 inverse per channel
        (wall, cpu), (w1, c1), (w2, c2) = best_of([run, per_call, batched], reps)
        floors = {"per call": (w1, c1), "batched x8": (w2 * scale, c2 * scale)}
        fl_name, (fl_wall, fl_cpu) = min(floors.items(), key=lambda kv: kv[1][1])
        rows.append({
            "name": name, "rt_cpu": seconds / cpu, "rt_wall": seconds / wall,
            "us_frame": cpu / frames * 1e6, "frames": frames,
            "floors": {k: (seconds / c, c / frames * 1e6) for k, (w, c) in floors.items()},
            "floor_name": fl_name, "ratio": cpu / fl_cpu,
        })
    return rows


# -- whole processes -----------------------------------------------------------------------------
def panslice_cmd() -> list[str]:
    """The installed console script (beside this Python, not a shell shim), else ``-m``."""
    here = Path(sys.executable).parent / "panslice"
    if here.exists():
        return [str(here)]
    found = shutil.which("panslice")
    return [found] if found else [sys.executable, "-m", "panslice.plugin.cli"]


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall, CPU user+sys) seconds of one child process; raises if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - w
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def best_process(cmd: list[str], reps: int, env: dict | None = None) -> tuple[float, float]:
    runs = [timed(cmd, env) for _ in range(reps)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def processes(tmp: Path, x30: np.ndarray, reps: int) -> dict:
    exe = panslice_cmd()
    track = tmp / "track30.wav"
    write_wav(track, x30)
    res = {"exe": " ".join(exe)}
    bounce = [*exe, "bounce", str(track), "--stems", "-q", "-y", "-o", str(tmp / "stems")]
    # Cold: a numba cache folder nobody has used (what the first run after an install sees),
    # then the same folder again: proves the cache is written and found by a second process.
    cache = tmp / "numba-cache"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    res["cold"] = timed(bounce, env)
    res["second"] = timed(bounce, env)
    timed(bounce)  # make sure the regular cache is warm too
    res["warm"] = best_process(bounce, reps)
    res["help"] = best_process([*exe, "--help"], reps)
    res["python"] = best_process([sys.executable, "-c", "pass"], reps)
    ff = shutil.which("ffmpeg")
    if ff:
        res["ffmpeg"] = best_process([ff, "-v", "error", "-y", "-i", str(track), "-af",
                                      "surround=chl_out=3.0", str(tmp / "surround.wav")], reps)
    # Batch: four 2-minute files, one at a time and two at once (long enough that the work,
    # not the shared start-up, dominates).
    files = []
    long = np.tile(x30, (1, BATCH_FILE_S // 30))
    for k in range(4):
        p = tmp / f"batch{k}.wav"
        write_wav(p, np.roll(long, 4410 * k, axis=1))
        files.append(str(p))
    for j in (1, 2):
        res[f"j{j}"] = best_process([*exe, "bounce", *files, "--stems", "-q", "-y", "-o",
                                     str(tmp / f"batch-j{j}"), "-j", str(j)], max(1, reps // 2))
    return res


# -- live ----------------------------------------------------------------------------------------
class _Control:
    """The control: the same loop around a fixed piece of compiled arithmetic (no panslice)."""

    def __init__(self, target_us: float):
        from numba import njit

        @njit(cache=False)
        def spin(a, reps):
            s = 0.0
            for _ in range(reps):
                for j in range(a.shape[0]):
                    s += a[j] * 1.0000001
            return s

        self.spin, self.a = spin, np.ones(1024)
        self.reps = 1
        spin(self.a, 1)
        w = time.perf_counter()
        spin(self.a, 200)
        self.reps = max(1, round(target_us * 1e-6 / ((time.perf_counter() - w) / 200)))
        self.latency_samples = 0

    def process_block(self, blk, out) -> None:
        self.spin(self.a, self.reps)


def _interleaved(procs: list, x: np.ndarray) -> tuple[dict, str]:
    """Wall and thread-CPU ns of each block of ``x`` through each ``(label, block, proc)``, the
    procs taking turns (LIVE_TURNS turns, a slice of ``x`` each), so that a noisy spell of the
    machine falls on all of them alike; and a line saying how the timed thread ran."""
    from panslice.plugin.live.realtime import audio_thread

    res = {}
    for label, block, proc in procs:
        nblk = x.shape[1] // block
        out = np.empty((2, block), np.float32)
        for i in range(min(nblk, 2000)):  # warm: kernel loaded, frame full, caches hot
            proc.process_block(x[:, i * block:(i + 1) * block], out)
        res[label] = (np.empty(nblk), np.empty(nblk), out)
    pc, tt = time.perf_counter_ns, time.thread_time_ns
    with audio_thread() as granted:  # as plugin/live/loop.py runs its loop
        rest_at = pc() + BUSY_NS
        for turn in range(LIVE_TURNS):
            for label, block, proc in procs:
                wall, cpu, out = res[label]
                nblk = len(wall)
                for i in range(turn * nblk // LIVE_TURNS, (turn + 1) * nblk // LIVE_TURNS):
                    blk = x[:, i * block:(i + 1) * block]
                    w0, c0 = pc(), tt()
                    proc.process_block(blk, out)
                    cpu[i] = tt() - c0
                    wall[i] = pc() - w0
                    if w0 > rest_at:  # untimed: stay under the kernel's RT throttle
                        time.sleep(REST_S)
                        rest_at = pc() + BUSY_NS
    return {label: r[:2] for label, r in res.items()}, granted


def _median_cpu_us(proc, x: np.ndarray, block: int, n: int = 4000) -> float:
    """Median thread-CPU time of ``n`` blocks through ``proc`` (to size the control)."""
    out = np.empty((2, block), np.float32)
    t = np.empty(n)
    for i in range(n):
        c0 = time.thread_time_ns()
        proc.process_block(x[:, i * block:(i + 1) * block], out)
        t[i] = time.thread_time_ns() - c0
    return float(np.median(t)) / 1e3


def _stats(wall: np.ndarray, cpu: np.ndarray) -> dict:
    stats = {}
    for name, arr in (("wall", wall), ("cpu", cpu)):
        q = np.percentile(arr, [50, 99, 99.9])
        stats[name] = {"median": q[0], "p99": q[1], "p99.9": q[2], "max": arr.max()}
    return stats


def live(x: np.ndarray, blocks: tuple[int, ...]) -> tuple[list[dict], str]:
    """Per-block times of a chain with one panslice stage (karaoke preset), streaming ``x``, at
    each block size and at 128 without spreading, and of the control, all taking turns; with a
    line saying how the timed thread was scheduled."""
    from panslice.plugin.formats import presets
    from panslice.plugin.graph.chain import Chain
    from panslice.plugin.graph.stage import Stage

    params = presets.load("karaoke").params
    runs = [(b, b, f"{b}") for b in blocks] + [(128, 512, "128, not spread")]
    procs = [(label, block, Chain([Stage(params)]).prepare(SR, prepared))
             for block, prepared, label in runs]
    spread128 = next(p for label, _, p in procs if label == "128")
    procs.append(("control", 128, _Control(_median_cpu_us(spread128, x, 128))))
    times, granted = _interleaved(procs, x)
    rows = []
    for label, block, proc in procs:
        wall, cpu = times[label]
        row = {"block": block, "label": label, "period_us": block / SR * 1e6, "n": len(wall),
               "stats": _stats(wall, cpu), "over_max": _over_max(wall, block),
               "latency": None if label == "control" else proc.latency_samples}
        if label != "control":
            # Allocation in steady state: bytes kept and the largest transient, per block.
            out = np.empty((2, block), np.float32)
            k = min(len(wall), 4000)
            tracemalloc.start()
            proc.process_block(x[:, :block], out)
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            for i in range(k):
                proc.process_block(x[:, i * block:(i + 1) * block], out)
            cur, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            row.update(kept_per_block=(cur - base) / k, transient=peak - base)
        rows.append(row)
    return rows, granted


def _over_max(wall: np.ndarray, block: int) -> int:
    """Blocks that took longer than the max target's share of their period."""
    return int((wall > TARGET_MAX_PCT / 100 * block / SR * 1e9).sum())


# -- report --------------------------------------------------------------------------------------
def mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(meta: dict, off: list[dict], proc: dict, lv: list[dict], granted: str) -> str:
    L = []
    L.append(f"Machine: {meta['machine']}; Python {platform.python_version()}, "
             f"numba {meta['numba']}, scipy {meta['scipy']}. Load average (1 min) "
             f"{meta['load0']:.2f} at start, {meta['load1']:.2f} at end ({meta['date']}). "
             f"Audio: {meta['audio']}.")
    L.append("")
    d = off[0]
    L.append("### Targets")
    L.append(f"- engine offline, default settings: {d['rt_cpu']:.0f}x real time on one thread "
             f"(target >= {TARGET_RT:.0f}x): {mark(d['rt_cpu'] >= TARGET_RT)}")
    L.append(f"- engine vs FFT floor ({d['floor_name']} scipy.fft, the faster): {d['ratio']:.2f}x "
             f"(target <= {TARGET_FLOOR_RATIO}x): {mark(d['ratio'] <= TARGET_FLOOR_RATIO)}")
    if "warm" in proc:
        L.append(f"- `panslice bounce --stems`, 30 s track, warm cache: {proc['warm'][0]:.2f} s wall "
                 f"(target <= {TARGET_BOUNCE_S} s): {mark(proc['warm'][0] <= TARGET_BOUNCE_S)}")
        L.append(f"- `panslice --help`: {proc['help'][0]:.2f} s wall (target <= {TARGET_HELP_S} s): "
                 f"{mark(proc['help'][0] <= TARGET_HELP_S)}")
    for r in lv:
        if r["label"] == "128":
            s = r["stats"]["wall"]
            p999 = 100 * s["p99.9"] / 1e3 / r["period_us"]
            mx = 100 * s["max"] / 1e3 / r["period_us"]
            L.append(f"- live, 128-sample blocks, wall clock: p99.9 {p999:.1f}% of the block period "
                     f"(target <= {TARGET_P999_PCT:.0f}%): {mark(p999 <= TARGET_P999_PCT)}; max "
                     f"{mx:.1f}% (target <= {TARGET_MAX_PCT:.0f}%): {mark(mx <= TARGET_MAX_PCT)}")
            L.append(f"- live, 128-sample blocks, bytes kept per block in steady state: "
                     f"{r['kept_per_block']:.2f} (target 0): {mark(r['kept_per_block'] < 1)}")
        if r["label"] == "control":
            s = r["stats"]["wall"]
            L.append(f"- the control (fixed arithmetic, no panslice, same loop, 128-sample periods):"
                     f" p99.9 {100 * s['p99.9'] / 1e3 / r['period_us']:.1f}%, max "
                     f"{100 * s['max'] / 1e3 / r['period_us']:.1f}%, {r['over_max']} blocks over "
                     f"{TARGET_MAX_PCT:.0f}% of {r['n']}: this machine's own jitter")
    if "j1" in proc:
        sp = proc["j1"][0] / proc["j2"][0]
        L.append(f"- `bounce -j 2` on 4 files of {BATCH_FILE_S} s: {sp:.2f}x the speed of `-j 1` "
                 f"({proc['j1'][0]:.2f} s -> {proc['j2'][0]:.2f} s wall; 2.0x would be linear)")
    L.append("")
    L.append("### Offline throughput (stems output, stereo 44.1 kHz, blocks of 8192, one thread)")
    L.append("")
    L.append("Real-time factors from the best of several runs' CPU time, each run at SCHED_FIFO "
             "priority where permitted (best wall time in the last column). The floor does the "
             "engine's transforms (2 forward + 2 inverse real FFTs per frame) with scipy.fft and "
             "nothing else.")
    L.append("")
    L.append("| settings | engine | us/frame | floor per call | floor batched x8 | engine / floor | engine, wall |")
    L.append("|---|---|---|---|---|---|---|")
    for r in off:
        fp = r["floors"]["per call"]
        fb = r["floors"]["batched x8"]
        L.append(f"| {r['name']} | {r['rt_cpu']:.0f}x | {r['us_frame']:.1f} | {fp[0]:.0f}x ({fp[1]:.1f} us) "
                 f"| {fb[0]:.0f}x ({fb[1]:.1f} us) | {r['ratio']:.2f} | {r['rt_wall']:.0f}x |")
    if "ffmpeg" in proc:
        sec = 30.0
        L.append(f"| ffmpeg `-af surround=chl_out=3.0`, whole process | {sec / proc['ffmpeg'][0]:.0f}x wall "
                 f"({sec / proc['ffmpeg'][1]:.0f}x CPU) | | | | | |")
        L.append(f"| `panslice bounce --stems`, whole process | {sec / proc['warm'][0]:.0f}x wall "
                 f"({sec / proc['warm'][1]:.0f}x CPU) | | | | | |")
    L.append("")
    if "warm" in proc:
        L.append(f"### Whole processes (`{proc['exe']}`; best wall, with CPU user+sys)")
        L.append("")
        L.append("| command | wall s | CPU s |")
        L.append("|---|---|---|")
        for key, label in (("warm", "`bounce --stems`, 30 s track, warm numba cache"),
                           ("cold", "same, first run with an empty numba cache (fresh install)"),
                           ("second", "same, second process on that cache"),
                           ("help", "`panslice --help`"),
                           ("python", "`python -c pass` (interpreter start, for scale)"),
                           ("ffmpeg", "`ffmpeg -af surround=chl_out=3.0`, same 30 s file"),
                           ("j1", f"`bounce -j 1`, 4 files of {BATCH_FILE_S} s"),
                           ("j2", "`bounce -j 2`, same 4 files")):
            if key in proc:
                L.append(f"| {label} | {proc[key][0]:.2f} | {proc[key][1]:.2f} |")
        L.append("")
    L.append("### Live: Chain([Stage(karaoke)]).process_block, karaoke preset (FFT 2048, hop "
             "512), 10 minutes of audio per block size")
    L.append("")
    L.append("Per-block processing time in microseconds and as % of the block period. *wall* is "
             "what the audio thread sees on this shared 2-core machine; *cpu* is the thread's own "
             "CPU time for the same blocks (wall well above cpu: the thread was not running, e.g. "
             "the virtual CPU was preempted by the host). Blocks run back to back (50 ms on, 10 ms "
             "untimed rest), not paced in real time; the configurations below take turns (20 turns of "
             "half a minute of audio each), so that a noisy spell of this machine falls on all of "
             "them alike. The timed thread is scheduled as `panslice "
             f"live` schedules its loop (plugin/live/realtime.py): {granted}. Blocks shorter than a "
             "hop are *spread*: each frame's work is shared out over the next hop's blocks, for "
             "one hop more latency. *128, not spread* is the engine prepared for 512-sample "
             "blocks and given 128: the whole frame lands in every fourth block. *control* is "
             "the same loop around fixed arithmetic of about a spread block's CPU time, without "
             f"panslice. *over {TARGET_MAX_PCT:.0f}%*: blocks longer than that share of their period.")
    L.append("")
    L.append("| block | period | latency | clock | median | p99 | p99.9 | max | over "
             f"{TARGET_MAX_PCT:.0f}% | bytes kept / block | largest transient |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in lv:
        per = r["period_us"]
        lat = "" if r["latency"] is None else f"{1e3 * r['latency'] / SR:.1f} ms"
        for clock in ("wall", "cpu"):
            s = r["stats"][clock]
            cells = " | ".join(f"{s[k] / 1e3:.0f} us ({100 * s[k] / 1e3 / per:.1f}%)"
                               for k in ("median", "p99", "p99.9", "max"))
            over = f"{r['over_max']} of {r['n']}" if clock == "wall" else ""
            alloc = (f"{r['kept_per_block']:.2f} | {r['transient']} B"
                     if clock == "wall" and "kept_per_block" in r else " | ")
            L.append(f"| {r['label']} | {per:.0f} us | {lat} | {clock} | {cells} | {over} | {alloc} |")
    L.append("")
    L.append("Bytes kept: tracemalloc's traced memory after 4000 blocks minus before, per block. "
             "Largest transient: the peak above that during them (Python objects: views, argument "
             "tuples; a (2, 128) float32 array alone would be 1 KiB). tests/test_realtime.py "
             "asserts both, and that numba's runtime allocates nothing per frame.")
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="1 minute of live audio per block size and fewer repeats (a smoke run)")
    ap.add_argument("--no-write", action="store_true", help=f"print only; leave {RESULTS.name} alone")
    args = ap.parse_args(argv)
    import numba
    import scipy

    reps = 3 if args.quick else 7
    live_s = 60.0 if args.quick else 600.0
    x_live, audio = source_audio(live_s)
    x30 = np.ascontiguousarray(x_live[:, :30 * SR]) if live_s >= 30 else source_audio(30.0)[0]
    meta = {"machine": machine(), "numba": numba.__version__, "scipy": scipy.__version__,
            "load0": load(), "audio": audio}
    print(f"panslice speed benchmark: {meta['machine']}, load {meta['load0']:.2f}", flush=True)
    off = offline(x30, reps)
    print("  offline done", flush=True)
    with tempfile.TemporaryDirectory(prefix="panslice-speed-") as tmp:
        proc = processes(Path(tmp), x30, reps)
    print("  processes done", flush=True)
    lv, granted = live(x_live, LIVE_BLOCKS)
    meta["load1"] = load()
    meta["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    body = report(meta, off, proc, lv, granted)
    print()
    publish("speed", body, not args.no_write, "## Speed and real-time safety (`benchmarks/speed.py`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
