"""``analyze --sources -o PNG``: the level x delay histogram with the sources found on it.

What --sources lists in words, drawn: every time-frequency bin piled up at its direction
(azimuth by level across, delay between the microphones up), one peak per talker, each peak
marked and labelled as the stem it becomes. A user sees at a glance whether talkers part by
level, by delay or not at all, and whether a quiet one was missed.

matplotlib is imported inside :func:`figure` only (Agg backend), off the start-up path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ...dsp.sources import LOW_HZ, DirectionHistogram, Source
from ..formats.atomic import atomic_path

DB_RANGE = 40.0   # the picture's colour scale: this far below the highest cell
PEAKS_GID = "sources"   # the marker line's id, for whoever reads the figure back (tests)


def label(k: int, s: Source) -> str:
    return f"source_{k + 1}  {100 * s.share:.0f} %\n{s.azimuth:+.2f}, {s.delay_ms:+.3f} ms"


def figure(h: DirectionHistogram, found: Sequence[Source], name: str):
    """The histogram the peaks are picked on (its floor taken away, smoothed; dB re. its highest
    cell) with a marker and a label per source: drawn with its floor, a room's peaks hide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    az, d = h.axes()
    half_az, half_d = 0.5 * (az[1] - az[0]), 0.5 * (d[1] - d[0])
    shown = h.peaks_of()
    db = 10.0 * np.log10(np.maximum(shown / max(shown.max(), 1e-300), 1e-12))
    fig, ax = plt.subplots(figsize=(10, 7.5), dpi=100)
    m = ax.pcolormesh(np.r_[az - half_az, az[-1] + half_az], np.r_[d - half_d, d[-1] + half_d],
                      db.T, cmap="magma", vmin=-DB_RANGE, vmax=0, shading="flat")
    fig.colorbar(m, ax=ax, pad=0.1, fraction=0.05).set_label("bins above the floor (dB re. the highest cell)")
    ax.set_xlabel("azimuth by level (pan position: -1 left, 0 centre, +1 right)")
    ax.set_ylabel("delay (ms): + the left mic hears it later")
    sr = h.sample_rate
    ax.secondary_yaxis("right", functions=(lambda ms: ms * sr / 1e3, lambda n: n * 1e3 / sr)
                       ).set_ylabel(f"samples at {sr / 1e3:g} kHz")
    ax.set_title(f"panslice analyze --sources: {name}\nlevel x delay of each bin "
                 f"({h.n}-sample frames, phases read {LOW_HZ:g}-{h.high_hz:.0f} Hz); "
                 f"{len(found)} source(s) found", fontsize=11)
    ax.plot([s.azimuth for s in found], [s.delay_ms for s in found], ls="none", marker="o",
            ms=14, mfc="none", mec="cyan", mew=2.2, gid=PEAKS_GID)
    # Labels beside the peaks when they stand one above another (parted by delay), else above.
    cells = [(s.azimuth / (2 * half_az), s.delay_ms / (2 * half_d)) for s in found]
    beside = bool(found) and np.ptp([c[1] for c in cells]) > np.ptp([c[0] for c in cells])
    for k, s in enumerate(found):
        offset, ha, va = _placement(s.azimuth, beside)
        ax.annotate(label(k, s), (s.azimuth, s.delay_ms), xytext=offset, ha=ha, va=va,
                    textcoords="offset points", color="cyan", fontsize=9.5, weight="bold",
                    bbox={"fc": "black", "ec": "none", "alpha": 0.6}, gid=f"{PEAKS_GID}_{k + 1}")
    ax.set_xlim(-1, 1)
    ax.set_ylim(-h.max_delay_ms, h.max_delay_ms)
    fig.tight_layout()
    return fig


def _placement(azimuth: float, beside: bool):
    """Where a label goes (offset in points, alignment): beside its peak, on the side with room,
    or above it, kept inside the axes."""
    if beside:
        return ((-16, 0), "right", "center") if azimuth > 0.4 else ((16, 0), "left", "center")
    ha = "right" if azimuth > 0.75 else "left" if azimuth < -0.75 else "center"
    return (0, 14), ha, "bottom"


def draw(path: Path, h: DirectionHistogram, found: Sequence[Source], name: str) -> None:
    """Write the picture (PNG) to ``path``, whole or not at all."""
    import matplotlib.pyplot as plt

    fig = figure(h, found, name)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
