"""Named presets: TOML snapshots of registry values, shipped ones and the user's own.

A preset file holds ``format``, ``description``, ``outputs`` (the names of the slice and of the
rest, used for stem files) and a ``[params]`` table; ``[[bands]]`` lists the bands. An ``[auto]``
table (``per_spread``, ``min_width``, ``max_width``) makes a bounce set ``center`` and ``width``
per file from analyze's measurement of its voice (plugin/offline/analyze.auto_slice). Every value
is validated against the registry when the preset loads, so a bad preset fails with its file
name, never halfway through a render. Missing values take their defaults.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import tomli_w

from ...dsp import params as P
from ...dsp.errors import ParameterError, PansliceError
from .atomic import atomic_path

FORMAT = 1
REFERENCE_RATE = 44100.0  # the rate a preset's fft_size is written for
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class PresetError(PansliceError):
    """A preset that cannot be found, read or validated."""


@dataclass
class Preset:
    name: str
    description: str
    outputs: tuple[str, str]
    params: P.ParamSet
    source: str  # 'shipped' or the user file's path
    auto: dict[str, float] | None = None  # the [auto] table: the slice measured per file


def fft_size_at(fft_size: float, sample_rate: float) -> int:
    """A preset's ``fft_size`` at ``sample_rate``: the power of two nearest (in the log domain)
    to ``fft_size * sample_rate / 44100``, within the registry's range. 44.1 and 48 kHz keep it
    (2048 * 48000 / 44100 = 2229 is nearer 2048 than 4096 on a log axis)."""
    spec = P.get("fft_size")
    size = 2.0 ** round(math.log2(fft_size * sample_rate / REFERENCE_RATE))
    return int(min(max(size, spec.minimum), spec.maximum))


def at_rate(params: P.ParamSet, preset_fft: float | None, sample_rate: float) -> P.ParamSet:
    """``params`` as a run at ``sample_rate`` uses them: ``preset_fft`` (the preset's size, None
    where the user named fft_size) scaled to the rate."""
    if preset_fft is None or fft_size_at(preset_fft, sample_rate) == params["fft_size"]:
        return params
    out = params.copy()
    out.update({"fft_size": fft_size_at(preset_fft, sample_rate)})
    return out


def for_saving(params: P.ParamSet, sample_rate: float) -> tuple[P.ParamSet, str]:
    """``params`` (as used at ``sample_rate``) as a preset must hold them to give the same
    fft_size at that rate: the preset size nearest the same milliseconds that scales back to
    it; and a warning where no preset size does (the saved file keeps the size as given)."""
    used = params["fft_size"]
    fits = [c for c in P.get("fft_size").choices if fft_size_at(c, sample_rate) == used]
    if not fits:
        return params, (f"fft_size {used:g} at {sample_rate:g} Hz is not what any preset size gives "
                        f"at that rate; the saved preset gives {fft_size_at(used, sample_rate)} there")
    ideal = math.log2(used * REFERENCE_RATE / sample_rate)
    out = params.copy()
    out.update({"fft_size": min(fits, key=lambda c: abs(math.log2(c) - ideal))})
    return out, ""


def fft_note(fft_size: float, sample_rate: float) -> str:
    """The words for the run's preset line when the size used differs from the preset's."""
    used = fft_size_at(fft_size, sample_rate)
    if used == fft_size:
        return ""
    return f"fft_size {used} at {sample_rate:g} Hz (the preset's {fft_size:g} at {REFERENCE_RATE / 1000:g} kHz)"


def user_dir() -> Path:
    """The user's preset folder ($XDG_CONFIG_HOME/panslice/presets)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "panslice" / "presets"


def check_name(name: str) -> str:
    """A preset name is a plain file stem: no path separators, no leading dot."""
    if not NAME_RE.match(name) or name in (".", ".."):
        raise PresetError(f"bad preset name {name!r}: use letters, digits, '-', '_' or '.' "
                          "(no path separators, at most 64 characters)")
    return name


def parse(text: str, name: str, source: str) -> Preset:
    """Validate a preset's TOML text against the registry."""
    where = source if source != "shipped" else f"shipped preset {name!r}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PresetError(f"{where}: not valid TOML ({e})") from None
    unknown = set(data) - {"format", "description", "outputs", "params", "bands", "auto"}
    if unknown:
        raise PresetError(f"{where}: unknown keys {sorted(unknown)}")
    if data.get("format", FORMAT) != FORMAT:
        raise PresetError(f"{where}: format {data.get('format')!r} is not supported (expected {FORMAT})")
    outputs = data.get("outputs", ["target", "rest"])
    if (not isinstance(outputs, list) or len(outputs) != 2
            or not all(isinstance(o, str) and NAME_RE.match(o) for o in outputs)
            or outputs[0] == outputs[1]):
        raise PresetError(f"{where}: outputs must be two different plain names, got {outputs!r}")
    ps = P.ParamSet()
    try:
        values = data.get("params", {})
        if not isinstance(values, dict):
            raise ParameterError("[params] must be a table")
        if "band_count" in values or any(k.startswith("band.") for k in values):
            raise ParameterError("give bands as [[bands]] tables, not in [params]")
        ps.update(values)
        bands = data.get("bands")
        if bands is not None:
            if not isinstance(bands, list) or not all(isinstance(b, dict) for b in bands):
                raise ParameterError("[[bands]] must be a list of tables")
            for b in bands:
                extra = set(b) - set(P.BAND_FIELDS)
                if extra:
                    raise ParameterError(f"band has unknown keys {sorted(extra)}")
            ps.set_bands([(b.get("low_hz", 0.0), b.get("high_hz", P.BAND_TOP_HZ), b.get("gain_db", 0.0))
                          for b in bands])
    except ParameterError as e:
        raise PresetError(f"{where}: {e}") from None
    return Preset(name, str(data.get("description", "")), (outputs[0], outputs[1]), ps, source,
                  _auto(data.get("auto"), where))


AUTO_KEYS = ("per_spread", "min_width", "max_width")


def _auto(table: object, where: str) -> dict[str, float] | None:
    """The ``[auto]`` table checked: three positive numbers, min_width <= max_width <= 2."""
    if table is None:
        return None
    if not isinstance(table, dict) or set(table) != set(AUTO_KEYS):
        raise PresetError(f"{where}: [auto] must hold exactly {', '.join(AUTO_KEYS)}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in table.values()):
        raise PresetError(f"{where}: [auto] values must be positive numbers")
    if not table["min_width"] <= table["max_width"] <= 2.0:
        raise PresetError(f"{where}: [auto] needs min_width <= max_width <= 2")
    return {k: float(table[k]) for k in AUTO_KEYS}


def to_toml(preset: Preset) -> str:
    """Write a preset as TOML: only values that differ from the defaults, bands as tables (the
    layout of the shipped files); every value is written by tomli-w."""
    lines = [f"format = {FORMAT}", f"description = {_value(preset.description)}",
             f"outputs = [{_value(preset.outputs[0])}, {_value(preset.outputs[1])}]", "", "[params]"]
    for p in P.REGISTRY:
        if p.name.startswith("band") or preset.params[p.name] == p.default:
            continue
        lines.append(f"{p.name} = {_value(float(preset.params[p.name]))}")
    for band in preset.params.bands():
        lines += ["", "[[bands]]"] + [f"{k} = {_value(float(v))}" for k, v in zip(P.BAND_FIELDS, band)]
    return "\n".join(lines) + "\n"


def _value(v: str | float) -> str:
    """One TOML value as tomli-w writes it: strings escaped as TOML requires (quotes,
    backslashes, control characters), floats as Python's repr, infinities as ``inf``."""
    return tomli_w.dumps({"v": v})[len("v = "):-1]


def shipped_names() -> list[str]:
    files = resources.files("panslice.presets").iterdir()
    return sorted(f.name[:-5] for f in files if f.name.endswith(".toml"))


def user_names() -> list[str]:
    d = user_dir()
    return sorted(f.stem for f in d.glob("*.toml")) if d.is_dir() else []


def load(name: str) -> Preset:
    """Load a preset by name: a user preset of that name wins over a shipped one. Names match
    regardless of case when no preset has the exact name."""
    check_name(name)
    known = sorted(set(shipped_names() + user_names()))
    if name not in known:
        name = next((k for k in known if k.lower() == name.lower()), name)
    path = user_dir() / f"{name}.toml"
    if path.is_file():
        return parse(path.read_text(encoding="utf-8"), name, str(path))
    res = resources.files("panslice.presets") / f"{name}.toml"
    if res.is_file():
        return parse(res.read_text(encoding="utf-8"), name, "shipped")
    import difflib

    near = difflib.get_close_matches(name.lower(), known, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(near)}? " if near else ""
    raise PresetError(f"unknown preset {name!r} ({hint}known: {', '.join(known)})")


def all_presets() -> tuple[list[Preset], list[str]]:
    """Every preset that loads, and one line for each that does not (a bad user file must not
    hide the good ones)."""
    good, bad = [], []
    for n in sorted(set(shipped_names() + user_names())):
        try:
            good.append(load(n))
        except PresetError as e:
            bad.append(str(e))
    return good, bad


def shadows_shipped(preset: Preset) -> bool:
    """Whether ``preset`` is a user file that hides the shipped preset of its name."""
    return preset.source != "shipped" and preset.name in shipped_names()


def save_user(preset: Preset) -> Path:
    """Write ``preset`` to the user folder atomically and return its path. A shipped preset's
    name is refused (a user file of that name would quietly change every run that uses it), and
    so are bands that could not be loaded back."""
    check_name(preset.name)
    if preset.name.lower() in (n.lower() for n in shipped_names()):
        raise PresetError(f"{preset.name!r} is a shipped preset: save under another name "
                          f"(e.g. my-{preset.name.lower()})")
    try:
        P.check_bands(preset.params.as_dict())
    except ParameterError as e:
        raise PresetError(f"preset {preset.name!r} not saved: {e}") from None
    d = user_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{preset.name}.toml"
    with atomic_path(path) as tmp:
        tmp.write_text(to_toml(preset), encoding="utf-8")
    return path
