"""Speech at 8 and 16 kHz: the SI-SDR lift of the ``voices`` slice at each FFT size, to choose
how a preset's fft_size scales with the rate (formats/presets.fft_size_at) on one set of
talkers and report it on another.

    python benchmarks/fft_per_rate.py [--no-write]

Three talkers of equal level panned -0.6 / 0 / +0.6 (``benchmarks/talkers.py``), 6 s; each
talker's stem is the ``voices`` slice at its true azimuth (as ``voices.py``'s level-only
column). *Choose*: synthetic talkers of other seeds and pitches, and espeak-ng saying other
lines in other voices. *Report*: the talkers of ``voices.py`` itself (seeds 0-2; its three
lines). The size the preset gives (1024 at 44.1 kHz) is marked by the rule's choice at each rate.
"""

from __future__ import annotations

import sys

import numpy as np

import _common  # noqa: E402  (first: the repo root on sys.path)
from benchmarks import talkers as T  # noqa: E402
from benchmarks.scoring import si_sdr  # noqa: E402
from panslice.plugin.formats import presets  # noqa: E402
from panslice.plugin.offline.bounce import render  # noqa: E402

RATES = (8000, 16000, 44100)
SIZES = (512, 1024, 2048, 4096)
CHOOSE_LINES = (("A large fawn jumped quickly over white zinc boxes in the yard.", "en+f3"),
                ("How much wood would a woodchuck chuck if he could chuck wood.", "en+m1"),
                ("The five boxing wizards jump quickly at dawn on Sunday.", "en+f4"))


def choose_set(sr: float, spoken: bool) -> list[np.ndarray]:
    n = int(sr * 6.0)
    if spoken:
        said = [T.espeak(t, sr, v) for t, v in CHOOSE_LINES]
        if all(s is not None for s in said):
            return [np.pad(s, (0, max(0, n - len(s))))[:n] for s in said]
    return [T.synthetic(sr, 6.0, seed, f0) for seed, f0 in zip((11, 12, 13), (95.0, 150.0, 210.0))]


def lift(src: list[np.ndarray], sr: float, size: int) -> float:
    """Mean SI-SDR gained per talker by the ``voices`` slice at its azimuth, at ``size``."""
    images = T.by_level(src)
    mix = sum(images).astype(np.float32)
    got = []
    for im, p in zip(images, T.LEVEL_PANS):
        ps = presets.load("voices").params.copy()
        ps.update({"center": p, "fft_size": size})
        est = render(mix, sr, ps, split=True, unity=True)[0]
        got.append(si_sdr(im, est) - si_sdr(im, mix))
    return float(np.mean(got))


def main() -> None:
    rows = []
    base = presets.load("voices").params["fft_size"]
    for which, make in (("choose", choose_set), ("report", lambda sr, s: T.three(sr, 6.0, s))):
        for sr in RATES:
            rule = presets.fft_size_at(base, sr)
            for spoken in (True, False):
                src = make(sr, spoken)
                cells = [f"{lift(src, sr, n):+.2f}" + ("*" if n == rule else "") for n in SIZES]
                rows.append(f"| {which} | {sr / 1000:g} kHz | {'espeak-ng' if spoken else 'synthetic'} | "
                            + " | ".join(cells) + " |")
                print(rows[-1], flush=True)
    body = ("SI-SDR gained per talker (dB, mean of three panned talkers) by the `voices` slice at "
            "each talker's azimuth, per FFT size; * marks the size `fft_size_at` gives the preset's "
            f"{base:g} at that rate. Sizes chosen on the *choose* talkers, reported on `voices.py`'s.\n\n"
            "| set | rate | talkers | " + " | ".join(str(n) for n in SIZES) + " |\n"
            "|---|---|---|" + "---|" * len(SIZES) + "\n" + "\n".join(rows) + "\n")
    _common.publish("fft_per_rate", body, "--no-write" not in sys.argv,
                    "## FFT size per rate, speech (`benchmarks/fft_per_rate.py`)")


if __name__ == "__main__":
    main()
