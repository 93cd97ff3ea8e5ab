"""Speed of the ML prior: Spleeter 2-stems inference, and a whole acapella-ml bounce.

    python benchmarks/ml_speed.py [SECONDS] [--no-write]

Runs the network on SECONDS (default 60) of stereo 44.1 kHz audio (a real track from
../shared when present, else noise), BLAS on 2 threads, after one warm-up patch, three times;
reports the best and the median as multiples of real time, with the CPU time and the load
average (the machine is shared: other jobs slow the wall clock, not the CPU time). Then times
``bounce.render`` with the acapella-ml preset on the same audio (prior + engine). Needs
``panslice model install``. Writes its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import scoring  # noqa: E402
from benchmarks.results import write_section  # noqa: E402
from panslice.dsp import spleeter as S  # noqa: E402
from panslice.plugin import ml_prior, model, presets  # noqa: E402
from panslice.plugin.bounce import render  # noqa: E402

TARGET_X_REALTIME = 10.0


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seconds", nargs="?", type=float, default=60.0)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    x, what = audio(args.seconds)
    dur = x.shape[1] / S.SAMPLE_RATE
    t_load, _ = timed(lambda: ml_prior.network())
    net = ml_prior.network()
    list(net.masks(x[:, : S.HOP * 100]))                  # warm-up (numba, work arrays)
    runs = [timed(lambda: list(net.masks(x))) for _ in range(3)]
    walls = [w for w, _ in runs]
    cpu = statistics.median(c for _, c in runs)
    load = os.getloadavg()[0]
    ps = presets.load("acapella-ml").params
    b_wall, b_cpu = timed(lambda: render(x, S.SAMPLE_RATE, ps, split=True, unity=True))
    patches = -(-S.Spleeter.n_frames(x.shape[1]) // S.PATCH)
    lines = [
        "## ML prior: speed",
        "",
        f"Spleeter 2-stems inference (numpy + numba, BLAS threads = "
        f"{os.environ['OPENBLAS_NUM_THREADS']}), {dur:.0f} s of {what}, {patches} patches; "
        f"{os.cpu_count()} cores, load average {load:.1f} during the run (the machine is shared).",
        "",
        "| what | wall (best / median of 3) | x real time (best / median) | CPU time |",
        "|---|---|---|---|",
        f"| network, per file | {min(walls):.2f} s / {statistics.median(walls):.2f} s | "
        f"{dur / min(walls):.1f}x / {dur / statistics.median(walls):.1f}x | {cpu:.2f} s |",
        f"| network, per 11.9 s patch | {min(walls) / patches:.2f} s | | {cpu / patches:.2f} s |",
        f"| bounce acapella-ml (prior + engine at 4096/1024) | {b_wall:.2f} s | {dur / b_wall:.1f}x | "
        f"{b_cpu:.2f} s |",
        f"| loading the model (once per process) | {t_load:.2f} s | | |",
        "",
        f"Target: inference >= {TARGET_X_REALTIME:g}x real time: "
        f"{'met' if dur / min(walls) >= TARGET_X_REALTIME else 'NOT met'} at the best run "
        f"({dur / min(walls):.1f}x). The CPU time ({cpu / patches:.2f} s per patch, BLAS on two "
        f"threads) is what an idle machine would need at most: {dur / cpu:.1f}x real time on one "
        f"core's worth of time, more where the two threads overlap.",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("ml-speed", "\n".join(lines))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except model.ModelError as e:
        print(f"ml_speed: {e}", file=sys.stderr)
        sys.exit(1)
