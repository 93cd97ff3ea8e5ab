"""The live loop: read a block, apply queued control changes, run the chain, write it; repeat.

There is one loop for every kind of stream (sound card, JACK ports, a file at real-time pace):
see :mod:`.streams` for the seam. Between blocks, before processing, the loop calls
``controls.on_block(sample_pos)`` when a controls object is given: that is where OSC changes
queued by another thread reach the chain and where automation is stamped (``sample_pos`` is
the input position of the block about to be processed, so a bounce with the same changes at
the same positions gives the same audio). Buffers are allocated before the loop starts.

Ctrl-C, SIGTERM and SIGHUP stop at the end of the current block and the session closes cleanly
(the file of what was heard is kept, see :class:`StopSignals`). Over- and under-runs are counted, never
hidden: the report says how many there were.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import realtime as rt
from . import streams
from .streams import StreamError

LIVE_BLOCK = 512   # a live session's block unless the host (JACK) or the user says otherwise


@dataclass
class Report:
    """What happened in a session: counts of blocks, runs and how close to real time it ran."""

    sample_rate: float
    block: int
    blocks: int = 0
    samples: int = 0
    overruns: int = 0
    underruns: int = 0
    xruns: int = 0           # reported by the audio server itself (JACK)
    late: int = 0            # blocks whose processing took longer than their own duration
    peak_load: float = 0.0   # the slowest block's processing time / its duration
    dropouts: int = 0        # samples of silence put in for a plugin that held back too much
    prior_missed: int | None = None  # ML look-ahead: frames whose row came late (None: no ML)
    ended_by: str = ""
    scheduling: str = ""     # how the loop's thread ran (plugin/live/realtime.py), with realtime=True
    changes: tuple[str, ...] = ()  # what changed under the session (a new JACK period)

    def summary(self) -> str:
        return (f"{self.samples / self.sample_rate:.1f} s ({self.blocks} blocks of {self.block} at "
                f"{self.sample_rate:g} Hz), stopped by {self.ended_by}: {self.overruns} overruns, "
                f"{self.underruns} under-runs, {self.xruns} server xruns, {self.late} late blocks "
                f"(peak load {100 * self.peak_load:.0f}% of real time)"
                + (f"; plugins dropped out for {self.dropouts} samples" if self.dropouts else "")
                + ("" if self.prior_missed is None else
                   f"; ML prior: {self.prior_missed} frames without their row (plain slice there)")
                + "".join(f"; {c}" for c in self.changes)
                + (f"; audio thread: {self.scheduling}" if self.scheduling else ""))


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals(threading.Event):
    """A stop flag that every stop signal sets, in the main thread, while entered: Ctrl-C's
    SIGINT, a service manager's SIGTERM, a closed terminal's SIGHUP all mean "finish and keep".

    Before ``running`` is set (setting up: compiling, opening; nothing heard yet) a signal
    interrupts at once. Then the first sets the flag (the loop stops at the end of its block,
    files are completed) and its name is ``said``; a second is ignored (a double Ctrl-C,
    ``timeout -s INT``: the session is finishing already); a third raises KeyboardInterrupt,
    for a loop stuck in a read, until ``finishing`` is set (the loop is over: now only the
    files are closing, and they are kept). Entering again (a session around the loop, the
    loop inside) nests.
    """

    def __init__(self):
        super().__init__()
        self.said = ""
        self.running = False
        self.finishing = False
        self._count = 0
        self._depth = 0
        self._old: dict = {}

    def __enter__(self) -> "StopSignals":
        self._depth += 1
        if self._depth == 1 and threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handler) for s in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0:
            for s, old in self._old.items():
                signal.signal(s, old)
            self._old = {}

    def _handler(self, signum, frame) -> None:
        if not self.running and not self.finishing:
            raise KeyboardInterrupt
        self._count += 1
        if self._count == 1:
            self.said = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            self.set()
        elif self._count >= 3 and not self.finishing:
            raise KeyboardInterrupt


def run(chain, stream, block: int, *, controls=None, stop: threading.Event | None = None,
        flush_tail: bool = True, realtime: bool = False) -> Report:
    """Run ``chain`` on ``stream`` block by block until the input ends, ``stop`` is set or
    Ctrl-C. When the input ends, ``flush_tail`` plays the chain's latency worth of silence
    through it, so the last of the input is heard too. Returns the session's :class:`Report`.
    ``realtime`` runs the loop's thread at SCHED_FIFO with memory locked where permitted, as
    audio hosts do (what was granted goes into the report); only for a stream that paces the
    loop (a device, JACK, a file at real-time pace): a loop that never waits would hog a core.
    """
    sr = stream.sample_rate
    if chain.sample_rate != sr or chain.max_block < block:
        chain.prepare(sr, block)
    if hasattr(stream, "publish_latency"):  # JACK: the ports say the chain's latency too
        stream.publish_latency(chain.latency_samples)
    stop = stop if stop is not None else StopSignals()
    rep = Report(sr, block)
    out = np.zeros((2, block), np.float32)
    silence = np.zeros((2, block), np.float32)
    signals = stop if isinstance(stop, StopSignals) else nullcontext()
    try:
        with signals, (rt.audio_thread() if realtime else nullcontext("")) as granted:
            rep.scheduling = granted
            if isinstance(stop, StopSignals):
                stop.running = True
            try:
                pos = _play_input(chain, stream, out, controls, stop, rep)
                if rep.ended_by == "end of input" and flush_tail:
                    pos = _play_tail(chain, stream, silence, out, controls, stop, pos)
            finally:
                if hasattr(stream, "finish"):  # JACK: what its cycles find now is no under-run
                    stream.finish()
    finally:
        if isinstance(stop, StopSignals):
            stop.finishing = True
    rep.ended_by = rep.ended_by or getattr(stop, "said", "") or "stop"
    rep.samples = pos
    rep.overruns = stream.overruns
    rep.underruns = stream.underruns
    rep.xruns = getattr(stream, "xruns", 0)
    rep.changes = tuple(getattr(stream, "changes", ()))
    rep.dropouts = chain.dropouts
    missed = [st.missed for st in chain.stages if st.missed is not None]
    rep.prior_missed = sum(missed) if missed else None
    return rep


def _play_input(chain, stream, out: np.ndarray, controls, stop: threading.Event, rep: Report) -> int:
    """The loop proper: blocks of the input through the chain until it ends or ``stop``;
    counts blocks and load into ``rep``. Returns the input samples played."""
    block = out.shape[1]
    sr = stream.sample_rate
    clock = time.perf_counter
    pos = 0
    while not stop.is_set():
        x = stream.read(block)
        n = x.shape[1]
        if n == 0:
            rep.ended_by = rep.ended_by or "end of input"
            break
        t = clock()
        if controls is not None:
            controls.on_block(pos)
        o = out[:, :n]
        chain.process_block(x, o)
        load = (clock() - t) * sr / n
        stream.write(o)
        rep.late += load > 1.0
        rep.peak_load = max(rep.peak_load, load)
        rep.blocks += 1
        pos += n
        if n < block:
            rep.ended_by = rep.ended_by or "end of input"
            break
    return pos


def _play_tail(chain, stream, silence: np.ndarray, out: np.ndarray, controls,
               stop: threading.Event, pos: int) -> int:
    """After the input: the chain's latency worth of silence, so the last of the input is heard.
    The tail plays at real-time pace, as the input did: a stage computing ahead in another
    thread (the ML look-ahead) gets the same time for its last patches. Returns the position."""
    block = out.shape[1]
    sr = stream.sample_rate
    clock = time.perf_counter
    tail, t_tail, played = chain.latency_samples, clock(), 0
    while tail > 0 and not stop.is_set():
        k = min(tail, block)
        if controls is not None:
            controls.on_block(pos)
        chain.process_block(silence[:, :k], out[:, :k])
        stream.write(out[:, :k])
        pos += k
        tail -= k
        played += k
        time.sleep(max(0.0, t_tail + played / sr - clock()))
    return pos


def open_stream(block: int | None, *, input_file: str | None = None, loop: bool = False,
                channels: Sequence[int] | None = None, input_device: str | None = None,
                output_device: str | None = None, output_file: str | None = None,
                bit_depth: int = 16, overwrite: bool = False, rate: float | None = None,
                jack: bool = False, jack_name: str = "panslice", jack_server: str | None = None,
                jack_in: Sequence[str] = (), jack_out: Sequence[str] = (),
                jack_transport: bool = False) -> tuple[streams.Duplex, int, str]:
    """Open the session's source and sinks as one stream; returns it, the block size and a line
    saying what it is. ``block`` None means the JACK period with ``jack``, else LIVE_BLOCK.

    Input: JACK ports, ``input_file`` (paced by its own clock) or a device (the default one
    unless named). Output: JACK ports, or a device (the default one unless named; ``"none"``
    for no device), plus ``output_file`` (what was heard) when given: refused if it exists,
    unless ``overwrite``. ``jack_transport``: the JACK source tells the transport's frame of its
    input (``transport_frame``).
    """
    if loop and not input_file:
        raise StreamError("--loop loops an --input-file: give one")
    if jack and (input_file or input_device or output_device):
        raise StreamError("--jack takes its audio from JACK ports: drop --input, --output and --input-file")
    opened: list = []
    try:
        if jack:
            src = streams.JackStream(block, name=jack_name, server=jack_server,
                                     connect_in=jack_in, connect_out=jack_out, transport=jack_transport)
            opened.append(src)
            block = src.block
            sinks = [src]
            text = (f"JACK client '{src.client.name}' (ports in_1, in_2, out_1, out_2; period "
                    f"{src.period}, +{src.latency_samples} samples of buffering)")
        else:
            block = block or LIVE_BLOCK
            src, sinks, text = _open_devices(block, opened, input_file, loop, channels,
                                             input_device, output_device, output_file, rate)
        if output_file:
            sink = streams.FileSink(output_file, src.sample_rate, bit_depth,
                                    inputs=[input_file] if input_file else [], overwrite=overwrite,
                                    mono=getattr(src, "mono", False))
            opened.append(sink)
            sinks.append(sink)
            text += f" + file {Path(output_file)}"
    except BaseException:
        for s in reversed(opened):
            s.close(commit=False)
        raise
    return streams.Duplex(src, sinks), block, text


def _open_devices(block: int, opened: list, input_file: str | None, loop: bool,
                  channels: Sequence[int] | None, input_device: str | None,
                  output_device: str | None, output_file: str | None,
                  rate: float | None) -> tuple[object, list, str]:
    """``open_stream`` without JACK: the source (a file or a device) and the device sink, if
    any (``output_file`` only says whether there will be a file sink besides); returns them
    and the line saying what they are. Each one opened goes into ``opened``
    (the caller closes them if a later one fails)."""
    ins, outs, def_in, def_out = streams.device_names()
    if output_device == "none":
        if not output_file:
            raise StreamError("--output none plays to no device, and without --output-file "
                              "nothing would be kept: give --output-file OUT or a device (see "
                              "'panslice devices'); 'panslice serve' runs a file with neither")
        output_device = None
    elif output_device is None:
        output_device = def_out if outs else None
        if output_device is None and not output_file:
            raise StreamError("no output device found (see 'panslice devices'): give "
                              "--output-file OUT, or use --jack")
    if input_file:
        src = streams.FileSource(input_file, block, loop=loop, channels=channels)
        opened.append(src)
        sinks = []
        if output_device:
            dev = streams.DeviceStream(None, output_device, sample_rate=src.sample_rate,
                                       buffer=block)
            opened.append(dev)
            sinks.append(dev)
        text = f"file {input_file}{' (looping)' if loop else ''} at real-time pace"
    else:
        if input_device is None:
            if not ins:
                raise StreamError("no input device found (see 'panslice devices'): use "
                                  "--input-file SONG or --jack")
            input_device = def_in or ins[0]
        src = streams.DeviceStream(input_device, output_device, sample_rate=rate, buffer=block)
        opened.append(src)
        sinks = [src] if output_device else []
        text = f"device {input_device!r}"
    text += f" -> {('device ' + repr(output_device)) if output_device else 'no device'}"
    return src, sinks, text
