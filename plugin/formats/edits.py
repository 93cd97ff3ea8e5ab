"""Hand-edits files: boxes in time x frequency x azimuth with a gain for the target or the rest.

What no knob can do ("take the centred kick under 150 Hz out of the vocal from 0:12 to 0:48")
is written down as a region and applied in the bounce, per time-frequency bin, by the engine
(``Engine.set_edits``). A file is TOML (``[[regions]]`` tables) or JSON (``{"regions": [...]}``)::

    [[regions]]
    name = "kick out of the vocal"   # optional label, shown in errors and on the picture
    start = "0:12"                   # seconds, or m:ss(.s)
    end = "0:48"
    low_hz = 0                       # default 0
    high_hz = 150                    # default: the top
    azimuth = [-0.3, 0.3]            # default [-1, 1]
    target_gain_db = -inf            # default 0; -inf removes
    rest_gain_db = 0                 # default 0
    move_to = "rest"                 # optional: the region's bins go wholly to "target"/"rest"
    fade = 0.02                      # seconds, default 0.02; centred on each time edge

Gains scale; ``move_to`` reassigns the region's bins between the two outputs (so stems still
sum to the input): "take the kick out of the vocal" is ``move_to = "rest"``, "keep the backing
vocal at -0.6" is ``azimuth = [-0.7, -0.5]`` with ``move_to = "target"``. Overlapping regions
multiply (moves apply in file order). Every problem is reported as one line naming the file and region.
"""

from __future__ import annotations

import difflib
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .textfile import read_text
from ...dsp.errors import PansliceError
from ...dsp.params import BAND_TOP_HZ, NEG_INF, parse_number
from ...dsp.regions import MAX_GAIN_DB, R_COLS

FORMAT = 1
DEFAULT_FADE_S = 0.02
KEYS = ("name", "start", "end", "low_hz", "high_hz", "azimuth", "target_gain_db",
        "rest_gain_db", "move_to", "fade")
MOVES = {"": 0.0, "target": 1.0, "rest": -1.0}


class EditsError(PansliceError):
    """An edits file that cannot be read or has a bad region."""


@dataclass(frozen=True)
class Region:
    """One hand edit in user units (seconds, Hz, azimuth -1..1, dB)."""

    start: float
    end: float
    low_hz: float = 0.0
    high_hz: float = BAND_TOP_HZ
    az_low: float = -1.0
    az_high: float = 1.0
    target_gain_db: float = 0.0
    rest_gain_db: float = 0.0
    fade: float = DEFAULT_FADE_S
    name: str = ""
    move_to: str = ""          # "", "target" or "rest"

    def row(self) -> list[float]:
        """The engine's row (column order of ``panslice.dsp.regions.R_*``)."""
        return [self.start, self.end, self.fade, self.low_hz, self.high_hz, self.az_low,
                self.az_high, self.target_gain_db, self.rest_gain_db, MOVES[self.move_to]]


def rows(regions: list[Region]) -> np.ndarray:
    """The regions as the float64 array ``Engine.set_edits`` takes."""
    return np.array([r.row() for r in regions], np.float64).reshape(len(regions), R_COLS)


def past_end(rows_: np.ndarray, duration_s: float, where: str) -> list[str]:
    """Warnings for regions that start at or after the end of a ``duration_s`` long input."""
    return [f"{where}: edit region {i} starts at {r[0]:g} s, after the end of the input "
            f"({duration_s:.2f} s); it changes nothing" for i, r in enumerate(rows_, 1)
            if r[0] >= duration_s]


def load(path: str | Path) -> list[Region]:
    """Read and validate an edits file (``.toml`` or ``.json``)."""
    path = Path(path)
    text = read_text(path, "edits file", EditsError)
    return parse(text, str(path), json_format=path.suffix.lower() == ".json")


def parse(text: str, where: str, *, json_format: bool = False) -> list[Region]:
    try:
        data = json.loads(text) if json_format else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        kind = "JSON" if json_format else "TOML"
        raise EditsError(f"{where}: not valid {kind} ({e})") from None
    if not isinstance(data, dict):
        raise EditsError(f"{where}: expected a table with a 'regions' list")
    unknown = set(data) - {"format", "regions"}
    if unknown:
        raise EditsError(f"{where}: unknown keys {sorted(unknown)} (expected 'format' and 'regions')")
    if data.get("format", FORMAT) != FORMAT:
        raise EditsError(f"{where}: format {data.get('format')!r} is not supported (expected {FORMAT})")
    regions = data.get("regions")  # an explicit empty list (regions = []) edits nothing
    if not isinstance(regions, list) or not all(isinstance(r, dict) for r in regions):
        raise EditsError(f"{where}: needs a list of regions ([[regions]] tables in TOML, a "
                         "\"regions\" list of objects in JSON, or regions = [] for none)")
    return [_region(r, f"{where}: region {i}" + (f" ({r['name']!r})" if isinstance(r.get("name"), str) else ""))
            for i, r in enumerate(regions, 1)]


def _region(d: dict, where: str) -> Region:
    def fail(msg: str):
        raise EditsError(f"{where}: {msg}")

    for k in d:
        if k not in KEYS:
            near = difflib.get_close_matches(k, KEYS, n=1)
            fail(f"unknown key {k!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
                 + f"; known: {', '.join(KEYS)}")
    for k in ("start", "end"):
        if k not in d:
            fail(f"missing {k!r} (seconds, or m:ss)")
    name = d.get("name", "")
    if not isinstance(name, str):
        fail("name must be a string")

    def num(key: str, default: float) -> float:
        if key not in d:
            return default
        try:
            v = parse_number(d[key], key)
        except PansliceError as e:
            fail(str(e))
        if math.isnan(v):
            fail(f"{key}: NaN is not a value")
        return v

    start, end = _time(d["start"], "start", fail), _time(d["end"], "end", fail)
    if not start < end:
        fail(f"start ({start:g} s) must be before end ({end:g} s)")
    fade = num("fade", DEFAULT_FADE_S)
    if not 0.0 <= fade <= 10.0:
        fail(f"fade={fade:g} s is out of range (valid: 0 .. 10 s)")
    lo, hi = num("low_hz", 0.0), num("high_hz", BAND_TOP_HZ)
    if not (0.0 <= lo < hi and math.isfinite(hi)):
        fail(f"frequency range {lo:g}..{hi:g} Hz must have 0 <= low_hz < high_hz")
    az = d.get("azimuth", [-1.0, 1.0])
    if not (isinstance(az, list) and len(az) == 2):
        fail(f"azimuth must be [low, high] within -1..1, got {az!r}")
    try:
        a0, a1 = (parse_number(a, "azimuth") for a in az)
    except PansliceError as e:
        fail(str(e))
    if not -1.0 <= a0 < a1 <= 1.0:
        fail(f"azimuth range [{a0:g}, {a1:g}] must have -1 <= low < high <= 1")
    gains = []
    for key in ("target_gain_db", "rest_gain_db"):
        g = num(key, 0.0)
        if not (g == NEG_INF or -120.0 <= g <= MAX_GAIN_DB):
            fail(f"{key}={g:g} is out of range (valid: -inf, or -120 .. {MAX_GAIN_DB:g} dB)")
        gains.append(g)
    move = d.get("move_to", "")
    if move not in ("target", "rest") and "move_to" in d:
        fail(f"move_to={move!r} must be \"target\" or \"rest\"")
    if gains == [0.0, 0.0] and not move:
        fail("changes nothing: give target_gain_db, rest_gain_db and/or move_to")
    return Region(start, end, lo, hi, a0, a1, gains[0], gains[1], fade, name, move)


def _time(value: object, key: str, fail) -> float:
    """Seconds from a number or 'm:ss(.s)' / 'h:mm:ss(.s)'."""
    try:
        parts = [float(p) for p in value.strip().split(":")] if isinstance(value, str) and ":" in value \
            else [parse_number(value, key)]
    except (ValueError, PansliceError):
        fail(f"{key}={value!r} is not a time (seconds, or m:ss)")
    if not all(0 <= p < 60 for p in parts[1:]):  # '1:75' is a slip, not 135 s
        fail(f"{key}={value!r}: minutes and seconds after a ':' must be below 60")
    t = 0.0
    for part in parts:
        t = t * 60.0 + part
    if not (math.isfinite(t) and t >= 0.0):
        fail(f"{key}={value!r} must be a time >= 0")
    return t
