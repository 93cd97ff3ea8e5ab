"""``panslice analyze``: a picture of the stereo field, a report, and suggested settings.

People aim by eye: the picture shows where the energy of the mix sits by azimuth and frequency
(the panogram) and over time, with the current slice drawn on it, and the spectrogram of the
input beside the slice's output. The report says how centred the mix is and whether a slice by
azimuth is likely to work; the suggestion moves ``center`` and ``width`` to where the voice is
and keeps every other value of the chosen preset, so it follows the preset's improvements.

matplotlib is imported inside :func:`draw` only (Agg backend): it stays off the start-up path of
``bounce`` and ``live``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...dsp import panogram as pg
from ...dsp import params as P
from ..formats.atomic import atomic_path
from ..formats.edits import Region
from . import picture_style as style
from .picture_style import EDIT, SLICE, SUGGESTED

NEAR_CENTRE = 0.1          # "near the centre": |azimuth| <= this
NEAR_MONO = 0.97           # L/R correlation from which the mix counts as nearly mono
MONO_LIKE = 0.999          # ... and from which an auto preset does not slice it by azimuth at all
                           # (Music_Delta, at 0.98, still slices well: karaoke 12.6 dB)
ML_HINT = "the ML prior (--set ml_prior=1, or acapella-ml / karaoke-ml) separates by sound instead"
MIN_WIDTH, MAX_WIDTH = 0.08, 0.5
GUARD = 0.05               # keep the slice's outer edge this far from a neighbouring source
MAX_MINUTES = 20           # analyze reads at most this much of a file (memory: about 1 GB)


@dataclass
class Analysis:
    """What analyze measured on one file (the report, and the arrays the picture draws)."""

    input: str
    sample_rate: float
    duration_s: float
    lr_correlation: float
    near_centre_share: float
    voice: pg.VoiceEstimate
    suggestion: dict[str, float]
    slice_share: float
    verdict: str
    because: str
    current: dict[str, object]
    regions: list[Region] = field(default_factory=list)
    mono: bool = False         # one channel: no stereo image at all

    @property
    def verdict_words(self) -> str:
        return "only partly" if self.verdict == "partly" else self.verdict

    def report(self) -> dict:
        """The report as plain data (what ``--json`` prints); -inf gains become "-inf" so the
        JSON stays strict."""
        v = self.voice
        return _strict({
            "input": self.input,
            **({"mono": True} if self.mono else {}),
            "sample_rate": self.sample_rate,
            "duration_s": round(self.duration_s, 3),
            "lr_correlation": round(self.lr_correlation, 4),
            "near_centre_share": round(self.near_centre_share, 4),
            "near_centre_azimuth": NEAR_CENTRE,
            "voice_band_hz": list(pg.VOICE_BAND_HZ),
            "voice": {"center": round(v.center, 3), "spread": round(v.spread, 3),
                      "nearest_other_source": None if math.isinf(v.neighbour) else round(v.neighbour, 3),
                      "strong_peaks": [round(x, 2) for x in v.peaks]},
            "suggestion": self.suggestion,
            "suggestion_args": set_args(self.suggestion),
            "voice_band_share_in_suggested_slice": round(self.slice_share, 4),
            "verdict": self.verdict,
            "because": self.because,
            "current": self.current,
            "edits": [dict(r.__dict__) for r in self.regions],
        })

    def text(self) -> str:
        v = self.voice
        near = "none" if math.isinf(v.neighbour) else f"{v.neighbour:.2f} away"
        lines = [
            f"{self.input}: {self.duration_s:.1f} s at {self.sample_rate:g} Hz"
            + (", mono (one channel)" if self.mono else ""),
            f"  L/R correlation            {self.lr_correlation:6.3f}   (1 = mono, 0 = unrelated)",
            f"  mix near the centre        {100 * self.near_centre_share:5.1f} %  of the energy within "
            f"azimuth +/-{NEAR_CENTRE:g}",
            f"  voice band ({pg.VOICE_BAND_HZ[0]:g}-{pg.VOICE_BAND_HZ[1]:g} Hz) peaks at "
            f"{_az(v.center)}, half-width {v.spread:.2f}; other strong sources: "
            + (", ".join(_az(x) for x in v.peaks if abs(x - v.center) > 0.05) or "none")
            + f" (nearest distinct one: {near})",
            f"  suggested slice            center={self.suggestion['center']:g} "
            f"width={self.suggestion['width']:g}"
            + (" ml_prior=1" if "ml_prior" in self.suggestion else "")
            + f": holds {100 * self.slice_share:.0f} % of the voice band's energy",
            f"  verdict: centre removal likely to work {self.verdict_words}, because {self.because}",
        ]
        return "\n".join(lines)


def read_capped(path: Path, channels=None) -> tuple[np.ndarray, float, str | None, bool]:
    """The first :data:`MAX_MINUTES` of ``path`` (as stereo), its rate, a note when that is not
    all of it, and whether it is mono: analyze holds its input in memory, so a longer file is
    measured by its start (the placement of voices rarely changes after that)."""
    from ..formats.audiostream import StereoReader

    with StereoReader(path, channels) as src:
        cap = int(MAX_MINUTES * 60 * src.sample_rate)
        audio = src.read(min(src.frames, cap))
        note = None if src.frames <= cap else (
            f"{path}: analyzing its first {MAX_MINUTES} minutes of {src.frames / src.sample_rate / 60:.0f} "
            "(analyze holds its input in memory; bounce streams the whole file)")
    return np.ascontiguousarray(audio), src.sample_rate, note, src.mono


def check_picture(path: Path, inp: Path) -> None:
    """Refuse a picture path that is not .png, is the input, or lies in an unwritable folder."""
    import os

    from ...dsp.errors import PansliceError

    if path.suffix.lower() != ".png":
        raise PansliceError(f"{path}: the picture is written as PNG; name it *.png")
    if path.exists() and inp.exists() and os.path.samefile(path, inp):
        raise PansliceError(f"{path}: refusing to overwrite the input file")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PansliceError(f"{folder}: cannot create output folder ({e.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PansliceError(f"{folder}: output folder is not writable")


def _strict(x):
    if isinstance(x, dict):
        return {k: _strict(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_strict(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return P.fmt(x) if x < 0 else str(x)
    return x


def _az(x: float) -> str:
    """An azimuth for people: two decimals, signed, and never '-0.00'."""
    return f"{round(x, 2) + 0.0:+.2f}"


def set_args(suggestion: dict[str, float]) -> list[str]:
    return [f"--set {k}={v:g}" for k, v in suggestion.items()]


def suggest(voice: pg.VoiceEstimate, params: P.ParamSet) -> dict[str, float]:
    """``center`` and ``width`` for the voice; every other value stays the preset's.

    The slice is twice the voice peak's half-width at half height (reverb and doubling widen a
    voice, and a wider slice then keeps more of it), between 0.08 and 0.5, and narrow enough
    that its outer (fade) edge stays clear of the nearest distinct other source.
    """
    width = float(np.clip(2.0 * voice.spread, MIN_WIDTH, MAX_WIDTH))
    if math.isfinite(voice.neighbour):
        room = (voice.neighbour - GUARD) / (1.0 + params["softness"])
        width = min(width, max(room, 0.05))
    return {"center": round(float(np.clip(voice.center, -1, 1)), 2) + 0.0, "width": round(width, 2)}


@dataclass(frozen=True)
class AutoRule:
    """How an ``auto`` preset sets its slice from the measured voice: centre on the voice, half-
    width ``per_spread`` times its measured half-width, between ``min_width`` and ``max_width``."""

    per_spread: float
    min_width: float
    max_width: float


def measure_voice(audio: np.ndarray, sample_rate: float) -> tuple[pg.VoiceEstimate, float]:
    """The voice's place and spread in ``audio`` [shape=(2, n)], and the L/R correlation."""
    stats = pg.measure(audio, sample_rate, row_edges(sample_rate))
    return pg.find_voice(pg.voice_profile(stats.voice)), pg.lr_correlation(audio)


def auto_slice(voice: pg.VoiceEstimate, rule: AutoRule) -> dict[str, float]:
    """``center`` and ``width`` for ``voice`` by ``rule``."""
    width = float(np.clip(rule.per_spread * voice.spread, rule.min_width, rule.max_width))
    return {"center": round(float(np.clip(voice.center, -1, 1)), 2) + 0.0, "width": round(width, 3)}


def _verdict(corr: float, near: float, voice: pg.VoiceEstimate, slice_share: float,
             center: float, current: tuple[float, float], mono: bool = False) -> tuple[str, str]:
    """'well', 'partly' or 'poorly', and why, from how much of the voice band the slice must
    keep, how the voice and the mix are spread, and whether the slice in use (``current``:
    center, width) holds the voice as measured."""
    if mono:
        return "poorly", f"the file is mono (one channel): it has no stereo image to slice; {ML_HINT}"
    if slice_share >= 0.9:
        return "poorly", (f"{100 * slice_share:.0f} % of the voice band's energy sits inside the "
                          "slice: the other sources in that band share the voice's position, so "
                          "the slice keeps them too")
    if corr >= NEAR_MONO:
        return "partly", (f"the mix is nearly mono (L/R correlation {corr:.2f}, {100 * near:.0f} % "
                          "of it near the centre): the slice removes only what is panned away "
                          f"from the voice; {ML_HINT}")
    if voice.spread > 0.2:
        return "partly", (f"the voice is spread wide (half-width {voice.spread:.2f}, reverb or "
                          "doubling), so a slice wide enough to hold it also holds neighbours")
    if voice.spread > current[1] or abs(voice.center - current[0]) > current[1]:
        return "partly", (f"the voice (at {_az(voice.center)}, half-width {voice.spread:.2f}) is "
                          f"not inside the slice in use (center {_az(current[0])} +/- "
                          f"{current[1]:.2f}), so much of it would be lost: use the suggestion")
    others = [x for x in voice.peaks if abs(x - center) > 0.05]
    where = (f"other sources sit at {', '.join(_az(x) for x in others)}" if others
             else f"{100 * (1 - slice_share):.0f} % of the voice band lies outside the slice")
    return "well", (f"the voice band has a distinct peak at {_az(center)} (half-width "
                    f"{voice.spread:.2f}) and {where}")


def _model_installed() -> bool:
    from ..ml import model

    return model.model_path().exists()


def analyze(audio: np.ndarray, sample_rate: float, params: P.ParamSet, name: str = "input",
            regions: list[Region] | None = None, mono: bool = False) -> tuple[Analysis, pg.Field]:
    """Measure ``audio`` [shape=(2, n)] (``mono``: one channel read as two); returns the
    analysis and the histograms to draw."""
    stats = pg.measure(audio, sample_rate, row_edges(sample_rate))
    voice = pg.find_voice(pg.voice_profile(stats.voice))
    sug = suggest(voice, params)
    slice_share = pg.share_within(stats.voice, sug["center"], sug["width"])
    corr = pg.lr_correlation(audio)
    if (mono or corr >= NEAR_MONO) and params["ml_prior"] == 0 and _model_installed():
        sug["ml_prior"] = 1.0   # little to slice by direction: the ML prior (the text says so too)
    near = pg.share_within(stats.whole, 0.0, NEAR_CENTRE)
    verdict, because = _verdict(corr, near, voice, slice_share, sug["center"],
                                (params["center"], params["width"]), mono)
    current = {"center": params["center"], "width": params["width"],
               "softness": params["softness"], "bands": [list(b) for b in params.bands()]}
    a = Analysis(name, sample_rate, audio.shape[1] / sample_rate, corr, near, voice, sug,
                 slice_share, verdict, because, current, list(regions or []), mono)
    return a, stats


# -- the picture ------------------------------------------------------------------------------

AZ_EDGES = np.linspace(-1.0, 1.0, pg.AZ_BINS + 1)
LOW_HZ = 30.0
DB_RANGE = 40.0


def row_edges(sample_rate: float, rows: int = 72) -> np.ndarray:
    """Log-frequency rows of the pictures, 30 Hz to Nyquist."""
    return np.geomspace(LOW_HZ, sample_rate / 2, rows + 1)


def _spectrogram(power: np.ndarray, f_edges: np.ndarray, sr: float, max_cols: int = 900):
    """Power rows [frame, row] -> dB [row, column] with at most ``max_cols`` time columns."""
    step = max(1, math.ceil(power.shape[0] / max_cols))
    cols = max(1, power.shape[0] // step)
    power = power[: cols * step].reshape(cols, -1, power.shape[1]).mean(axis=1)
    return 10 * np.log10(_fill_empty_rows(power.T.copy(), f_edges, sr) + 1e-12), step


def _db_per_row(h: np.ndarray, floor_db: float = 60.0) -> np.ndarray:
    """dB re. each row's own peak, so every row shows where *its* energy sits. Rows more than
    ``floor_db`` below the loudest row are blank (NaN): normalising silence would paint noise."""
    peak = h.max(axis=1, keepdims=True)
    db = 10 * np.log10(np.maximum(h, 1e-30) / np.maximum(peak, 1e-30))
    db[(peak[:, 0] < peak.max() * 10 ** (-floor_db / 10))] = np.nan
    return db


def _fill_empty_rows(h: np.ndarray, f_edges: np.ndarray, sr: float) -> np.ndarray:
    """Rows narrower than one FFT bin hold no bin: give them the row of the nearest bin."""
    freqs = np.fft.rfftfreq(pg.FFT_SIZE, 1.0 / sr)
    fi = np.digitize(freqs, f_edges) - 1
    has = np.zeros(len(h), bool)
    has[fi[(fi >= 0) & (fi < len(h))]] = True
    if has.any():
        full = np.flatnonzero(has)
        centres = np.sqrt(f_edges[:-1] * f_edges[1:])
        for b in np.flatnonzero(~has):
            h[b] = h[full[np.argmin(np.abs(np.log(centres[full] / centres[b])))]]
    return h


def draw(path: Path, a: Analysis, stats: pg.Field, output_power: np.ndarray,
         params: P.ParamSet) -> None:
    """Write the analysis picture (PNG) to ``path``: a header, the panogram, azimuth over time,
    and the input's spectrogram beside the slice's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("magma").with_extremes(bad="0.25")   # silent rows and columns: grey
    with style.writing([a.input, *(_label(i, r) for i, r in enumerate(a.regions, 1))]):
        fig = plt.figure(figsize=(17, 12), dpi=100)
        top, plots = fig.add_gridspec(2, 1, height_ratios=[0.25, 2], hspace=0.08, left=0.055,
                                      right=0.97, top=0.97, bottom=0.055)
        head = top.subgridspec(2, 1, height_ratios=[0.16, 0.05], hspace=0.45)
        gs = plots.subgridspec(2, 2, width_ratios=[1, 1.35], hspace=0.26, wspace=0.3)
        _draw_header(fig.add_subplot(head[0]), a, params)
        style.legend_strip(fig.add_subplot(head[1]), edits=bool(a.regions))
        _draw_panogram(fig, fig.add_subplot(gs[0, 0]), a, stats, params, cmap)
        _draw_azimuth_time(fig, fig.add_subplot(gs[0, 1]), a, stats, params, cmap)
        _draw_spectrograms(fig, [fig.add_subplot(gs[1, col]) for col in (0, 1)], a, stats,
                           output_power)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100)
    plt.close(fig)


def _draw_header(head, a: Analysis, params: P.ParamSet) -> None:
    sr = a.sample_rate
    c, w, s = params["center"], params["width"], params["softness"]
    sug = a.suggestion
    head.axis("off")
    head.text(0, 1, f"panslice analyze: {style.shown(a.input)}", fontsize=15, weight="bold", va="top")
    head.text(0, 0.6,
              f"L/R correlation {a.lr_correlation:.2f}   |   {100 * a.near_centre_share:.0f} % of "
              f"the energy within azimuth ±{NEAR_CENTRE:g}   |   voice band "
              f"({pg.VOICE_BAND_HZ[0]:g}-{pg.VOICE_BAND_HZ[1]:g} Hz) peaks at "
              f"{_az(a.voice.center)}, half-width {a.voice.spread:.2f}", fontsize=11.5, va="top")
    head.text(0, 0.3,
              f"current slice (white): center {_az(c)}, width {w:.2f}, softness {s:.2f}, bands "
              + ", ".join(f"{lo:g}-{min(hi, sr / 2):g} Hz" for lo, hi, _ in params.bands())
              + f"     suggested (cyan): center {_az(sug['center'])}, width {sug['width']:.2f}",
              fontsize=11.5, va="top")
    head.text(0, 0.0, f"Centre removal likely to work {a.verdict_words}, because {a.because}.",
              fontsize=11, va="top", style="italic", wrap=True)


def _draw_panogram(fig, ax, a: Analysis, stats: pg.Field, params: P.ParamSet, cmap) -> None:
    """Energy by azimuth and log frequency over the whole file, with the slice and the edits."""
    from matplotlib.patches import Rectangle

    sr = a.sample_rate
    c, w, s = params["center"], params["width"], params["softness"]
    sug = a.suggestion
    f_edges = stats.row_edges
    pano = _db_per_row(_fill_empty_rows(stats.panogram.copy(), f_edges, sr))
    m = ax.pcolormesh(AZ_EDGES, f_edges, pano, cmap=cmap, vmin=-DB_RANGE / 1.5, vmax=0,
                      shading="flat")
    ax.set_yscale("log")
    ax.set_ylim(LOW_HZ, sr / 2)
    ax.set_xlim(-1, 1)
    ax.set_xlabel("azimuth (pan position: -1 left, 0 centre, +1 right)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title("Panogram: where each frequency's energy sits (whole file)")
    _hz_ticks(ax)
    fig.colorbar(m, ax=ax, pad=0.01, fraction=0.05).set_label("dB re. the loudest azimuth per row")
    for lo, hi, _g in params.bands():
        hi = min(hi, sr / 2)
        lo = max(lo, LOW_HZ)
        ax.add_patch(Rectangle((c - w, lo), 2 * w, hi - lo, fill=False, ec=SLICE, lw=2.2,
                               path_effects=style.outline(2.2)))
        for x in (c - w * (1 - s), c + w * (1 - s), c - w * (1 + s), c + w * (1 + s)):
            ax.plot([x, x], [lo, hi], color=SLICE, lw=1.4, ls=":", path_effects=style.outline(1.4))
    for x in (sug["center"] - sug["width"], sug["center"] + sug["width"]):
        ax.axvline(x, color=SUGGESTED, lw=1.8, ls="--", path_effects=style.outline(1.8))
    for i, r in enumerate(a.regions, 1):
        ax.add_patch(Rectangle((r.az_low, max(r.low_hz, LOW_HZ)), r.az_high - r.az_low,
                               min(r.high_hz, sr / 2) - max(r.low_hz, LOW_HZ), fill=False,
                               ec=EDIT, lw=1.8, ls="-.", path_effects=style.outline(1.8)))
        _edit_label(ax, r.az_low + 0.02, max(r.low_hz, LOW_HZ) * 1.08, i, r)


def _draw_azimuth_time(fig, ax, a: Analysis, stats: pg.Field, params: P.ParamSet, cmap) -> None:
    """Azimuth over time (all frequencies), with the current and the suggested window."""
    from matplotlib.patches import Rectangle

    c, w = params["center"], params["width"]
    sug = a.suggestion
    hop_s = pg.HOP / a.sample_rate
    frames = stats.by_frame.shape[0]
    per_col = min(max(2, min(round(0.25 / hop_s), frames // 150)), frames)   # 0.25 s, finer if short
    cols = max(1, frames // per_col)
    aot = stats.by_frame[: cols * per_col].reshape(cols, -1, pg.AZ_BINS).sum(axis=1)
    t_edges = np.arange(aot.shape[0] + 1) * per_col * hop_s
    m = ax.pcolormesh(t_edges, AZ_EDGES, _db_per_row(aot).T, cmap=cmap, vmin=-DB_RANGE / 1.5,
                      vmax=0, shading="flat")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("azimuth (-1 left .. +1 right)")
    ax.set_title("Azimuth over time (all frequencies)")
    fig.colorbar(m, ax=ax, pad=0.01, fraction=0.05).set_label("dB re. the loudest azimuth per column")
    for y in (c - w, c + w):
        ax.axhline(y, color=SLICE, lw=2, path_effects=style.outline(2))
    for y in (sug["center"] - sug["width"], sug["center"] + sug["width"]):
        ax.axhline(y, color=SUGGESTED, lw=1.6, ls="--", path_effects=style.outline(1.6))
    for i, r in enumerate(a.regions, 1):
        ax.add_patch(Rectangle((r.start, r.az_low), r.end - r.start, r.az_high - r.az_low,
                               fill=False, ec=EDIT, lw=1.8, ls="-.", path_effects=style.outline(1.8)))
        _edit_label(ax, r.start, min(r.az_high, 0.93) + 0.02, i, r)
    ax.set_ylim(-1, 1)


def _draw_spectrograms(fig, axes, a: Analysis, stats: pg.Field, output_power: np.ndarray) -> None:
    """The input and the slice's output, on one colour scale."""
    from matplotlib.patches import Rectangle

    sr = a.sample_rate
    f_edges = stats.row_edges
    hop_s = pg.HOP / sr
    spec_in, step = _spectrogram(stats.power, f_edges, sr)
    spec_out, _ = _spectrogram(output_power, f_edges, sr)
    top = spec_in.max()
    for ax, (img, title) in zip(axes, ((spec_in, "Input spectrogram (L+R)"),
                                       (spec_out, "Slice output (target at unity"
                                                  + (", with the edits)" if a.regions else ")")))):
        t_edges = np.arange(img.shape[1] + 1) * step * hop_s
        m = ax.pcolormesh(t_edges, f_edges, img, cmap="magma", vmin=top - 70, vmax=top,
                          shading="flat")
        ax.set_yscale("log")
        ax.set_ylim(LOW_HZ, sr / 2)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (Hz)")
        ax.set_title(title)
        _hz_ticks(ax)
        fig.colorbar(m, ax=ax, pad=0.01, fraction=0.05).set_label("power (dB, same scale)")
        for i, r in enumerate(a.regions, 1):
            lo = max(r.low_hz, LOW_HZ)
            ax.add_patch(Rectangle((r.start, lo), r.end - r.start, min(r.high_hz, sr / 2) - lo,
                                   fill=False, ec=EDIT, lw=1.8, ls="-.",
                                   path_effects=style.outline(1.8)))
            _edit_label(ax, r.start, lo * 1.1, i, r)


def _edit_label(ax, x: float, y: float, i: int, r: Region) -> None:
    ax.text(x, y, style.shown(_label(i, r)), color=EDIT, fontsize=9, path_effects=style.outline(0))


def _label(i: int, r: Region) -> str:
    gains = []
    if r.target_gain_db != 0:
        gains.append(f"target {r.target_gain_db:g} dB")
    if r.rest_gain_db != 0:
        gains.append(f"rest {r.rest_gain_db:g} dB")
    if r.move_to:
        gains.append(f"move to {r.move_to}")
    return f"edit {i}" + (f" {r.name}" if r.name else "") + ": " + ", ".join(gains)


def _hz_ticks(ax) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ticks = [50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"))
