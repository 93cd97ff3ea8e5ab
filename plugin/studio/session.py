"""One studio session: the monitor around the chain, the transport around a file source, the
visuals thread and the web server, started and stopped together around the live loop.

``with StudioSession(chain, stream, control, ...) as studio: live.run(studio.chain, ...)``:
the loop runs ``studio.chain`` (the chain behind the monitor), and a file source answers to
the page's transport. The page steers through ``control.server.hub``, the hub the OSC server
uses, so both surfaces validate, apply, record and echo every change the same way.
"""

from __future__ import annotations

import sys
import webbrowser

from .guard import is_loopback, new_token
from .monitor import Monitor
from .page import Files, Page
from .server import WebServer
from .transport import Transport
from .visuals import FPS, Visuals, overview

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def url_of(host: str, port: int, token: str | None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


class StudioSession:
    """Serves the page for a running live session (see the module docstring)."""

    def __init__(self, chain, stream, control, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 song: str | None = None, preset: str = "vocal-lift", chain_file: str | None = None,
                 paused: bool = False, open_browser: bool = False, out_dir: str | None = None,
                 edits: str | None = None, channels=None, outputs: tuple = ()):
        self.chain = Monitor(chain)
        self.transport = None
        src = getattr(stream, "source", None)
        pic = None
        if song is not None and src is not None and hasattr(src, "audio"):
            self.transport = stream.source = self.chain.transport = Transport(src, playing=not paused)
            pic = overview(src.audio, src.sample_rate)
        self.control = control
        sr = stream.sample_rate
        info = {"song": song, "sample_rate": sr, "latency": chain.latency_samples,
                "osc_port": control.server.port, "row_edges": [], "az_bins": 0, "fps": FPS}
        files = Files.of(song, chain_file, out_dir, edits, channels, outputs)
        self.page = Page(control.server.hub, self.chain, self.transport, self._broadcast,
                         files=files, preset=preset, info=info, overview=pic)
        self.token = new_token(host)
        self.server = WebServer(host, port, self.token, self.page.handle, self.page.hello)
        stages = chain.stages  # the picture is what the first panslice stage's engine sees
        self.visuals = Visuals(stages[0].engine if stages else None, sr, self.server.frame,
                               levels=lambda: control.controls.levels, position=self._position)
        info["row_edges"] = [float(f) for f in self.visuals.pano.edges]
        info["az_bins"] = int(self.visuals.pano.held.size // self.visuals.pano.rows)
        self.open_browser = open_browser
        control.server.hub.listeners.append(self._echo)

    def _position(self) -> float:
        return self.transport.position if self.transport is not None else -1.0

    def _broadcast(self, msg: dict) -> None:
        self.server.broadcast(msg)

    def _echo(self, name: str, value: float) -> None:
        from .page import wire

        self.server.broadcast({"t": "param", "name": name, "value": wire(value)})

    @property
    def url(self) -> str:
        return url_of(self.server.host, self.server.port, self.token)

    def __enter__(self) -> "StudioSession":
        self.server.start()
        self.visuals.start()
        where = "" if is_loopback(self.server.host) else " (reachable from other machines; keep the token)"
        print(f"panslice: studio on {self.url}{where}", file=sys.stderr, flush=True)
        if self.open_browser:
            webbrowser.open(self.url)
        return self

    def __exit__(self, *exc) -> None:
        self.control.server.hub.listeners.remove(self._echo)
        self.visuals.stop()
        self.server.stop()
        print(f"panslice: studio: {self.visuals.frames} pictures made, {self.server.frames_sent} "
              f"sent, {self.server.frames_dropped} dropped for a busy page; {self.visuals.lost} "
              f"engine frames not drawn; {self.server.refused} requests refused", file=sys.stderr)
