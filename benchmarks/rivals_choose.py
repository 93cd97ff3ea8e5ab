"""The competing slices' constants (dsp/rivals.py), chosen on talkers that voices.py does not
report: SI-SDR gained per talker by ``bounce --sources``' stems for each candidate.

    python benchmarks/rivals_choose.py [--no-write]

*Choose* talkers: espeak-ng saying other lines in other voices than voices.py's (the three of
fft_per_rate.py's choose set, and three more), and synthetic talkers of other seeds and pitches;
16 kHz, 6 s. Rooms as voices.py's (``talkers.in_room``): anechoic at 5 to 30 cm (three talkers,
and the left and right ones alone), at the directions the finding gives; RT60 0.3 s at 5, 20
and 30 cm at the true direct-path delays and the level gaps the anechoic room shows (the slicing
alone: how sources are found in a room is not this script's question); and the pure delays and
pans of voices.py's first section. Each candidate changes one constant of dsp/rivals.py from its
value in the code (LEVEL_TOO_SHARE inf: a level width of 1, delay alone in effect). mask.REACH
is compiled into the engine: it was measured by editing it (its comment).
"""

from __future__ import annotations

import sys

import numpy as np

import _common  # noqa: E402  (first: the repo root on sys.path)
from benchmarks import talkers as T  # noqa: E402
from benchmarks.fft_per_rate import CHOOSE_LINES  # noqa: E402
from benchmarks.voices import lifts  # noqa: E402
from panslice.dsp import rivals  # noqa: E402
from panslice.dsp.sources import DirectionHistogram  # noqa: E402
from panslice.plugin.formats import presets  # noqa: E402
from panslice.plugin.offline import sources  # noqa: E402

SR = 16000
MORE_LINES = (("Bright vixens jump; dozy fowl quack over the misty hills.", "en-us+m2"),
              ("Sphinx of black quartz, judge my vow, said the tired old clerk.", "en+f1"),
              ("We promptly judged antique ivory buckles for the next prize.", "en-gb-scotland+m4"))
CANDIDATES = ([("WIDTH_SHARE", v) for v in (0.25, 0.5)] + [("SMOOTH_MS", v) for v in (0.0, 10.0, 40.0)]
              + [("DELAY_WIDTH_MAX_MS", v) for v in (0.125, 0.2)]
              + [("LEVEL_TOO_SHARE", v) for v in (1.0, 3.0, float("inf"))])


def talker_sets() -> list[tuple[str, list[np.ndarray]]]:
    n = int(SR * 6.0)
    out = []
    for k, lines in enumerate((CHOOSE_LINES, MORE_LINES)):
        said = [T.espeak(t, SR, v) for t, v in lines]
        if all(s is not None for s in said):
            out.append((f"espeak-ng {k + 1}", [np.pad(s, (0, max(0, n - len(s))))[:n] for s in said]))
    synth = [T.synthetic(SR, 6.0, seed, f0) for seed, f0 in zip((11, 12, 13), (95.0, 150.0, 210.0))]
    return out + [("synthetic", synth)]


def mixes(src) -> list[tuple[str, list[np.ndarray], object, list]]:
    """(kind, images, histogram, directions) for each case of one talker set. In a room, the
    true delays with the level gaps the anechoic room shows (where the finding is not the
    question: the slicing is)."""
    out, level = [], {}
    for rt60, spacing in [(0.0, s) for s in (0.05, 0.1, 0.2, 0.3)] + [(0.3, s) for s in (0.05, 0.2, 0.3)]:
        room = T.in_room(src, SR, rt60, spacing)
        for who in ((0, 1, 2), (0, 2)) if rt60 == 0 and spacing > 0.05 else ((0, 1, 2),):
            images = [room[k] for k in who]
            mix = sum(images).astype(np.float32)
            if rt60 == 0:
                h = sources.histogram(mix, SR)
                dirs = [(s.azimuth, s.delay_ms) for s in h.sources(len(images))]
                level[spacing, who] = [a for a, _ in dirs]
                out.append(("anechoic", images, h, dirs))
            else:
                delays = [T.room_delays_ms(spacing)[k] for k in who]
                out.append(("RT60 0.3 s", images, DirectionHistogram(SR),
                            list(zip(level[spacing, who], delays))))
    for images in (T.by_delay(src), T.by_level(src)):
        h = sources.histogram(sum(images).astype(np.float32), SR)
        out.append(("pure delays and pans", images, h, [(s.azimuth, s.delay_ms) for s in h.sources(3)]))
    return out


def score(cases, name: str | None = None, value: float = 0.0) -> dict[str, float]:
    """Mean lift per kind of case with rivals.``name`` set to ``value`` (None: as in the code)."""
    old = getattr(rivals, name) if name else None
    if name:
        setattr(rivals, name, value)
    base = presets.load("voices").params
    got: dict[str, list[float]] = {}
    try:
        for kind, images, h, dirs in cases:
            mix = sum(images).astype(np.float32)
            got.setdefault(kind, []).append(float(np.mean(lifts(images, sources.stems(
                mix, SR, base, h.at(dirs))[:-1]))))
    finally:
        if name:
            setattr(rivals, name, old)
    return {k: float(np.mean(v)) for k, v in got.items()}


def main() -> None:
    sets = [(who, mixes(src)) for who, src in talker_sets()]
    kinds = ("anechoic", "RT60 0.3 s", "pure delays and pans")
    rows = []
    for name, value in [(None, 0.0)] + CANDIDATES:
        label = f"{name} = {value:g}" if name else "as in the code"
        for who, cases in sets:
            got = score(cases, name, value)
            rows.append(f"| {label} | {who} | " + " | ".join(f"{got[k]:+.2f}" for k in kinds) + " |")
            print(rows[-1], flush=True)
    body = ("Mean SI-SDR gained per talker (dB) by the stems of `bounce --sources` on the *choose* "
            "talkers (16 kHz; espeak-ng lines and voices that `voices.py` does not report, and "
            "synthetic talkers of other seeds): anechoic rooms at 5-30 cm (three talkers, and two) "
            "at the directions found; RT60 0.3 s at 5, 20 and 30 cm at the true delays with the "
            "level gaps the anechoic room shows; pure delays and pans. Each row changes one "
            "constant of `dsp/rivals.py` from the code's "
            f"(WIDTH_SHARE {rivals.WIDTH_SHARE:g}, SMOOTH_MS {rivals.SMOOTH_MS:g}, "
            f"DELAY_WIDTH_MAX_MS {rivals.DELAY_WIDTH_MAX_MS:g}, LEVEL_TOO_SHARE "
            f"{rivals.LEVEL_TOO_SHARE:g}; inf: a level width of 1, delay alone in effect).\n\n"
            "| candidate | talkers | " + " | ".join(kinds) + " |\n|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")
    _common.publish("rivals_choose", body, "--no-write" not in sys.argv,
                    "## Competing slices' constants, chosen (`benchmarks/rivals_choose.py`)")


if __name__ == "__main__":
    main()
