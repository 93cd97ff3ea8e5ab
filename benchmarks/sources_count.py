"""How many sources ``--sources`` lists without a count, against how many there are.

    python benchmarks/sources_count.py [--no-write] [--cache DIR]

Three sets of 16 kHz rooms (``talkers.in_room``: the 6 x 5 x 3 m shoebox, two omni microphones
5, 10, 20 and 30 cm apart, anechoic and RT60 0.2, 0.3 and 0.4 s), 6 s each:

- *choose*, the rooms dsp/sources.py's counting constants were chosen on: other talkers than
  voices.py's (espeak-ng lines and voices of fft_per_rate.py's and rivals_choose.py's choose
  sets, synthetic talkers of other seeds) in layouts voices.py does not use: 1 talker (one
  layout per kind), 2 (in two layouts, one with a talker nearly straight ahead), 3 (the two
  layouts the finding's constants were chosen on, and one with a talker nearly straight
  ahead: the reverberation, alike at both microphones, piles up on that talker) and 4;
- *noisy*: the choose rooms at RT60 0.3 s with white noise 20 dB under the mix, apart at each
  microphone (a live recording's hiss); *noisy 30 dB*, *noisy 10 dB* the same at 30 and 10 dB;
  *diffuse*: pink noise 20 dB under, as a diffuse field would reach the two microphones (their
  coherence sin(kd)/kd: alike at low frequencies, apart above). The noise floor's constants
  (OVER, NOISE_S, LEVEL_DIP) were chosen on these and the choose rooms at RT60 0.3 s;
- *voices*: voices.py's three talkers in its layout (its 32 rooms), reported only;
- *one*, where one source must be listed, reported only: each of voices.py's talkers alone in
  its room, and the real tracks (``../shared/testdata/real/*/mixture.wav``, 44.1 kHz) made
  centred (their mid on both channels) and mono-ish (the side at 5 %).

And the real tracks as they are: how many sources each lists (music is not talkers; no more
than before is the check). Each mix's histogram is kept in ``--cache`` (default: none), so a
rerun after a change to the peak picking alone does not simulate the rooms again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import _common  # noqa: E402  (first: the repo root on sys.path)
from benchmarks import scoring  # noqa: E402
from benchmarks import talkers as T  # noqa: E402
from benchmarks.fft_per_rate import CHOOSE_LINES  # noqa: E402
from benchmarks.rivals_choose import MORE_LINES  # noqa: E402
from panslice.dsp import sources as S  # noqa: E402
from panslice.dsp.sources import DirectionHistogram  # noqa: E402
from panslice.plugin.formats import audiofile  # noqa: E402
from panslice.plugin.offline import sources  # noqa: E402

SR = 16000
SPACINGS = (0.05, 0.1, 0.2, 0.3)
RT60S = (0.0, 0.2, 0.3, 0.4)
# (talkers' indices in the choose lists, angles in degrees, distance m), per layout
CHOOSE_LAYOUTS = (((4,), (25.0,), 1.0), ((5,), (-60.0,), 1.4), ((1, 3), (-50.0, 35.0), 1.0),
                  ((0, 1, 2), (-40.0, 15.0, 70.0), 1.5), ((0, 1, 2), (-75.0, -20.0, 30.0), 0.9),
                  ((0, 1, 2, 3), (-70.0, -25.0, 10.0, 55.0), 1.3), ((2, 5), (-5.0, 55.0), 1.6),
                  ((3, 4, 5), (-45.0, 5.0, 60.0), 1.1))
SYNTH = ((11, 95.0), (12, 150.0), (13, 210.0), (14, 130.0), (15, 120.0), (16, 185.0))
WITHIN_MS = 0.05
NOISY = {"noisy": ("white", 20.0), "noisy 30 dB": ("white", 30.0),
         "noisy 10 dB": ("white", 10.0), "diffuse": ("diffuse pink", 20.0)}
SOUND_M_S = 343.0


def choose_talkers(spoken: bool) -> list[np.ndarray]:
    """Six choose talkers: espeak-ng (if installed) or synthetic."""
    n = int(SR * 6.0)
    if spoken:
        said = [T.espeak(t, SR, v) for t, v in CHOOSE_LINES + MORE_LINES]
        if all(s is not None for s in said):
            return [np.pad(s, (0, max(0, n - len(s))))[:n] for s in said]
    return [T.synthetic(SR, 6.0, seed, f0) for seed, f0 in SYNTH]


def rooms(name: str):
    """(label, talkers, true delays ms, mix, rate) of the set ``name``: 'choose', one of NOISY
    (the choose rooms at RT60 0.3 s with noise), 'voices', 'one'."""
    for spoken in (True, False):
        kind = "espeak-ng" if spoken else "synthetic"
        if name == "choose" or name in NOISY:
            src = choose_talkers(spoken)
            layouts = [([src[k] for k in who], a, d) for who, a, d in CHOOSE_LAYOUTS
                       if len(who) > 1 or (who[0] == 4) == spoken]
        else:
            src = T.three(SR, 6.0, spoken=spoken)
            layouts = [(src, T.ANGLES, T.DISTANCE_M)]
        for talkers, angles, distance in layouts:
            for i, spacing in enumerate(SPACINGS):
                for rt60 in RT60S if name not in NOISY else (0.3,):
                    if name == "one":
                        k = i % 3
                        talkers, angles = [src[k]], (T.ANGLES[k],)
                    images = T.in_room(talkers, SR, rt60, spacing, angles, distance)
                    label = (f"{kind} {len(talkers)} at {'/'.join(f'{a:g}' for a in angles)} "
                             f"{distance:g} m, {100 * spacing:g} cm, RT60 {rt60:g}")
                    mix = sum(images)
                    if name in NOISY:
                        kind_db = NOISY[name]
                        label += f", {kind_db[0]} noise {kind_db[1]:g} dB"
                        mix = mix + _noise(mix, len(talkers) * 100 + i, *kind_db, spacing)
                    yield label, len(talkers), T.room_delays_ms(spacing, angles, distance), \
                        mix.astype(np.float32), SR


def _noise(mix: np.ndarray, seed: int, kind: str, snr_db: float, spacing: float) -> np.ndarray:
    """Noise ``snr_db`` under the mix: white, apart at each microphone (their own and the
    room's hiss; as before, the same draws), or pink as a diffuse field reaches microphones
    ``spacing`` m apart (coherence sin(kd)/kd)."""
    rms = np.sqrt(np.mean(mix ** 2) / 10 ** (snr_db / 10))
    w = np.random.default_rng(seed).standard_normal(mix.shape)
    if kind != "white":
        f = np.fft.rfftfreq(mix.shape[1], 1.0 / SR)
        x = np.fft.rfft(w, axis=1) / np.sqrt(np.maximum(f, 20.0))
        coh = np.sinc(2.0 * f * spacing / SOUND_M_S)
        x[1] = coh * x[0] + np.sqrt(1.0 - coh ** 2) * x[1]
        w = np.fft.irfft(x, mix.shape[1], axis=1)
        w /= np.sqrt(np.mean(w ** 2))
    return rms * w


def music(folder: Path):
    """(label, 1, [0.0], mix, rate) of each real track made centred and mono-ish, then as it is
    (its count: None, not judged)."""
    tracks = sorted(folder.glob("*/mixture.wav"))
    for how, side in (("centred", 0.0), ("mono-ish", 0.05), ("as it is", None)):
        for path in tracks:
            audio, sr, _ = audiofile.read_input(path, None)
            if side is not None:
                mid, s = 0.5 * (audio[0] + audio[1]), 0.5 * (audio[0] - audio[1])
                audio = np.stack([mid + side * s, mid - side * s])
            yield (f"{path.parent.name} {how}", 1 if side is not None else None, [0.0],
                   audio.astype(np.float32), sr)


def histogram(label: str, mix: np.ndarray, sr: float, cache: Path | None) -> DirectionHistogram:
    path = cache / (label.replace("/", "_").replace(" ", "_") + ".npy") if cache else None
    if path is not None and path.exists():
        h = DirectionHistogram(sr)
        h.hist = np.load(path)
        return h
    h = sources.histogram(mix, sr)
    if path is not None:
        np.save(path, h.hist)
    return h


def judge(h: DirectionHistogram, n: int | None, delays) -> tuple[int, int, bool]:
    """How many sources are listed without a count, how many the rule before would have listed
    (the peaks reaching S.FLOOR of the highest), and whether, told n, each true delay has a
    source within WITHIN_MS."""
    listed = len(h.sources())
    hp = h.peaks_of()
    peaks = S._peaks(hp, S.MAX_SOURCES)
    before = sum(hp[c] >= S.FLOOR * hp[peaks[0]] for c in peaks) if peaks else 0
    if not n or n == 1:
        return listed, before, True
    found = sorted(s.delay_ms for s in h.sources(n))
    return listed, before, len(found) == n and all(abs(a - b) <= WITHIN_MS
                                                   for a, b in zip(found, sorted(delays)))


def run(cases, cache: Path | None) -> list[tuple[str, int | None, int, bool, int]]:
    out = []
    for label, n, delays, mix, sr in cases:
        listed, before, near = judge(histogram(label, mix, sr, cache), n, delays)
        out.append((label, n, listed, near, before))
        print(f"{label}: {listed} listed (before: {before}; of {n})"
              f"{'' if near else ', delays off'}", flush=True)
    return out


def summary(name: str, rows) -> str:
    """One table row per true count: rooms, count right, too few, too many (now; the rule
    before), delays found."""
    lines = []
    for n in sorted({r[1] for r in rows if r[1]}):
        got = [r for r in rows if r[1] == n]
        lines.append(f"| {name} | {n} | {len(got)} | "
                     + " | ".join(f"{sum(r[2] == n for r in got)} ({sum(r[4] == n for r in got)})"
                                  if k == 0 else
                                  f"{sum((r[2] - n) * k > 0 for r in got)} "
                                  f"({sum((r[4] - n) * k > 0 for r in got)})" for k in (0, -1, 1))
                     + " | " + (f"{sum(r[3] for r in got)} |" if n > 1 else "- |"))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--cache", type=Path)
    ap.add_argument("--sets", default="choose," + ",".join(NOISY) + ",voices,one")
    args = ap.parse_args()
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    table, real = [], []
    for name in args.sets.split(","):
        cases = rooms(name) if name != "one" else _chain(rooms(name), music(scoring.SHARED_REAL))
        rows = run(cases, args.cache)
        rooms_only = [r for r in rows if " m, " in r[0]]
        table.append(summary(name, rooms_only))
        if len(rooms_only) < len(rows):
            table.append(summary(name + ", real tracks made centred and mono-ish",
                                 [r for r in rows if " m, " not in r[0]]))
        real += [f"{r[0].replace(' as it is', '')}: {r[2]} ({r[4]})" for r in rows if r[1] is None]
    body = ("Sources listed by `--sources` without a count (16 kHz rooms, `talkers.in_room`, 6 s; "
            "`benchmarks/sources_count.py`): *choose* (other talkers and layouts, the rooms the "
            "counting constants were chosen on), *noisy* (the choose rooms at RT60 0.3 s with "
            "white noise 20 dB under the mix, apart at each microphone; *noisy 30 dB*, *noisy "
            "10 dB* likewise; *diffuse*: pink noise 20 dB under as a diffuse field, alike at both "
            "microphones at low frequencies; the noise floor's constants were chosen on these "
            "and the choose rooms at RT60 0.3 s), *voices* (voices.py's 32 rooms), *one* (each of "
            "voices.py's talkers alone; the real tracks centred and mono-ish). In brackets: the "
            f"rule before (a peak counted if it reached {S.FLOOR:g} of the highest). Delays found: "
            f"told the count, every talker's direct-path delay within {WITHIN_MS:g} ms.\n\n"
            "| set | talkers | rooms | count right | too few | too many | delays found |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(table) + "\n")
    if real:
        body += ("\nThe real tracks as they are (44.1 kHz), sources listed (before): "
                 + "; ".join(real) + ".\n")
    _common.publish("sources_count", body, not args.no_write,
                    "## Counting sources (`benchmarks/sources_count.py`)")


def _chain(*its):
    for it in its:
        yield from it


if __name__ == "__main__":
    main()
