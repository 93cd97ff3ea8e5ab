"""The one control path every surface shares (OSC, the studio page): validate, apply, echo.

A surface turns its own message into registry parameters and a value, and hands them to
:meth:`ControlHub.set`; the hub checks them all (or none are applied), keeps the current values
(for ``get`` and presets), queues accepted changes for the audio loop through
:class:`~panslice.plugin.control.bridge.Controls` and tells every listener, so each surface
echoes changes that came from the others. Listeners run in the thread that made the change and
must not block (the OSC server sends a datagram; the studio posts to its own event loop).
"""

from __future__ import annotations

import threading
from typing import Callable, Iterable

from ...dsp import params as P
from ...dsp.errors import PansliceError
from .bridge import Controls

Listener = Callable[[str, float], None]
MAX_HELD = 4096  # timed changes waiting for their block; beyond that they are rejected
# ml_prior acts only through the ML look-ahead, which a session gets when it starts with
# ml_prior > 0. Starting one mid-session would delay the audio by seconds at once (a gap, and a
# new latency for a DAW to compensate) and load the model mid-show, so it is refused instead.
NO_LOOKAHEAD = ("ml_prior needs the ML look-ahead, which only a session started with it has: "
                "restart with an ML preset (--preset acapella-ml or karaoke-ml) or --set ml_prior=X")


class Rejected(PansliceError):
    """A change or request a surface refuses and answers with an error."""


def kind_of(v: object) -> str:
    """What a non-number value is, in a surface's words."""
    return {str: "a string", bytes: "a blob", bool: "a boolean", type(None): "nil"}.get(
        type(v), type(v).__name__)


class ControlHub:
    """Current values, validation and echo for every control surface of one session.

    ``outputs`` are the names of the two outputs, stored with a saved preset. Changes from
    several threads are serialised by one lock, so the state and the order of echoes agree.
    """

    def __init__(self, controls: Controls, params: P.ParamSet, *,
                 outputs: tuple[str, str] = ("target", "rest"), sources: list[dict] | None = None):
        self.controls = controls
        self.sources = list(sources or ())   # settings of each source found (control/solo.py)
        self.state = params.as_dict()  # validated values only: kept current as changes are accepted
        self.outputs = outputs
        self.listeners: list[Listener] = []
        self._lock = threading.Lock()

    def set(self, targets: Iterable[P.Param], value: object, at: float | None = None) -> None:
        """Set every parameter of ``targets`` to ``value``: all of them, or none (Rejected).
        ``at`` (a wall-clock time, from an OSC bundle's timetag) holds them until then."""
        targets = list(targets)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Rejected(f"expects a number, got {kind_of(value)}")
        for p in targets:
            if not p.live:
                raise Rejected(f"{p.name} cannot change while running (read-only)")
        if not self.controls.stages:
            raise Rejected("this chain has no panslice stage to steer")
        if at is not None and self.controls.held >= MAX_HELD:
            raise Rejected(f"already {MAX_HELD} timed changes waiting for their time")
        checked = [(t.name, t.validate(value)) for t in targets]
        if any(self._restart_only(t, v) for t, (_, v) in zip(targets, checked)):
            raise Rejected(NO_LOOKAHEAD)
        P.check_bands({**self.state, **dict(checked)})
        for name, v in checked:
            self.accept(name, v, at)

    def apply(self, changes: dict[str, object]) -> None:
        """Set several parameters to their own values at once: all of them, or none."""
        if not self.controls.stages:
            raise Rejected("this chain has no panslice stage to steer")
        checked = {}
        for name, value in changes.items():
            p = P.get(name)
            if not p.live:
                raise Rejected(f"{name} cannot change while running (read-only)")
            checked[name] = p.validate(value)
        P.check_bands({**self.state, **checked})
        for name, v in checked.items():
            self.accept(name, v)

    def accept(self, name: str, value: float, at: float | None = None) -> None:
        """Apply one validated change (at wall-clock time ``at``, if given) and echo it to
        every listener."""
        with self._lock:
            self.state[name] = value
            self.controls.submit(name, value, at)
            for tell in self.listeners:
                tell(name, value)

    def mirror(self, name: str, value: float) -> None:
        """A value the audio loop has already applied (played automation): kept current and
        echoed like an accepted change, not queued again."""
        with self._lock:
            self.state[name] = value
            for tell in self.listeners:
                tell(name, value)

    def load_preset(self, name: str) -> str:
        """Apply a preset's live values; Rejected (after applying the rest) when it differs in
        a value that needs a restart. Returns the preset's name."""
        from ..formats import presets

        preset = presets.load(name)
        rate = getattr(self.controls, "sample_rate", None)
        values = presets.at_rate(preset.params, preset.params["fft_size"], rate) if rate else preset.params
        fixed = [p for p in P.REGISTRY if values[p.name] != self.state[p.name]
                 and self._restart_only(p, values[p.name])]
        for p in P.REGISTRY:
            if p not in fixed and values[p.name] != self.state[p.name]:
                self.accept(p.name, values[p.name])
        if fixed:
            kept = ", ".join(f"{p.name}={P.fmt(self.state[p.name])}" for p in fixed)
            raise Rejected(f"preset {preset.name!r} applied except {kept}, which need a restart")
        return preset.name

    def _restart_only(self, p: P.Param, value: float) -> bool:
        """Whether ``value`` of ``p`` can act only in a new session: a structural parameter, or
        ml_prior above 0 where no stage has the ML look-ahead (its ``missed`` is None)."""
        return not p.live or (p.name == "ml_prior" and value > 0 and all(
            getattr(st, "missed", None) is None for st in self.controls.stages))

    def save_preset(self, name: str, description: str) -> str:
        """Save the current values as user preset ``name`` (checked); returns where."""
        from ..formats import presets

        params = P.ParamSet(self.state)
        rate = getattr(self.controls, "sample_rate", None)
        if rate:   # the size used at this rate, as a preset's (44.1 kHz) size that gives it here
            params, note = presets.for_saving(params, rate)
            if note:
                raise Rejected(f"preset {name!r} not saved: {note}")
        try:
            path = presets.save_user(presets.Preset(name, description, self.outputs, params, "user"))
        except OSError as e:
            raise Rejected(f"cannot save preset {name!r} ({e.strerror})") from None
        return str(path)
