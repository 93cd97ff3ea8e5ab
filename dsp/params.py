"""The parameter registry: every knob of panslice, declared once.

CLI ``--set`` flags, preset validation, the OSC address space and the docs table are all
generated from :data:`REGISTRY`. Add a knob here and it appears everywhere; never write a range,
default or unit a second time.

Names are stable ids. Band parameters are a group repeated :data:`MAX_BANDS` times and named
``band.<i>.<field>`` (1-based), which maps onto OSC as ``/panslice/band/<i>/<field>``; the
rivals of a competing slice likewise, ``rival.<i>.<field>`` (:data:`MAX_RIVALS` times).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from .errors import ParameterError

MAX_BANDS = 8
MAX_RIVALS = 7          # the other sources a slice competes with (bounce --sources finds up to 8)
BAND_TOP_HZ = 96000.0   # a band edge's top: above any Nyquist panslice runs at ('up to the top')
NEG_INF = float("-inf")

Change = tuple[int, str, float]  # (input sample position, parameter name, value)


@dataclass(frozen=True)
class Param:
    """One knob: its range, default, unit, scale and how fast it glides to a new value.

    scale : 'linear' | 'db' | 'hz' | 'choice' | 'int'
        'db' values may be ``-inf`` (silence) when ``minimum`` is ``-inf``; 'hz' is drawn on a
        log axis; 'choice' accepts only ``choices``; 'int' only whole numbers.
    smoothing_ms : float >= 0
        time constant of the glide inside the engine; 0 means the value steps.
    live : bool
        False for structural values (FFT size, overlap) that need ``Engine.prepare`` again and
        so cannot change while audio runs.
    """

    name: str
    minimum: float
    maximum: float
    default: float
    unit: str
    scale: str
    smoothing_ms: float
    doc: str
    choices: tuple[float, ...] = ()
    live: bool = True
    index: int = field(default=-1, compare=False)

    @property
    def range_text(self) -> str:
        if self.choices:
            return "one of " + ", ".join(fmt(c) for c in self.choices)
        return f"{fmt(self.minimum)} .. {fmt(self.maximum)}" + (f" {self.unit}" if self.unit else "")

    def validate(self, value: object) -> float:
        """Return ``value`` as a float if it is legal for this parameter, else raise."""
        v = parse_number(value, self.name)
        if math.isnan(v):
            raise ParameterError(f"{self.name}: NaN is not a value (valid: {self.range_text})")
        if self.choices:
            if v not in self.choices:
                raise ParameterError(f"{self.name}={fmt(v)} is not allowed (valid: {self.range_text})")
            return v
        if self.scale == "int" and v != int(v):
            raise ParameterError(f"{self.name}={fmt(v)} must be a whole number (valid: {self.range_text})")
        if not (self.minimum <= v <= self.maximum):
            raise ParameterError(f"{self.name}={fmt(v)} is out of range (valid: {self.range_text})")
        return v


def fmt(v: float) -> str:
    """A value as a person would write it: whole numbers without ".0", "inf" and "-inf"."""
    if math.isinf(v):
        return "-inf" if v < 0 else "inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:g}"


def parse_number(value: object, name: str = "value") -> float:
    """Accept numbers and numeric strings, including 'inf'/'-inf'; reject everything else."""
    if isinstance(value, bool):
        raise ParameterError(f"{name}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ParameterError(f"{name}: expected a number, got {value!r}")


def _direction_and_gains() -> list[Param]:
    """Where the slice sits (by level, by delay) and what it does to the mix."""
    return [
        Param("center", -1.0, 1.0, 0.0, "", "linear", 30.0,
              "Azimuth of the slice: -1 hard left, 0 centre, +1 hard right (constant-power pan law)."),
        Param("width", 0.0, 2.0, 0.25, "", "linear", 30.0,
              "Half-width of the slice in azimuth units: bins within center +/- width are in it."),
        Param("softness", 0.0, 1.0, 0.5, "", "linear", 30.0,
              "Edge of the slice: 0 is a hard edge, 1 a raised-cosine fade as wide as the slice."),
        Param("phase_tolerance", 0.0, 1.0, 0.5, "", "linear", 30.0,
              "How far the left/right phase may differ in a bin (0 = in phase only, 1 = any) "
              "before the bin stops counting as a point source at its azimuth."),
        Param("direction_cue", 0, 2, 0, "", "choice", 0.0,
              "What places a sound: 0 level (azimuth by the pan law: studio mixes), 1 delay (the "
              "time between the two microphones: spaced mics), 2 both (the slice is where the two "
              "agree). With delay, phase_tolerance is not used.", choices=(0.0, 1.0, 2.0)),
        Param("delay_center_ms", -5.0, 5.0, 0.0, "ms", "linear", 30.0,
              "Delay of the slice: how much later the left channel hears it than the right "
              "(+ nearer the right microphone, - nearer the left). Used when direction_cue is 1 or 2."),
        Param("delay_width_ms", 0.0, 5.0, 0.1, "ms", "linear", 30.0,
              "Half-width of the slice in delay: bins whose delay is within delay_center_ms +/- "
              "this are in it (softness shapes its edge)."),
        Param("mic_spacing_cm", 1.0, 300.0, 20.0, "cm", "linear", 0.0,
              "Distance between the two microphones. Delay is read from phase up to the "
              "spatial-aliasing frequency c / (2 x spacing); above it a bin counts by how well its "
              "phase agrees with the slice's delay, within the phase that width has there."),
        Param("target_gain_db", NEG_INF, 12.0, 0.0, "dB", "db", 20.0,
              "Gain of the slice in the mixed output (-inf removes it: karaoke)."),
        Param("rest_gain_db", NEG_INF, 12.0, 0.0, "dB", "db", 20.0,
              "Gain of everything outside the slice in the mixed output (-inf isolates the slice)."),
        Param("band_count", 1, MAX_BANDS, 1, "", "int", 0.0,
              "How many of the frequency bands below are active."),
    ]


def _frames_ml_refinement() -> list[Param]:
    """The STFT's frames (fixed while running), the ML prior and the Wiener-like refinement."""
    return [
        Param("fft_size", 512, 8192, 2048, "samples", "choice", 0.0,
              "STFT frame length. Larger separates low notes better; smaller has less latency.",
              choices=(512.0, 1024.0, 2048.0, 4096.0, 8192.0), live=False),
        Param("overlap", 2, 8, 4, "x", "choice", 0.0,
              "Frames per FFT length (hop = fft_size / overlap).",
              choices=(2.0, 4.0, 8.0), live=False),
        Param("ml_prior", 0.0, 1.0, 0.0, "", "linear", 30.0,
              "How much the ML vocal mask (Spleeter 2-stems; live, it adds a look-ahead) shapes the slice: "
              "0 ignores it, 1 makes the slice the ML mask, still restricted by the azimuth, "
              "bands, gains and edits. Needs 'panslice model install' once."),
        Param("ml_contrast", 0.25, 2.0, 1.0, "", "linear", 0.0,
              "How sure the ML mask is allowed to be: scales its log-odds (1 = as shipped; lower "
              "softens its confident mistakes so the azimuth can overrule them). Per ML patch."),
        Param("ml_bias", -3.0, 3.0, 0.0, "", "linear", 0.0,
              "Which way the ML mask leans where it is unsure: added to its log-odds after "
              "ml_contrast (0 = as shipped; above 0 more of each bin counts as voice, so "
              "karaoke takes the voice out more surely at a little of the band). Per ML patch."),
        Param("ml_spatial", 0.0, 10.0, 0.0, "", "linear", 0.0,
              "How much where things sit reshapes the ML mask: per band, azimuth histograms of "
              "what it calls voice and band are learned from the audio so far, and a bin's "
              "azimuth tips it towards the one it fits, as far as the two sit apart. 0 = off."),
        Param("percussion_reject", 0.0, 1.0, 0.0, "", "linear", 30.0,
              "How strongly percussive bins (broadband bursts: kick, snare, hats) are kept out of "
              "the slice, even at its azimuth: 0 off, 1 full. Voices and sustained notes stay."),
        Param("smooth_ms", 0.0, 200.0, 0.0, "ms", "linear", 30.0,
              "Wiener-like refinement of the slice: how long each bin's target and rest powers "
              "are averaged over time (0 = per frame). Less warble, slightly slower edges."),
        Param("smooth_hz", 0.0, 500.0, 0.0, "Hz", "linear", 30.0,
              "Wiener-like refinement of the slice: half-width of the average over neighbouring "
              "frequencies (0 = per bin). Fills holes in a voice, removes isolated bins."),
        Param("ambience_ms", 0.0, 500.0, 0.0, "ms", "linear", 30.0,
              "Wiener-like refinement: how long the slice's power is held after it falls, so that "
              "its own reverb tail (which sits off its azimuth) follows it (0 = no extra hold)."),
    ]


def _rivals() -> list[Param]:
    """Other sources that the slice competes with for each bin (``bounce --sources`` sets them):
    a bin is shared among the slice and its rivals by its distance to each."""
    rivals = [Param("rivals", 0, MAX_RIVALS, 0, "", "int", 0.0,
                    "How many rivals below the slice competes with (0: a plain slice). Competing, "
                    "each bin is shared among the slice and its rivals by weights exp(-d^2/2) of "
                    "its distance d to each, in widths (width, delay_width_ms; direction_cue picks "
                    "the axes; softness is not used); a bin 8 widths from all goes to the rest.")]
    for i in range(1, MAX_RIVALS + 1):
        rivals += [
            Param(f"rival.{i}.center", -1.0, 1.0, 0.0, "", "linear", 30.0,
                  f"Azimuth of rival {i}, as center is the slice's."),
            Param(f"rival.{i}.delay_ms", -5.0, 5.0, 0.0, "ms", "linear", 30.0,
                  f"Delay of rival {i}, as delay_center_ms is the slice's."),
        ]
    return rivals


def _bands() -> list[Param]:
    bands = []
    for i in range(1, MAX_BANDS + 1):
        bands += [
            Param(f"band.{i}.low_hz", 0.0, BAND_TOP_HZ, 0.0, "Hz", "hz", 50.0,
                  f"Lower edge of band {i}: the slice holds only frequencies inside its bands."),
            Param(f"band.{i}.high_hz", 0.0, BAND_TOP_HZ, BAND_TOP_HZ, "Hz", "hz", 50.0,
                  f"Upper edge of band {i} (above Nyquist means 'up to the top')."),
            Param(f"band.{i}.gain_db", NEG_INF, 12.0, 0.0, "dB", "db", 20.0,
                  f"Gain of the slice inside band {i}, like a graphic equaliser on the slice."),
        ]
    return bands


def _declare() -> tuple[Param, ...]:
    # bands last: the kernel rebuilds its band table when a value from band 1 on moves
    params = _direction_and_gains() + _frames_ml_refinement() + _rivals() + _bands()
    return tuple(Param(**{**p.__dict__, "index": i}) for i, p in enumerate(params))


REGISTRY: tuple[Param, ...] = _declare()
BY_NAME: dict[str, Param] = {p.name: p for p in REGISTRY}
INDEX: dict[str, int] = {p.name: p.index for p in REGISTRY}
BAND_FIELDS = ("low_hz", "high_hz", "gain_db")
RIVAL_FIELDS = ("center", "delay_ms")


def get(name: str) -> Param:
    """The declared parameter ``name``; a clear error lists close names when it is unknown."""
    try:
        return BY_NAME[name]
    except KeyError:
        import difflib

        near = difflib.get_close_matches(name, BY_NAME, n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise ParameterError(f"unknown parameter {name!r}{hint}; see 'panslice params'") from None


def band_name(i: int, fld: str) -> str:
    """Registry name of field ``fld`` of band ``i`` (1-based)."""
    return f"band.{i}.{fld}"


def knobs() -> list[tuple[str, Param]]:
    """One entry per knob, for docs and tables: bands and rivals fold into ``band.<i>.<field>``
    and ``rival.<i>.<field>`` (shown by the first's declaration)."""
    seen: dict[str, Param] = {}
    for p in REGISTRY:
        group, _, rest = p.name.partition(".")
        key = f"{group}.<i>.{rest.split('.')[1]}" if group in ("band", "rival") and rest else p.name
        seen.setdefault(key, p)
    return list(seen.items())


def defaults() -> dict[str, float]:
    return {p.name: p.default for p in REGISTRY}


class ParamSet:
    """A full, validated set of parameter values (what a preset or a running engine holds).

    Mapping-like: ``ps['center']``; ``ps.update({...})`` validates every value first and changes
    nothing when any value is bad.
    """

    def __init__(self, values: Mapping[str, object] | None = None):
        self._v = defaults()
        if values:
            self.update(values)

    def __getitem__(self, name: str) -> float:
        return self._v[get(name).name]

    def __iter__(self):
        return iter(self._v)

    def items(self) -> Iterable[tuple[str, float]]:
        return self._v.items()

    def as_dict(self) -> dict[str, float]:
        return dict(self._v)

    def copy(self) -> "ParamSet":
        other = ParamSet()
        other._v = dict(self._v)
        return other

    def update(self, values: Mapping[str, object]) -> None:
        checked = {name: get(name).validate(v) for name, v in values.items()}
        self._v.update(checked)

    def bands(self) -> list[tuple[float, float, float]]:
        """The active bands as (low_hz, high_hz, gain_db)."""
        n = int(self._v["band_count"])
        return [tuple(self._v[band_name(i, f)] for f in BAND_FIELDS) for i in range(1, n + 1)]

    def set_bands(self, bands: Iterable[tuple[float, float, float]]) -> None:
        """Replace the active bands; unused band slots return to their defaults."""
        bands = list(bands)
        if not 1 <= len(bands) <= MAX_BANDS:
            raise ParameterError(f"bands: need 1 to {MAX_BANDS} bands, got {len(bands)}")
        new = {"band_count": len(bands)}
        for i in range(1, MAX_BANDS + 1):
            lo, hi, g = bands[i - 1] if i <= len(bands) else (
                get(band_name(i, "low_hz")).default, get(band_name(i, "high_hz")).default,
                get(band_name(i, "gain_db")).default)
            if i <= len(bands) and not lo < hi:
                raise ParameterError(f"band {i}: low_hz ({fmt(lo)}) must be below high_hz ({fmt(hi)})")
            new.update({band_name(i, "low_hz"): lo, band_name(i, "high_hz"): hi, band_name(i, "gain_db"): g})
        self.update(new)

    def __repr__(self) -> str:
        changed = {k: v for k, v in self._v.items() if v != BY_NAME[k].default}
        return f"ParamSet({changed})"


def parse_bands(text: str) -> list[tuple[float, float, float]]:
    """Parse the CLI shorthand ``LOW-HIGH[:GAIN_DB],...`` (e.g. ``120-8000,8000-16000:-6``)."""
    bands = []
    for part in text.split(","):
        part = part.strip()
        rng, _, gain = part.partition(":")
        lo, sep, hi = rng.partition("-")
        if not sep:
            raise ParameterError(f"bands: {part!r} is not LOW-HIGH[:GAIN_DB]")
        bands.append((parse_number(lo, "bands low"), parse_number(hi, "bands high"),
                      parse_number(gain, "bands gain") if gain else 0.0))
    return bands


def parse_set(items: list[str]) -> dict[str, object]:
    """``name=value`` pairs (the CLI's ``--set``); ``bands=LO-HI[:DB],...`` sets every band."""
    out: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ParameterError(f"--set {item!r}: expected name=value")
        out[name.strip()] = value.strip()
    return out


def check_bands(values: Mapping[str, float]) -> None:
    """Refuse active bands whose edges are inverted or equal (they would pass nothing): the
    same rule ``set_bands`` applies, for values set one field at a time."""
    for i in range(1, int(values["band_count"]) + 1):
        lo, hi = values[band_name(i, "low_hz")], values[band_name(i, "high_hz")]
        if not lo < hi:
            raise ParameterError(f"band {i}: low_hz ({fmt(lo)}) must be below high_hz ({fmt(hi)})")


def apply_overrides(ps: ParamSet, overrides: dict[str, object]) -> None:
    """Apply ``--set`` values to ``ps`` (validated; nothing changes if one is bad). A field of
    a band beyond ``band_count`` is refused rather than quietly making the band active."""
    trial = ps.copy()
    values = dict(overrides)
    if "bands" in values:
        trial.set_bands(parse_bands(str(values.pop("bands"))))
    trial.update(values)
    n = int(trial["band_count"])
    for k in values:
        part = k.split(".")
        if len(part) == 3 and part[0] == "band" and part[1].isdigit() and int(part[1]) > n:
            raise ParameterError(f"{k}: band {part[1]} is not active (band_count is {n}); add "
                                 f"--set band_count={part[1]}, or give every band with --set bands=...")
    check_bands(trial.as_dict())
    ps.update(trial.as_dict())
