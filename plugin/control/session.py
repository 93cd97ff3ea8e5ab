"""The control side of one live session: the OSC server, the change bridge the live loop drains,
and the automation recording, kept on the disk as it goes and published when the session ends."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from ...dsp import params as P
from ..formats import automation
from ..graph.ring import ShortSwitchInterval
from . import osc
from .bridge import Controls
from .hub import ControlHub
from .osc import OscServer

KEEP_EVERY_S = 1.0   # how often the recorded changes reach the disk (the audio take's header: 1 s)


class ControlSession:
    """``with ControlSession(chain, sr, ...) as s: live.run(..., controls=s.controls)``.

    OSC changes go to every panslice stage of ``chain``; ``get`` and ``preset/save`` report the
    first stage's values. With ``record_to``, every applied change is recorded there, starting
    from the values the session began with: kept on the disk as it goes (about once a second,
    as the audio take is) and published at that name when the session ends (also after a stop
    signal). Without an explicit ``port``, a taken default port falls back to a free one
    (printed).
    """

    def __init__(self, chain, sample_rate: float, *, host: str | None = None, port: int | None = None,
                 record_to: str | None = None, outputs: tuple[str, str] = ("target", "rest"),
                 allow: list | None = None, overwrite: bool = False,
                 sources: list[dict] | None = None):
        stages = chain.stages
        self.start = stages[0].params.copy() if stages else P.ParamSet()
        self.sample_rate = sample_rate
        self.record_to = automation.check_writable(record_to, overwrite=overwrite) if record_to else None
        self.controls = Controls(stages, record=record_to is not None, sample_rate=sample_rate)
        self._default_port = port is None
        hub = ControlHub(self.controls, self.start, outputs=outputs, sources=sources)
        self.server = OscServer(self.controls, self.start, outputs=outputs, host=host or osc.DEFAULT_HOST,
                                port=osc.DEFAULT_PORT if port is None else port,
                                latency=lambda: chain.latency_samples, allow=allow, hub=hub)

    def __enter__(self) -> "ControlSession":
        self._recording = None
        try:
            self.server.start()
        except osc.OscError:
            if not self._default_port:
                raise
            self.server.port = 0  # a second session on this machine still runs, and says where
            self.server.start()
            print(f"panslice: warning: OSC port {osc.DEFAULT_PORT} is taken (another panslice?)",
                  file=sys.stderr)
        # The OSC thread competes with the audio loop for the GIL; a short switch interval
        # bounds how long the loop can wait for it after each sleep or system call.
        self._switch = ShortSwitchInterval()
        print(f"panslice: OSC on udp://{self.server.host}:{self.server.port} "
              "(see 'panslice osc-table')", file=sys.stderr)
        warning = osc.exposure_warning(self.server.host, self.server.port, self.server.allow)
        if warning:
            print(f"panslice: warning: {warning}", file=sys.stderr)
        if self.record_to is not None:
            try:
                self._recording = automation.Recording(self.record_to, self.sample_rate, self.start)
            except BaseException:
                self.server.stop()
                self._switch.restore()
                raise
            self._keeping = threading.Event()
            self._keeper = threading.Thread(target=self._keep, name="panslice-automation", daemon=True)
            self._keeper.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()
        self._switch.restore()
        print(f"panslice: {self.server.summary()}", file=sys.stderr)
        if self.controls.failed:
            print(f"panslice: warning: {self.controls.failed} accepted changes were refused by a "
                  "panslice stage and not applied", file=sys.stderr)
        if self.controls.held:
            print(f"panslice: warning: {self.controls.held} changes from timed OSC bundles were still "
                  "waiting for their time when the session ended (not applied)", file=sys.stderr)
        if self._recording is not None:
            self._keeping.set()
            self._keeper.join()
            path = self._recording.close(self.controls.recorded)
            print(f"panslice: recorded {len(self.controls.recorded)} changes to {Path(path)}",
                  file=sys.stderr)

    def _keep(self) -> None:
        """Once a second, the changes recorded so far go to the recording's temporary file
        (whole rows), so a killed session keeps them as its audio take keeps its sound."""
        while not self._keeping.wait(KEEP_EVERY_S):
            try:
                self._recording.flush(self.controls.recorded)
            except OSError as e:   # a full disk: said once; close() tries again and fails loudly
                print(f"panslice: warning: {self.record_to}: cannot write automation ({e.strerror})",
                      file=sys.stderr)
                return
