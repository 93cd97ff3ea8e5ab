"""What the page may ask and what it is told: the studio's messages, as JSON objects.

The page sends ``{"t": "set", "name": ..., "value": ...}`` for a knob (a gain's silence as the
string ``"-inf"``), ``get``, ``monitor`` (``mode``), ``transport`` (``action`` play, pause or
seek, with ``seconds``), ``preset_load`` / ``preset_save`` (``name``), ``command``,
``regions`` (the whole list of painted regions) and ``bounce`` (``stems`` true or false). Knob
changes go through the control hub that OSC uses, so they are validated the same way and
echoed to OSC subscribers and to every page as ``{"t": "param", "name", "value"}``; the
region list is echoed to every page as ``{"t": "regions", "regions"}``.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path

from ...dsp import params as P
from ..control.hub import ControlHub, Rejected
from ..control.solo import solo
from ..formats import presets
from ..formats import edits as edits_file
from . import regions as R
from .bouncer import Bouncer, command as bounce_command
from .monitor import MODES

GROUPS = (  # (title, names or a name prefix); a parameter in none of them goes to "other"
    ("Slice", ("center", "width", "softness", "phase_tolerance")),
    ("Delay (spaced mics)", ("direction_cue", "delay_center_ms", "delay_width_ms",
                             "mic_spacing_cm")),
    ("Gains", ("target_gain_db", "rest_gain_db")),
    ("Bands", ("band_count", "band.")),
    ("Refinement", ("percussion_reject", "smooth_ms", "smooth_hz", "ambience_ms")),
    ("ML", ("ml_prior", "ml_contrast", "ml_bias", "ml_spatial")),
    # set by --sources, rarely by hand: below the knobs a person steers with
    ("Rivals (competing sources)", ("rivals", "rival.")),
    ("Structure (fixed while running)", ("fft_size", "overlap")),
)


def group_of(name: str) -> str:
    for title, names in GROUPS:
        if any(name == n or (n.endswith(".") and name.startswith(n)) for n in names):
            return title
    return "Other"


def wire(v: float) -> float | str:
    """A value as JSON can carry it (-inf as a string)."""
    return "-inf" if v == -math.inf else v


def registry() -> list[dict]:
    """Every parameter as the page draws its knob: range, default, unit, scale, group, doc."""
    return [{"name": p.name, "min": wire(p.minimum), "max": p.maximum, "default": wire(p.default),
             "unit": p.unit, "scale": p.scale, "choices": list(p.choices), "live": p.live,
             "doc": p.doc, "group": group_of(p.name)} for p in P.REGISTRY]


@dataclass
class Files:
    """What the page may read and write: the song and chain named on the command line, the
    edits file (``--edits``, or SONG-edits.toml in the output folder) and the output folder."""

    song: str | None
    chain: str | None = None
    out_dir: Path | None = None
    edits: Path | None = None
    channels: tuple | None = None
    outputs: tuple = ()   # the session's own outputs, as (flag, path): the page never writes there

    @classmethod
    def of(cls, song: str | None, chain: str | None, out_dir: str | None, edits: str | None,
           channels=None, outputs: tuple = ()) -> "Files":
        if song is None:
            return cls(None, chain)
        d = Path(out_dir) if out_dir else Path(song).resolve().parent
        e = Path(edits) if edits else d / f"{Path(song).with_suffix('').name}-edits.toml"
        return cls(song, chain, d, e, channels, tuple(outputs))


class Page:
    """Answers the page's messages. ``broadcast(dict)`` tells every page."""

    def __init__(self, hub: ControlHub, monitor, transport, broadcast, *, files: Files,
                 preset: str, info: dict, overview=None):
        self.hub, self.monitor, self.transport = hub, monitor, transport
        self.broadcast = broadcast
        self.files, self.preset, self.info = files, preset, info
        self.song, self.chain = files.song, files.chain
        self.overview = overview  # (uint8 rows x cols, row edges) of the whole song, or None
        self.regions = R.load(files.edits) if files.edits is not None else []
        if self.regions:
            monitor.set_edits(edits_file.rows(self.regions))
        self.bouncer = Bouncer(Path(files.song), files.out_dir, files.channels, broadcast, files.chain,
                               keep=[*files.outputs, ("the edits file", files.edits)]) \
            if files.song else None
        self._handlers = {"set": self._set, "get": self._get, "monitor": self._monitor,
                          "transport": self._transport, "preset_load": self._preset_load,
                          "preset_save": self._preset_save, "command": self._command,
                          "regions": self._regions, "bounce": self._bounce,
                          "source": self._source}

    def hello(self) -> dict:
        return {"t": "hello", "params": registry(), "groups": [g[0] for g in GROUPS] + ["Other"], "state": self._state(), "info": self.info,
                "monitor": MODES[self.monitor.mode], "modes": list(MODES),
                "transport": self.transport_state(), "presets": self._presets(), "preset": self.preset,
                "regions": R.to_page(self.regions), "overview": self._overview(),
                "sources": [{"n": k, "center": s.get("center", 0.0),
                             "delay_ms": s.get("delay_center_ms", 0.0)}
                            for k, s in enumerate(self.hub.sources, 1)],
                "files": {"out_dir": str(self.files.out_dir or ""), "edits": str(self.files.edits or ""),
                          "chain": bool(self.files.chain)}}

    def _overview(self) -> dict | None:
        if self.overview is None:
            return None
        img, edges = self.overview
        return {"rows": img.shape[0], "cols": img.shape[1], "edges": [float(f) for f in edges],
                "data": base64.b64encode(img.tobytes()).decode("ascii")}

    def handle(self, msg: dict, reply) -> None:
        handler = self._handlers.get(msg.get("t"))
        if handler is None:
            raise Rejected(f"unknown request {msg.get('t')!r}")
        handler(msg, reply)

    def _state(self) -> dict:
        return {k: wire(v) for k, v in self.hub.state.items()}

    def _presets(self) -> list[str]:
        return presets.shipped_names() + presets.user_names()

    def _set(self, msg: dict, reply) -> None:
        name, value = msg.get("name"), msg.get("value")
        if not isinstance(name, str):
            raise Rejected("set needs a parameter name")
        p = P.get(name)
        self.hub.set([p], -math.inf if value == "-inf" else value)

    def _source(self, msg: dict, reply) -> None:
        """{"t": "source", "n": 2, "mode": "solo" | "mute", "on": true}: as OSC's
        /panslice/source/<n>/<mode>, through the same hub."""
        n, on = msg.get("n"), msg.get("on", True)
        if isinstance(n, bool) or not isinstance(n, int) or not isinstance(on, bool):
            raise Rejected("source needs a whole number n (from 1) and on true or false")
        solo(self.hub, n, str(msg.get("mode")), on)

    def _get(self, msg: dict, reply) -> None:
        reply({"t": "state", "state": self._state(), "monitor": MODES[self.monitor.mode],
               "transport": self.transport_state()})

    def _monitor(self, msg: dict, reply) -> None:
        mode = msg.get("mode")
        if mode not in MODES:
            raise Rejected(f"monitor mode must be one of {', '.join(MODES)}")
        self.monitor.set_mode(mode)
        self.broadcast({"t": "monitor", "mode": mode})

    def transport_state(self) -> dict | None:
        tr = self.transport
        if tr is None:
            return None
        return {"playing": tr.want_playing, "seconds": tr.position,
                "length": tr.length / tr.sample_rate, "started_at": tr.started_at}

    def _transport(self, msg: dict, reply) -> None:
        tr = self.transport
        if tr is None:
            raise Rejected("live input has no transport")
        action = msg.get("action")
        if action == "play":
            tr.play()
        elif action == "pause":
            tr.pause()
        elif action == "seek" and isinstance(msg.get("seconds"), (int, float)) \
                and not isinstance(msg.get("seconds"), bool) and math.isfinite(msg["seconds"]):
            tr.seek(float(msg["seconds"]))
        else:
            raise Rejected("transport: action play, pause, or seek with a number of seconds")
        self.broadcast({"t": "transport", **self.transport_state()})

    def _name(self, msg: dict) -> str:
        name = msg.get("name")
        if not isinstance(name, str):
            raise Rejected("a preset name is needed")
        return presets.check_name(name)

    def _preset_load(self, msg: dict, reply) -> None:
        self.preset = self.hub.load_preset(self._name(msg))
        reply({"t": "notice", "text": f"preset {self.preset!r} loaded"})

    def _preset_save(self, msg: dict, reply) -> None:
        name = self._name(msg)
        path = self.hub.save_preset(name, "saved from the studio page")
        self.preset = name
        self.broadcast({"t": "presets", "presets": self._presets()})
        reply({"t": "notice", "text": f"saved preset {name!r} to {path}"})

    def command(self, stems: bool = False) -> str:
        f = self.files
        return bounce_command(self.song, self.hub.state, self.preset, self.chain, stems=stems,
                              edits=f.edits if self.regions else None, out_dir=f.out_dir,
                              channels=f.channels)

    def _command(self, msg: dict, reply) -> None:
        reply({"t": "command", "text": self.command(), "stems": self.command(stems=True)})

    def _regions(self, msg: dict, reply) -> None:
        if self.transport is None:
            raise Rejected("regions are painted on a song's time: start 'panslice studio SONG'")
        regions = R.check(msg.get("regions"))
        R.save(self.files.edits, regions)
        self.regions = regions
        self.monitor.set_edits(edits_file.rows(regions))
        self.broadcast({"t": "regions", "regions": R.to_page(regions)})
        self.broadcast({"t": "command", "text": self.command(), "stems": self.command(stems=True)})

    def _bounce(self, msg: dict, reply) -> None:
        if self.bouncer is None:
            raise Rejected("bounce needs a song: start 'panslice studio SONG'")
        stems = msg.get("stems") is True
        rows = edits_file.rows(self.regions) if self.regions else None
        out = self.bouncer.start(dict(self.hub.state), self.preset, rows, stems)
        self.broadcast({"t": "bounce", "done": 0.0, "to": str(out), "command": self.command(stems)})
