"""Speed of the ML prior: Spleeter 2-stems inference, per layer, per patch size, and a bounce.

    python benchmarks/ml_speed.py [SECONDS] [--no-write]

Runs the network on SECONDS (default 60) of stereo 44.1 kHz audio (a real track from
../shared when present, else noise), after a warm-up, three times each way, taking turns:

- *stems at once* (what the bounce and live use): the two stems' U-Nets on two threads, BLAS
  held to one thread in each (``ml_prior.stem_map``);
- *stems in turn*: one U-Net after the other, BLAS on two threads.

Reports the best and median wall time as multiples of real time, the CPU time (all threads;
the machine is shared: other jobs slow the wall clock more than the CPU time) and the load
average; the live patch sizes (64 to 512 frames); where one patch's CPU time goes, per layer
kind (one thread, so that thread time is all of it); and a whole ``bounce.render`` with
acapella-ml. Needs ``panslice model install``. Writes its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import argparse  # noqa: E402
import collections  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import _common  # noqa: E402  (first: the repo root on sys.path)
from benchmarks import scoring  # noqa: E402
from panslice.dsp import spleeter as S  # noqa: E402
from panslice.plugin.ml import prior as ml_prior, model  # noqa: E402
from panslice.plugin.formats import presets
from panslice.plugin.offline.bounce import render  # noqa: E402

TARGET_X_REALTIME = 10.0
LIVE_PATCHES = (64, 128, 256)


def audio(seconds: float) -> tuple[np.ndarray, str]:
    n = int(seconds * S.SAMPLE_RATE)
    tracks = scoring.tracks()
    if tracks:
        parts, names = [], []
        while sum(p.shape[1] for p in parts) < n:
            for tr in tracks:
                x, sr = scoring.load(tr / "mixture.wav")
                if sr == S.SAMPLE_RATE:
                    parts.append(x)
                    names.append(tr.name)
        return np.concatenate(parts, axis=1)[:, :n], "real music (" + ", ".join(sorted(set(names))) + ")"
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal((2, n))).astype(np.float32), "noise"


def timed(fn) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def layer_profile(net: S.Spleeter, x: np.ndarray) -> list[tuple[str, float]]:
    """CPU seconds per 512-frame patch by layer kind, stems in turn on this thread (BLAS one
    thread here: ``thread_time`` then counts all of it)."""
    setter = ml_prior._blas_thread_setter()
    if setter is None:
        return []
    setter(1)
    spent: dict[str, float] = collections.defaultdict(float)
    names = {"_conv_s2": "5x5 stride-2 convs (im2col + product)",
             "_deconv_s2": "5x5 stride-2 transposed convs (product + overlap-add, ReLU)",
             "_overlap_add_relu": "  of which overlap-add + ReLU",
             "_bn_leaky": "batch norm + LeakyReLU", "_conv_dil": "last 4x4 dilated conv",
             "_ratio": "sigmoids + ratio mask", "magnitude": "STFT magnitude"}
    saved = {k: getattr(S, k) for k in names}

    def wrap(key, fn):
        def inner(*a, **kw):
            t = time.thread_time()
            r = fn(*a, **kw)
            spent[key] += time.thread_time() - t
            return r
        return inner

    x = x[:, :S.PATCH * S.HOP - S.FRAME]                   # exactly one patch of frames
    list(net.masks(x))
    try:
        for k, fn in saved.items():
            setattr(S, k, wrap(k, fn))
        reps = 3
        t = time.thread_time()
        for _ in range(reps):
            list(net.masks(x))
        total = (time.thread_time() - t) / reps
    finally:
        for k, fn in saved.items():
            setattr(S, k, fn)
        setter(int(os.environ["OPENBLAS_NUM_THREADS"]))
    rows = [(names[k], spent[k] / reps) for k in names]
    rows.append(("other (copies, Python)", total - sum(v for n, v in rows if not n.startswith("  "))))
    rows.append(("total", total))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seconds", nargs="?", type=float, default=60.0)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    x, what = audio(args.seconds)
    dur = x.shape[1] / S.SAMPLE_RATE
    t_load, _ = timed(lambda: ml_prior.network())
    net = ml_prior.network()
    par = ml_prior.stem_map()
    for run in (None, par):                                # warm-up (numba, work arrays)
        for p in LIVE_PATCHES + (S.PATCH,):
            list(net.masks(x[:, :S.HOP * p], p, run))
    ways = {"stems at once (2 threads, BLAS 1 each)": par, "stems in turn (BLAS 2 threads)": None}
    runs: dict[str, list] = {w: [] for w in ways}
    loads = []
    for _ in range(3):
        for w, run in ways.items():
            runs[w].append(timed(lambda: list(net.masks(x, S.PATCH, run))))
        loads.append(_common.load())
    patches = -(-S.Spleeter.n_frames(x.shape[1]) // S.PATCH)
    lines = [
        "## ML prior: speed",
        "",
        f"Spleeter 2-stems inference (numpy + numba, float32), {dur:.0f} s of {what}, "
        f"{patches} patches of 512 frames; {_common.machine()}, load average "
        f"{min(loads):.1f}-{max(loads):.1f} during the runs (the machine is shared), runs taking turns.",
        "",
        "| network, 512-frame patches | wall best / median of 3 | x real time (best / median) | "
        "CPU time | wall per 11.9 s patch (best) |",
        "|---|---|---|---|---|",
    ]
    best = {}
    for w, rs in runs.items():
        walls = [r[0] for r in rs]
        cpu = statistics.median(r[1] for r in rs)
        best[w] = dur / min(walls)
        lines.append(f"| {w} | {min(walls):.2f} s / {statistics.median(walls):.2f} s | "
                     f"{dur / min(walls):.1f}x / {dur / statistics.median(walls):.1f}x | {cpu:.2f} s "
                     f"({cpu / patches:.2f} s per patch) | {min(walls) / patches:.3f} s |")
    lines += ["", "Live patch sizes (stems at once): each patch as the live worker computes it.", "",
              "| patch | wall per patch (best of 3 runs) | x real time | CPU per patch |", "|---|---|---|---|"]
    for p in LIVE_PATCHES:
        n = -(-S.Spleeter.n_frames(x.shape[1]) // p)
        rs = [timed(lambda: list(net.masks(x, p, par))) for _ in range(3)]
        w = min(r[0] for r in rs)
        lines.append(f"| {p} frames ({p * S.HOP / S.SAMPLE_RATE:.1f} s) | {w / n:.3f} s | "
                     f"{dur / w:.1f}x | {statistics.median(r[1] for r in rs) / n:.3f} s |")
    ps = presets.load("acapella-ml").params
    b_wall, b_cpu = timed(lambda: render(x, S.SAMPLE_RATE, ps, split=True, unity=True))
    lines += ["", f"Bounce acapella-ml (prior + engine at 4096/1024, split): {b_wall:.2f} s wall, "
              f"{dur / b_wall:.1f}x real time, {b_cpu:.2f} s CPU. Loading the model: {t_load:.2f} s "
              "(once per process)."]
    prof = layer_profile(net, x)
    if prof:
        lines += ["", "Where one 512-frame patch's CPU time goes (both stems, one thread, BLAS one thread):", "",
                  "| layers | CPU ms per patch |", "|---|---|"]
        lines += [f"| {n} | {1000 * v:.0f} |" for n, v in prof]
    w0 = next(iter(ways))
    lines += ["", f"Target: inference >= {TARGET_X_REALTIME:g}x real time: "
              f"{'met' if best[w0] >= TARGET_X_REALTIME else 'NOT met'} ({best[w0]:.1f}x, stems at once)."]
    _common.publish("ml-speed", "\n".join(lines), not args.no_write)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except model.ModelError as e:
        print(f"ml_speed: {e}", file=sys.stderr)
        sys.exit(1)
