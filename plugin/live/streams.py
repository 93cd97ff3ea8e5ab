"""Streams for the live loop: every audio source and sink behind one small seam.

A stream has ``sample_rate``, ``read(n)`` -> float32 [shape=(2, m)] (m == n while audio
flows, m < n at the end of a file, a view that stays valid until the next read), ``write(block)``,
``close(commit)`` and two counters: ``overruns`` (input lost, or read so late that a device
would have lost it) and ``underruns`` (output that ran dry). Sources and sinks:

- :class:`FileSource`: a file played as live input at real-time pace by its own clock (looping
  if asked); :class:`FileSink`: what was heard, written to a file through the atomic writer;
- :class:`DeviceStream`: a sound card through ``pedalboard.io.AudioStream``;
- :class:`JackStream`: stereo JACK ports (JACK-Client), so a DAW can route a bus through panslice;
- :class:`Duplex`: one source and any number of sinks seen as one stream.
"""

from __future__ import annotations

import math
import os
import select
import threading
import time
from collections import deque
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ...dsp.errors import PansliceError
from ..formats import audiofile
from ..graph.ring import Ring, ShortSwitchInterval




class StreamError(PansliceError):
    """An audio device, JACK server or file that cannot be opened or stops working."""


class FileSource:
    """A file as live input: block k is handed out when the clock says it has "arrived".

    A read that comes more than one block later than its time counts as an overrun (a sound
    card with double buffering would have dropped input there); the clock then restarts from
    now, as a device's would. Nothing is dropped: the file still plays in full.
    """

    def __init__(self, path: str | os.PathLike, block: int, *, loop: bool = False,
                 channels: Sequence[int] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.path = Path(path)
        self.audio, self.sample_rate, self.mono = audiofile.read_input(path, channels)
        self.loop = loop
        self._buf = np.zeros((2, block), np.float32)
        self._silence = np.zeros((2, block), np.float32)
        self._clock, self._sleep = clock, sleep
        self._t0: float | None = None
        self._pos = 0          # next sample of the file
        self._delivered = 0    # samples handed out so far (across loops)
        self.overruns = 0
        self.underruns = 0

    def read(self, n: int) -> np.ndarray:
        total = self.audio.shape[1]
        out = self._buf[:, :n]
        got = 0
        while got < n and (self.loop or self._pos < total):
            k = min(n - got, total - self._pos)
            out[:, got:got + k] = self.audio[:, self._pos:self._pos + k]
            got += k
            self._pos += k
            if self.loop and self._pos == total:
                self._pos = 0
        self._pace(got)
        return out[:, :got]

    @property
    def length(self) -> int:
        """The file's length in samples."""
        return self.audio.shape[1]

    @property
    def position(self) -> int:
        """The file sample the next read starts at."""
        return self._pos

    def seek(self, sample: int) -> None:
        """Let the next read start at file sample ``sample`` (clamped into the file). The
        clock is untouched: the stream goes on at the file's pace, from elsewhere in it."""
        self._pos = min(max(int(sample), 0), max(self.length - 1, 0))

    def idle(self, n: int) -> np.ndarray:
        """``n`` samples of silence at the file's pace, without moving in the file: a paused
        player keeps its output fed and its clock running."""
        self._pace(n)
        return self._silence[:, :n]

    def _pace(self, n: int) -> None:
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        self._delivered += n
        due = self._t0 + self._delivered / self.sample_rate
        if now < due:
            self._sleep(due - now)
        elif now - due > n / self.sample_rate:
            self.overruns += 1
            self._t0 += now - due

    def write(self, block: np.ndarray) -> None:
        raise StreamError(f"{self.path}: a file source cannot play audio")

    def close(self, commit: bool = True) -> None:
        pass


class FileSink:
    """Writes every block it is given (what was heard) to ``path``; the file appears when it is
    closed (a session that heard nothing leaves nothing). Its header is brought up to date about
    once a second, so a killed session leaves a take that plays (in the hidden temporary file).
    ``mono``: a mono file, the mean of the two channels (a mono input's: they agree)."""

    def __init__(self, path: str | os.PathLike, sample_rate: float, bit_depth: int = 16,
                 inputs: Sequence[str | os.PathLike] = (), overwrite: bool = False,
                 mono: bool = False):
        self.path = audiofile.check_output(path, inputs, overwrite, bit_depth)
        self.sample_rate, self.mono = sample_rate, mono
        self._stack = ExitStack()
        self._file = self._stack.enter_context(audiofile.atomic_writer(
            self.path, sample_rate, bit_depth, sweep=False, channels=1 if mono else 2))
        self.overruns = 0
        self.underruns = 0
        self.samples = 0
        self._flushed = 0

    def write(self, block: np.ndarray) -> None:
        if self.mono:
            block = (block[:1] + block[1:]) * np.float32(0.5)
        audiofile.write_block(self._file, block)
        self.samples += block.shape[1]
        if self.samples >= self._flushed + self.sample_rate:
            self._flush()

    def _flush(self) -> None:
        """About once a second, bring the file's header up to date (wav, aiff), so that even a
        SIGKILL or a power cut leaves a take that plays up to then."""
        self._flushed = self.samples
        try:
            self._file.flush()
        except RuntimeError:     # a format that cannot (mp3, ogg, flac): then at the end only
            self._flushed = float("inf")

    def close(self, commit: bool = True) -> None:
        """Publish the file; a recorder keeps the take, so anything heard is kept even when the
        session failed (``commit`` False); a session that heard nothing leaves nothing."""
        if commit or self.samples:
            self._stack.close()
        else:
            self._stack.__exit__(StreamError, StreamError("session failed"), None)


class DeviceStream:
    """A sound card through ``pedalboard.io.AudioStream`` (input, output or both).

    ``read`` blocks until the device has captured n samples; dropped input is counted as an
    overrun (one per read that found some). pedalboard does not report output under-runs;
    the live loop's own count of late blocks stands in for them.
    """

    def __init__(self, input_name: str | None, output_name: str | None, *,
                 sample_rate: float | None, buffer: int):
        from pedalboard.io import AudioStream

        for name, known, kind in ((input_name, AudioStream.input_device_names, "input"),
                                  (output_name, AudioStream.output_device_names, "output")):
            if name is not None and name not in known:
                listed = ", ".join(repr(k) for k in known) or "none found"
                raise StreamError(f"no {kind} device {name!r} (devices: {listed}; see 'panslice devices')")
        try:
            self._s = AudioStream(input_device_name=input_name, output_device_name=output_name,
                                  sample_rate=sample_rate, buffer_size=buffer,
                                  num_input_channels=2 if input_name else 1, num_output_channels=2)
            self._s.ignore_dropped_input = True
            self._s.__enter__()
        except Exception as e:
            raise StreamError(f"cannot open audio device {input_name or output_name!r} ({e})") from None
        self.sample_rate = float(self._s.sample_rate)
        self.overruns = 0
        self.underruns = 0

    def read(self, n: int) -> np.ndarray:
        x = self._s.read(n)
        if self._s.dropped_input_frame_count:
            self.overruns += 1
        return x

    def write(self, block: np.ndarray) -> None:
        self._s.write(block, self.sample_rate)

    def close(self, commit: bool = True) -> None:
        self._s.__exit__(None, None, None)


def device_names() -> tuple[list[str], list[str], str | None, str | None]:
    """(inputs, outputs, default input, default output) as pedalboard's AudioStream sees them."""
    from pedalboard.io import AudioStream

    return (list(AudioStream.input_device_names), list(AudioStream.output_device_names),
            AudioStream.default_input_device_name, AudioStream.default_output_device_name)


def _import_jack():
    try:
        import jack
    except (ImportError, OSError) as e:
        raise StreamError(f"JACK support needs the JACK-Client package and libjack ({e})") from None
    return jack


def jack_client(name: str, server: str | None = None):
    """A JACK client on a running server (never starts one); libjack's own complaints are
    replaced by one line."""
    jack = _import_jack()
    jack.set_error_function(lambda msg: None)
    try:
        return jack.Client(name, no_start_server=True, servername=server)
    except jack.JackError:
        where = f"JACK server {server!r}" if server else "a JACK server"
        raise StreamError(f"cannot connect to {where}: is one running? (for example "
                          "'jackd -d alsa', or qjackctl)") from None
    finally:
        jack.set_error_function(None)


MAX_PERIOD = 8192   # the largest JACK period a session can change to (jack_bufsize's own limit)
FREEWHEEL_WAIT_S = 10.0  # how long a freewheeling cycle waits for the loop before playing silence


def ring_latency(block: int, period: int) -> int:
    """JackStream's buffering: two loop blocks rounded up to whole JACK periods, which gives
    the loop one block plus one period to process each block."""
    return 2 * math.ceil(block / period) * period


class TransportLog:
    """Where the JACK transport was in each cycle, so the live loop can tell the transport frame
    of any input sample it reads (a block reaches the loop a cycle or more after it came in).

    JACK's thread calls :meth:`cycle` before it writes a cycle's input and adds what it wrote to
    :attr:`written`; the loop's thread calls :meth:`frame`, which drops the cycles it is past.
    The hand-over is a deque (atomic appends and pops), so neither side waits.
    """

    def __init__(self, client, rolling_state: int, keep: int = 4096):
        self._client = client
        self._rolling = rolling_state
        self.written = 0   # input samples written to the ring so far
        self._cycles: deque[tuple[int, int, bool]] = deque(maxlen=keep)
        self._now = (0, 0, False)

    def cycle(self) -> None:
        """JACK's thread, before a cycle's input goes in: (first sample, frame, rolling)."""
        state, pos = self._client.transport_query_struct()
        self._cycles.append((self.written, int(pos.frame), state == self._rolling))

    def frame(self, sample_pos: int) -> int:
        """The transport's frame at input sample ``sample_pos`` (positions only move on):
        the frame of the cycle it came in, plus its place in the cycle while rolling."""
        cycles = self._cycles
        while cycles and cycles[0][0] <= sample_pos:
            self._now = cycles.popleft()
        first, frame, rolling = self._now
        return frame + (sample_pos - first if rolling else 0)


class JackStream:
    """Stereo JACK ports: ``<name>:in_1``/``in_2`` in, ``<name>:out_1``/``out_2`` out.

    JACK's process callback only copies: input ports into one ring, the other ring into the
    output ports. The live loop reads and writes those rings like any stream. The output ring
    starts with ``latency_samples`` of silence (:func:`ring_latency`). A callback that finds it
    empty plays silence, counts an under-run and skips as many samples when they come late, so
    the latency a DAW compensates never changes. The client starts on the first ``read``; until
    it is active with its ports connected, and again once the loop has ended (:meth:`finish`),
    its cycles play silence and touch neither ring: the cycles JACK runs while ``activate``
    returns are not the loop's to meet, so a clean start and stop report no under-run, and the
    two rings stay ``latency_samples`` apart.

    The ports publish the whole latency (the ring's plus the chain's, see
    :meth:`publish_latency`) through JACK's latency API. A new JACK period keeps the loop's
    block and changes the ring's latency to :func:`ring_latency` of the new period: the output
    gets that many samples of silence more, or skips that many, and the latency is published
    again (:attr:`changes` says what happened). While the server freewheels (a DAW's export),
    each cycle waits for the loop's output instead of playing silence: every cycle is processed.
    A server that stops, or a new sample rate, ends the session with a message. With
    ``transport``, :meth:`transport_frame` tells the JACK transport's frame of any input sample.
    """

    def __init__(self, block: int | None, *, name: str = "panslice", server: str | None = None,
                 connect_in: Sequence[str] = (), connect_out: Sequence[str] = (),
                 transport: bool = False):
        from . import jacklatency

        jack = _import_jack()
        self._jack = jack
        self.client = jack_client(name, server)
        self.sample_rate = float(self.client.samplerate)
        self.period = int(self.client.blocksize)
        self.block = block = block or self.period
        self.latency_samples = ring_latency(block, self.period)
        self.chain_latency = 0
        self.changes: list[str] = []
        cap = 3 * ring_latency(block, max(self.period, MAX_PERIOD))
        self._in = Ring(cap)
        self._out = Ring(cap, prefill=self.latency_samples)
        self._stages(self.period)
        self._read_buf = np.zeros((2, block), np.float32)
        self._ins = [self.client.inports.register(f"in_{i}") for i in (1, 2)]
        self._outs = [self.client.outports.register(f"out_{i}") for i in (1, 2)]
        self._connect_in, self._connect_out = list(connect_in), list(connect_out)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self.overruns = self.underruns = self.xruns = 0
        self._owed = 0          # output samples to skip (came too late, or a shorter latency)
        self._pad = 0           # output samples of silence to insert (a longer latency)
        self._gone: str | None = None
        self._started = False
        self._live = False      # the loop reads and writes the rings (see start and finish)
        self._freewheel = False
        self._wrote = threading.Event()
        self._publish_due = False
        self._transport = TransportLog(self.client, jack.ROLLING) if transport else None
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.set_shutdown_callback(self._shutdown)
        self.client.set_blocksize_callback(self._blocksize)
        self.client.set_samplerate_callback(self._samplerate)
        self.client.set_freewheel_callback(self._freewheeling)
        self._latency = jacklatency.Publisher(self.client, self._ins, self._outs, self.latency_samples)
        # JACK's callback needs the GIL within a period (5.8 ms at 256/44.1k); Python's default
        # 5 ms switch interval could spend most of that waiting for the live loop's thread.
        # close() gives the interpreter its own interval back.
        self._switch = ShortSwitchInterval()

    def _stages(self, period: int) -> None:
        """The process callback's copies of one period (allocated while it is not running)."""
        self._in_stage = np.zeros((2, period), np.float32)
        self._out_stage = np.zeros((2, period), np.float32)

    # -- JACK's thread: copy, count, wake the loop; nothing that waits (but when freewheeling) --
    def _process(self, frames: int) -> None:
        if not self._live:
            self._outs[0].get_array().fill(0.0)
            self._outs[1].get_array().fill(0.0)
            return
        stage = self._in_stage[:, :frames]
        stage[0] = self._ins[0].get_array()
        stage[1] = self._ins[1].get_array()
        if self._transport is not None:
            self._transport.cycle()
        if not self._in.write(stage):
            self.overruns += 1
        elif self._transport is not None:
            self._transport.written += frames
        self._wake()
        out = self._out_stage[:, :frames]
        pad = min(self._pad, frames)
        out[:, :pad] = 0.0
        self._pad -= pad
        if self._freewheel:
            self._wait_for_output(frames - pad + self._owed)
        self._fill(out[:, pad:])
        self._outs[0].get_array()[:] = out[0]
        self._outs[1].get_array()[:] = out[1]

    def _fill(self, out: np.ndarray) -> None:
        """``out`` from the output ring, after skipping what is owed (never what this cycle
        needs: a skip then waits for the ring to hold more); silence if it ran dry."""
        if self._owed:
            skip = min(self._owed, max(0, self._out.available - out.shape[1]))
            self._out.skip(skip)
            self._owed -= skip
        if out.shape[1] and not self._out.read(out):
            out[:] = 0.0
            self.underruns += 1
            self._owed += out.shape[1]

    def _wait_for_output(self, need: int) -> None:
        """Freewheeling: the server waits for its clients, so this cycle waits for the loop."""
        end = time.monotonic() + FREEWHEEL_WAIT_S
        while self._out.available < need and not self._gone and time.monotonic() < end:
            self._wrote.clear()
            if self._out.available < need:
                self._wrote.wait(0.1)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass

    def _xrun(self, delay_usecs: float) -> None:
        self.xruns += 1

    def _shutdown(self, status, reason: str) -> None:
        self._gone = f"the server shut down ({reason or 'no reason given'})"
        self._wrote.set()
        self._wake()

    def _freewheeling(self, starting: bool) -> None:
        self._freewheel = starting
        self._wrote.set()

    def _samplerate(self, rate: int) -> None:
        if rate != self.sample_rate:
            self._gone = (f"the sample rate changed from {self.sample_rate:g} to {rate} Hz; "
                          "panslice was prepared for the old one: start it again")
            self._wake()

    def _blocksize(self, frames: int) -> None:
        """A new period (JACK calls this while no cycle runs): the ring's latency follows it."""
        if frames == self.period:
            return
        old, new = self.latency_samples, ring_latency(self.block, frames)
        if frames > MAX_PERIOD:
            self._gone = f"the JACK period changed to {frames}, more than {MAX_PERIOD}"
            self._wake()
            return
        if frames > self._in_stage.shape[1]:
            self._stages(frames)
        if new > old:
            self._pad += new - old
        else:
            self._owed += old - new
        self.changes.append(f"JACK period {self.period} -> {frames}: latency "
                            f"{old + self.chain_latency} -> {new + self.chain_latency} samples")
        self.period, self.latency_samples = frames, new
        self._publish_due = True

    # -- the live loop's side -------------------------------------------------------------------
    def publish_latency(self, chain_latency: int) -> None:
        """Publish the ring's latency plus ``chain_latency`` on the ports (the loop calls this
        when the chain is prepared and whenever its latency changes)."""
        self.chain_latency = int(chain_latency)
        self._publish()

    def _publish(self) -> None:
        self._publish_due = False
        total = self.latency_samples + self.chain_latency
        if self._started:       # the loop's thread: it must not wait for the server
            self._latency.update_soon(total)
        else:
            self._latency.latency = total

    def transport_frame(self, sample_pos: int) -> int:
        """The JACK transport's frame when input sample ``sample_pos`` came in (with
        ``transport=True``; the loop calls this between blocks, for the block it has read)."""
        return self._transport.frame(sample_pos)

    def start(self) -> None:
        self.client.activate()
        self._started = True
        # jackd asks for the latency when a client activates; PipeWire's JACK (0.3.65) does only
        # if other clients come and go meanwhile: alone, its ports showed 0 without this
        self._latency.update(self.latency_samples + self.chain_latency)
        jack = self._jack
        pairs = [(src, dst.name) for src, dst in zip(self._connect_in, self._ins)]
        pairs += [(src.name, dst) for src, dst in zip(self._outs, self._connect_out)]
        for src, dst in pairs:
            try:
                self.client.connect(src, dst)
            except jack.JackError as e:
                raise StreamError(f"JACK: cannot connect {src} -> {dst} ({e})") from None
        self._live = True

    def finish(self) -> None:
        """The loop has ended: from now on the cycles play silence and count nothing."""
        self._live = False

    def read(self, n: int) -> np.ndarray:
        if not self._started:
            self.start()
        if self._publish_due:
            self._publish()
        if self._gone:
            raise StreamError(f"JACK: {self._gone}")
        out = self._read_buf[:, :n]
        waited = 0.0
        while not self._in.read(out):
            if self._gone:
                raise StreamError(f"JACK: {self._gone}")
            ready, _, _ = select.select([self._wake_r], [], [], 0.25)
            if ready:
                os.read(self._wake_r, 4096)
                waited = 0.0
            else:
                waited += 0.25
                if waited >= 2.0:
                    self._gone = "no audio for 2 s (is the server still running?)"
                    raise StreamError(f"JACK: {self._gone}")
        return out

    def write(self, block: np.ndarray) -> None:
        if not self._out.write(block):  # reads pace the loop, so only a stalled server gets here
            raise StreamError("JACK: the output buffer is full (the server stopped taking audio)")
        if self._freewheel:
            self._wrote.set()

    def close(self, commit: bool = True) -> None:
        self._live = False
        self._switch.restore()
        if not self._gone:  # a client of a server that is gone can hang in libjack: leave it
            self._latency.close()
            if self._started:
                self.client.deactivate()
            self.client.close()
        os.close(self._wake_r)
        os.close(self._wake_w)


class Duplex:
    """One source and several sinks (an output device, a file of what was heard) as one stream."""

    def __init__(self, source, sinks: Sequence[object]):
        self.source = source
        self.sinks = list(sinks)
        self.sample_rate = source.sample_rate

    @property
    def overruns(self) -> int:
        return sum(s.overruns for s in self._all())

    @property
    def underruns(self) -> int:
        return sum(s.underruns for s in self._all())

    @property
    def xruns(self) -> int:
        """xruns the audio server itself reported (JACK only)."""
        return sum(getattr(s, "xruns", 0) for s in self._all())

    @property
    def changes(self) -> list[str]:
        """What changed under the session (a new JACK period and its latency)."""
        return list(getattr(self.source, "changes", []))

    def publish_latency(self, chain_latency: int) -> None:
        """Tell a source that publishes its latency (JACK) the chain's part of it."""
        if hasattr(self.source, "publish_latency"):
            self.source.publish_latency(chain_latency)

    def finish(self) -> None:
        """The loop has ended: tell a source that counts under-runs by itself (JACK)."""
        if hasattr(self.source, "finish"):
            self.source.finish()

    def _all(self):
        return [self.source] + [s for s in self.sinks if s is not self.source]

    def read(self, n: int) -> np.ndarray:
        return self.source.read(n)

    def write(self, block: np.ndarray) -> None:
        for s in self.sinks:
            s.write(block)

    def close(self, commit: bool = True) -> None:
        errors = []
        for s in self._all():
            try:
                s.close(commit)
            except Exception as e:  # close every stream even if one fails
                errors.append(e)
        if errors:
            raise errors[0]
