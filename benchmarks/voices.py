"""Talkers found by direction: SI-SDR gained per talker by ``bounce --sources``' slices.

    python benchmarks/voices.py [--no-write] [--rooms]

Three talkers of equal level made by ``benchmarks/talkers.py`` (espeak-ng voices, and synthetic
voiced ones), placed by level (pan -0.6, 0, +0.6) and by delay only (-10, 0, +8 samples at 16
kHz, the same times at 44.1 kHz), 6 s. For each: the sources ``--sources`` finds and its stems
(offline/sources.py, the ``voices`` preset), beside the level-only slice at each talker's true
direction (what panslice did before the delay axis) and the oracle binary mask (each bin to
the talker with the most power in it; 64 ms sqrt-Hann frames). Scores: SI-SDR of each talker's
stem less that of the mixture, in dB, per talker and their mean.

Then rooms (``--rooms``: those alone): the same talkers in a shoebox room simulated by
pyroomacoustics (image sources), anechoic and at RT60 0.2 to 0.4 s, two omni microphones 5 to
30 cm apart (``ROOMS``, ``talkers.in_room``). Each talker's reference is its image at the
microphones, reflections included (the task is to part the talkers, not to dereverberate).
Beside the sources found: the same slices at the talkers' true direct-path delays (what the
slicing reaches if the finding were perfect).
"""

from __future__ import annotations

import sys

import numpy as np

import _common  # noqa: E402  (first: the repo root on sys.path)
from benchmarks import talkers as T  # noqa: E402
from benchmarks.scoring import si_sdr  # noqa: E402
from panslice.dsp.sources import DirectionHistogram  # noqa: E402
from panslice.plugin.formats import presets  # noqa: E402
from panslice.plugin.offline import sources  # noqa: E402
from panslice.plugin.offline.bounce import render  # noqa: E402


def oracle(images: list[np.ndarray], sr: float) -> list[np.ndarray]:
    from scipy.signal import istft, stft

    n = 1 << int(round(np.log2(sr * 0.064)))
    spec = [stft(im, nperseg=n, noverlap=3 * n // 4)[2] for im in images]
    mix = sum(spec)
    power = np.stack([np.abs(s) ** 2 for s in spec]).sum(axis=1)   # both channels
    best = np.argmax(power, axis=0)
    out = []
    for k, im in enumerate(images):
        y = istft(mix * (best == k), nperseg=n, noverlap=3 * n // 4)[1]
        out.append(y[:, :im.shape[1]])
    return out


def level_only(images, sr, truth) -> list[np.ndarray]:
    """The level slice at each talker's true azimuth (0 for the delay-placed ones)."""
    base = presets.load("voices").params
    mix = sum(images)
    out = []
    for p in truth:
        ps = base.copy()
        ps.update({"center": p, "width": 0.3})
        out.append(render(mix.astype(np.float32), sr, ps, split=True, unity=True)[0])
    return out


def lifts(images, estimates) -> list[float]:
    mix = sum(images)
    return [si_sdr(im, e) - si_sdr(im, mix) for im, e in zip(images, estimates)]


def _row(images, sr, truth_level, delays_ms) -> tuple[list[float], ...]:
    """Lifts per talker: sources found, slices at the true delays, level only, oracle."""
    mix = sum(images).astype(np.float32)
    base = presets.load("voices").params
    n = len(images)
    found = sources.find(mix, sr, n)
    got = (lifts(images, sources.stems(mix, sr, base, found)[:-1]) if len(found) == n
           else [float("nan")] * n)
    true = DirectionHistogram(sr).at([(0.0, d) for d in delays_ms])
    at_true = lifts(images, sources.stems(mix, sr, base, true)[:-1])
    return (got, at_true, lifts(images, level_only(images, sr, truth_level)),
            lifts(images, oracle(images, sr)))


# (rate, RT60 s, mics apart m): the 5-30 cm and RT60 0.2-0.4 s, densest at 16 kHz
ROOMS = ([(16000, rt, s) for rt in (0.0, 0.3) for s in (0.05, 0.1, 0.2, 0.3)]
         + [(16000, rt, 0.2) for rt in (0.2, 0.4)] + [(44100, rt, 0.2) for rt in (0.0, 0.3)])
# ... and where the left and right talkers alone are measured too (the 2 talkers)
PAIRS = [(16000, 0.0, s) for s in (0.1, 0.2, 0.3)] + [(16000, 0.3, 0.2)]


def rooms() -> str:
    rows = []
    for sr, spoken in ((sr, spoken) for sr in (16000, 44100) for spoken in (True, False)):
        src = T.three(sr, 6.0, spoken=spoken)
        for rt60, spacing, who in sorted((rt, s, who) for rate, rt, s in ROOMS if rate == sr
                                         for who in ((0, 1, 2), (0, 2))
                                         if len(who) == 3 or (rate, rt, s) in PAIRS):
            room = T.in_room(src, sr, rt60, spacing)
            images = [room[k] for k in who]
            delays = [T.room_delays_ms(spacing)[k] for k in who]
            got, at_true, lvl, orc = _row(images, sr, [0.0] * len(who), delays)
            what = ("espeak-ng" if spoken else "synthetic") + (", left + right" * (len(who) == 2))
            room = f"RT60 {rt60:g} s" if rt60 else "anechoic"
            rows.append(f"| {sr / 1000:g} kHz | {what} | {room} | {100 * spacing:g} cm | "
                        + " / ".join(f"{v:+.1f}" for v in got)
                        + f" | **{np.mean(got):+.1f}** | "
                        + " / ".join(f"{v:+.1f}" for v in at_true)
                        + f" | {np.mean(at_true):+.1f} | {np.mean(lvl):+.1f} | "
                        f"{np.mean(orc):+.1f} |")
            print(rows[-1], flush=True)
    d = ", ".join(f"{v:+.2f}" for v in T.room_delays_ms(0.2))
    return ("Three talkers of equal level (`benchmarks/talkers.py`), 6 s, in a "
            f"{' x '.join(f'{v:g}' for v in T.ROOM_M)} m shoebox room simulated by pyroomacoustics "
            f"(`talkers.in_room`), {T.DISTANCE_M:g} m from two omni microphones at angles "
            f"{', '.join(f'{a:+g}' for a in T.ANGLES)} degrees (direct-path delays {d} ms at 20 "
            "cm). SI-SDR gained per talker (dB) against its image at the microphones, reflections "
            "included: the stems of `bounce --sources`, their mean, the same slices at the "
            "talkers' true delays (the finding made perfect), the level-only slice at azimuth 0, "
            "and the oracle binary mask. Rows 'left + right': the talkers at -60 and +45 "
            "degrees alone (two talkers).\n\n"
            "| rate | talkers | room | mics apart | --sources, per talker | mean | at the true "
            "delays | mean | level only | oracle |\n|---|---|---|---|---|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")


def main() -> None:
    if "--rooms" not in sys.argv:
        direct()
    _common.publish("voices-rooms", rooms(), "--no-write" not in sys.argv,
                    "## Talkers in a room (`benchmarks/voices.py`)")


def per_frame(settings: dict, sr: float, seconds: float = 60.0, block: int = 512) -> float:
    """CPU seconds per frame of the stems' engine (unity gains, two outputs) on noise, in
    blocks: this process's CPU time, which other processes on a busy machine disturb less than
    the wall clock."""
    import time

    from panslice.dsp import Engine

    ps = presets.load("voices").params.copy()
    ps.update(settings)
    eng = Engine(ps, unity=True).prepare(sr, block)
    x = (0.1 * np.random.default_rng(0).standard_normal((2, int(sr * seconds)))).astype(np.float32)
    out = np.empty((2, 2, block), np.float32)
    eng.process_split(x[:, :4 * block], np.empty((2, 2, 4 * block), np.float32))   # compile
    start, t = eng.frames_processed, time.process_time()
    for at in range(0, x.shape[1] - block + 1, block):
        eng.process_split(x[:, at:at + block], out)
    return (time.process_time() - t) / (eng.frames_processed - start)


def cost() -> str:
    """Time per frame of a competing slice against the level-only one, at 16 and 44.1 kHz:
    the settings --sources gives the three talkers by delay, and eight sources (seven
    rivals, the most) by level and delay; the best of 7 interleaved rounds each."""
    rows = []
    for sr in (16000, 44100):
        src = T.three(sr, 6.0)
        found = sources.find(sum(T.by_delay(src, [round(d * sr / 16000) for d in T.DELAYS]))
                             .astype(np.float32), sr, 3)
        n = found[0].settings["fft_size"]
        eight = [(a, d) for a in (-0.3, 0.3) for d in (-0.3, -0.1, 0.1, 0.3)]
        ways = {"level only": {"fft_size": n, "width": 0.3}, "3 talkers": found[1].settings,
                "8 sources": DirectionHistogram(sr).at(eight)[0].settings}
        rounds = [{k: per_frame(v, sr) for k, v in ways.items()} for _ in range(7)]
        best = {k: min(r[k] for r in rounds) for k in ways}
        rows.append(f"| {sr / 1000:g} kHz | {n:g} | {1e6 * best['level only']:.0f} us | "
                    + " | ".join(f"{1e6 * best[k]:.0f} us ({best[k] / best['level only']:.2f}x)"
                                 for k in ("3 talkers", "8 sources")) + " |")
    return ("CPU time per frame of the stems' engine (blocks of 512, 60 s of noise, best of 7 "
            f"interleaved rounds; {_common.machine()}, load {_common.load():.1f}): the level-only "
            "slice, the slice of one of three talkers competing with the other two (the settings "
            "`--sources` gives, `smooth_ms` 20 included), and of one of eight sources by level "
            "and delay (seven rivals).\n\n"
            "| rate | fft_size | level only | 3 talkers | 8 sources |\n|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")


def direct() -> None:
    rows = []
    for sr in (16000, 44100):
        delays = [round(d * sr / 16000) for d in T.DELAYS]
        for spoken in (True, False):
            src = T.three(sr, 6.0, spoken=spoken)
            for placed, images, truth in (
                    ("level", T.by_level(src), T.LEVEL_PANS),
                    ("delay", T.by_delay(src, delays), (0.0, 0.0, 0.0))):
                mix = sum(images).astype(np.float32)
                found = sources.find(mix, sr, 3)
                stems = sources.stems(mix, sr, presets.load("voices").params, found)[:-1]
                got = lifts(images, stems) if len(found) == 3 else [float("nan")] * 3
                lvl = lifts(images, level_only(images, sr, truth))
                orc = lifts(images, oracle(images, sr))
                what = "espeak-ng" if spoken else "synthetic"
                rows.append(f"| {sr / 1000:g} kHz | {what} | {placed} | "
                            + " / ".join(f"{v:+.1f}" for v in got)
                            + f" | **{np.mean(got):+.1f}** | {np.mean(lvl):+.1f} | {np.mean(orc):+.1f} |")
                print(rows[-1], flush=True)
    body = ("Three talkers of equal level (`benchmarks/talkers.py`), 6 s; SI-SDR gained per talker "
            "(dB) by the stems of `bounce --sources` (sources found, `voices` preset), the mean, "
            "the level-only slice at each talker's true azimuth, and the oracle binary mask. Delays "
            "-10/0/+8 samples at 16 kHz (the same times at 44.1 kHz); pure delays, no room.\n\n"
            "| rate | talkers | placed by | --sources, per talker | mean | level only | oracle |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    body += "\n" + cost()
    _common.publish("voices", body, "--no-write" not in sys.argv,
                    "## Talkers by direction (`benchmarks/voices.py`)")


if __name__ == "__main__":
    main()
