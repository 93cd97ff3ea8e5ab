"""Chain files: a chain described as a small TOML file, validated before any audio runs.

```toml
format = 1
description = "revival: air on the vocal, glue on the band"

[[step]]
plugin = "HighpassFilter"          # any pedalboard built-in, by class name
cutoff_frequency_hz = 30           # its parameters, by pedalboard's names

[[step]]
plugin = "panslice"                # the panslice stage
preset = "vocal-lift"              # optional: else the command line's --preset
set = { width = 0.3 }              # optional: like --set (the command line's --set wins)

  [[step.target]]                  # optional split routing: a sub-chain for the slice...
  plugin = "Reverb"
  wet_level = 0.25

  [[step.rest]]                    # ...and one for the rest; the two are summed back
  plugin = "Compressor"
  ratio = 2.5

[[step]]
vst3 = "~/.vst3/Some.vst3"         # a VST3 (a path relative to this file, or absolute)
plugin_name = "Some"               # optional: which plugin of a shell
mix = 0.5                          # its parameters, by pedalboard's names for them
```

Every problem is one line that names the file and the step (``step 2 > target 1 (Reverb)``).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path

from ..formats.textfile import read_text
from ...dsp import params as P
from ...dsp.errors import PansliceError
from .chain import Chain
from .stage import Stage

FORMAT = 1
NOT_BUILT_INS = {"Plugin", "PluginContainer", "Chain", "Mix", "Pedalboard", "ExternalPlugin",
                 "VST3Plugin", "AudioUnitPlugin"}
STAGE_KEYS = {"plugin", "preset", "set", "target", "rest"}


class ChainFileError(PansliceError):
    """A chain file that cannot be read or validated."""


def built_ins() -> dict[str, type]:
    """pedalboard's built-in effects by class name."""
    import pedalboard

    return {n: c for n, c in vars(pedalboard).items()
            if isinstance(c, type) and issubclass(c, pedalboard.Plugin)
            and n not in NOT_BUILT_INS and not n.startswith("_")}


def parameter_names(cls: type) -> list[str]:
    import pedalboard

    return sorted(k for k in set(dir(cls)) - set(dir(pedalboard.Plugin))
                  if isinstance(getattr(cls, k, None), property))


def load(path: str | os.PathLike, *, preset: str, overrides: dict[str, object] | None = None) -> Chain:
    """Read and validate the chain file at ``path``.

    Each panslice stage starts from its ``preset`` (or ``preset`` given here), then takes its
    ``set`` values, then ``overrides`` (the command line's --set).
    """
    p = Path(path)
    return parse(read_text(p, "chain file", ChainFileError), p, preset=preset, overrides=overrides or {})


def parse(text: str, path: Path, *, preset: str, overrides: dict[str, object]) -> Chain:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ChainFileError(f"{path}: not valid TOML ({e})") from None
    unknown = set(data) - {"format", "description", "step"}
    if unknown:
        raise ChainFileError(f"{path}: unknown keys {sorted(unknown)} (expected format, "
                             "description and [[step]] tables)")
    if data.get("format", FORMAT) != FORMAT:
        raise ChainFileError(f"{path}: format {data.get('format')!r} is not supported (expected {FORMAT})")
    b = _Builder(path, preset, overrides)
    chain = b.chain(data.get("step"), "step", "step")
    if not chain.stages:
        raise ChainFileError(f'{path}: no panslice step (add a [[step]] with plugin = "panslice")')
    return chain


class _Builder:
    def __init__(self, path: Path, preset: str, overrides: dict[str, object]):
        self.path = path
        self.preset = preset
        self.overrides = overrides

    def fail(self, where: str, msg: str) -> ChainFileError:
        return ChainFileError(f"{self.path}: {where}: {msg}")

    def chain(self, steps: object, where: str, table: str) -> Chain:
        if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
            raise ChainFileError(f"{self.path}: {where}: expected one or more [[{table}]] tables")
        return Chain(self.step(s, f"{where} {i}") for i, s in enumerate(steps, 1))

    def step(self, spec: dict, where: str):
        if "vst3" in spec:
            if "plugin" in spec:
                raise self.fail(where, "give either plugin = NAME or vst3 = PATH, not both")
            return self.vst3(spec, where)
        name = spec.get("plugin")
        if not isinstance(name, str):
            raise self.fail(where, 'needs plugin = "NAME" (a pedalboard built-in or "panslice") '
                                   "or vst3 = PATH")
        if name == "panslice":
            return self.stage(spec, where)
        kinds = built_ins()
        if name not in kinds:
            near = difflib.get_close_matches(name, list(kinds) + ["panslice"], n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise self.fail(where, f"unknown plugin {name!r}{hint}; pedalboard built-ins: "
                                   + ", ".join(sorted(kinds)))
        where = f"{where} ({name})"
        values = {k: v for k, v in spec.items() if k != "plugin"}
        known = parameter_names(kinds[name])
        for k in values:
            if k not in known:
                raise self.fail(where, f"unknown parameter {k!r} (valid: {', '.join(known)})")
        try:
            plugin = kinds[name]()
        except TypeError:  # a plugin whose constructor needs arguments (Convolution)
            try:
                return kinds[name](**values)
            except Exception as e:
                raise self.fail(where, _reason(e)) from None
        for k, v in values.items():
            self.assign(plugin, k, v, where)
        return plugin

    def assign(self, plugin, key: str, value: object, where: str) -> None:
        try:
            setattr(plugin, key, value)
        except Exception as e:
            raise self.fail(where, f"{key}={value!r}: {_reason(e)}") from None

    def vst3(self, spec: dict, where: str):
        import pedalboard

        raw = spec["vst3"]
        if not isinstance(raw, str):
            raise self.fail(where, "vst3 must be a path (a string)")
        file = Path(os.path.expanduser(raw))
        if not file.is_absolute():
            file = self.path.parent / file
        where = f"{where} ({file.name})"
        if not file.exists():
            raise self.fail(where, f"no such VST3 plugin: {file}")
        name = spec.get("plugin_name")
        try:
            plugin = pedalboard.load_plugin(str(file), plugin_name=name)
        except Exception as e:
            raise self.fail(where, f"cannot load VST3 ({_reason(e)})") from None
        known = sorted(plugin.parameters)
        for k, v in spec.items():
            if k in ("vst3", "plugin_name"):
                continue
            if k not in known:
                raise self.fail(where, f"unknown parameter {k!r} (valid: {', '.join(known)})")
            self.assign(plugin, k, v, where)
        return plugin

    def stage(self, spec: dict, where: str) -> Stage:
        from ..formats import presets

        extra = set(spec) - STAGE_KEYS
        if extra:
            raise self.fail(where, f"unknown keys {sorted(extra)} for a panslice step "
                                   f"(valid: {', '.join(sorted(STAGE_KEYS - {'plugin'}))})")
        where = f"{where} (panslice)"
        name = spec.get("preset", self.preset)
        if not isinstance(name, str):
            raise self.fail(where, "preset must be a preset name (a string)")
        values = spec.get("set", {})
        if not isinstance(values, dict):
            raise self.fail(where, "set must be a table, like set = { width = 0.3 }")
        try:
            base = presets.load(name).params
            ps = base.copy()
            P.apply_overrides(ps, values)
        except PansliceError as e:
            raise self.fail(where, str(e)) from None
        try:
            P.apply_overrides(ps, self.overrides)
        except P.ParameterError as e:
            raise PansliceError(f"--set: {e}") from None
        branches = {k: self.chain(spec[k], f"{where.split(' (')[0]} > {k}", f"step.{k}")
                    for k in ("target", "rest") if k in spec}
        named = "fft_size" in values or "fft_size" in self.overrides
        return Stage(ps, **branches, preset_fft=None if named else base["fft_size"])


def _reason(e: Exception) -> str:
    text = str(e).strip()
    m = re.search(r"arg1: ([\w.\[\], ]+)\)", text)
    if isinstance(e, TypeError) and m:
        return f"wrong type (expects {m.group(1)})"
    return text.splitlines()[0] if text else type(e).__name__
