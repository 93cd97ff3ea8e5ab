"""Solo or mute one source found by direction, live: the slice moves onto it and the gains pick
what is heard.

The sources are those ``analyze --sources`` lists (their settings: direction, widths, cue); the
engine has one slice, so soloing source n puts it on n and keeps the target alone, and muting n
puts it on n and keeps the rest alone. Releasing (``on`` 0) lets both through. Every surface
(OSC, the studio page) asks the hub, which applies all the changes of one request or none.
"""

from __future__ import annotations

from typing import Sequence

from ...dsp import params as P
from ...dsp.errors import PansliceError
from .hub import ControlHub, Rejected

MODES = ("solo", "mute")
FIXED = "fft_size"   # the one setting of a source that needs a restart: live starts with it


def solo(hub: ControlHub, n: int, mode: str, on: bool = True) -> None:
    """Solo or mute source ``n`` (1-based) of ``hub.sources``, or release it: every change of
    it through ``hub`` at once, or none."""
    hub.apply(changes(hub.sources, n, mode, on, hub.state))


def changes(sources: Sequence[dict], n: int, mode: str, on: bool, state: dict) -> dict:
    """The parameter values that solo (or mute) source ``n`` (1-based), or release it."""
    if mode not in MODES:
        raise Rejected(f"a source is soloed or muted, not {mode!r}")
    if not sources:
        raise Rejected("no sources known: start with --sources FILE (a file, or the JSON of "
                       "'panslice analyze FILE --sources --json')")
    if not 1 <= n <= len(sources):
        raise Rejected(f"source {n}: there are sources 1 to {len(sources)}")
    if not on:
        return {"target_gain_db": 0.0, "rest_gain_db": 0.0}
    settings = dict(sources[n - 1])
    fixed = settings.pop(FIXED, state[FIXED])
    if fixed != state[FIXED]:
        raise Rejected(f"source {n} was found with {FIXED} {P.fmt(fixed)}, this session runs "
                       f"{P.fmt(state[FIXED])}: start it with --sources")
    quiet = -float("inf")
    gains = ({"target_gain_db": 0.0, "rest_gain_db": quiet} if mode == "solo" else
             {"target_gain_db": quiet, "rest_gain_db": 0.0})
    return {**settings, **gains}


def read(found: Sequence[dict]) -> list[dict]:
    """Each source's settings from ``analyze --sources --json`` (a list of objects with
    "settings"), checked against the registry: a value it refuses is named."""
    out = []
    for k, s in enumerate(found, 1):
        settings = s.get("settings") if isinstance(s, dict) else None
        if not isinstance(settings, dict):
            raise Rejected(f"source {k}: no \"settings\" object (is this the JSON of "
                           "'panslice analyze --sources --json'?)")
        try:
            out.append({name: P.get(name).validate(v) for name, v in settings.items()})
        except PansliceError as e:
            raise Rejected(f"source {k}: {e}") from None
    return out
