"""OSC control: one UDP server thread; its address space is generated from the registry.

Every live parameter ``name`` answers at ``/panslice/<name>`` with dots as slashes (so
``band.2.gain_db`` is ``/panslice/band/2/gain_db``), plus the commands in :data:`COMMANDS`. The
thread validates each message against the registry, hands accepted changes to a
:class:`~panslice.plugin.control.bridge.Controls` (the audio loop applies them between blocks), echoes
them to subscribers and sends subscribers level meters. A bad message is answered with
``/panslice/error`` and a log line; nothing a sender does can raise out of the thread or reach
the audio thread unvalidated.

A bundle's timetag is honoured: a change in a bundle timed in the future waits in the bridge
for the block at the sample position that time corresponds to (it is validated, echoed and
reported by ``get`` when it arrives); an immediate or past timetag applies at once, as a plain
message does. Commands apply at once whatever their timetag.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import select
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from ...dsp import params as P
from ...dsp.errors import PansliceError
from .bridge import Controls
from .hub import MAX_HELD, ControlHub, Rejected, kind_of
from .solo import solo

PREFIX = "/panslice"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
METER_HZ = 30.0
MAX_SUBSCRIBERS = 16
BURST = 256  # packets read before the meters get a look-in, so a flood cannot silence them
# Rejections logged and answered per second; beyond that a flood of bad messages is counted and
# summed up in one line, so it costs the audio thread as little CPU as it can.
REJECTS_TOLD_PER_S = 50
RECV_BUFFER = 4 << 20  # room for bursts while the thread waits for the GIL (capped by rmem_max)

log = logging.getLogger("panslice.osc")


def address(name: str) -> str:
    """OSC address of registry parameter ``name``."""
    return f"{PREFIX}/{name.replace('.', '/')}"


PARAM_AT: dict[str, P.Param] = {address(p.name): p for p in P.REGISTRY}
PATTERN_CHARS = frozenset("*?[]{}")


def _live_matcher() -> Dispatcher:
    """python-osc's dispatcher as a matcher of OSC address patterns against the live knobs."""
    d = Dispatcher()
    for addr, p in PARAM_AT.items():
        if p.live:
            d.map(addr, None, p)
    return d


LIVE_MATCHER = _live_matcher()

# (address, arguments, what it does): requests a controller sends
COMMANDS = (
    (f"{PREFIX}/get", "[i port]", "reply with every parameter (to the sender, or to its host at port)"),
    (f"{PREFIX}/subscribe", "[i port]", "send echoes of every accepted change and the meters to the "
                                        "sender (or its host at port); replies with every parameter"),
    (f"{PREFIX}/unsubscribe", "[i port]", "stop sending to that address"),
    (f"{PREFIX}/preset/load", "s name", "apply a preset's live values (shipped or user preset)"),
    (f"{PREFIX}/preset/save", "s name", "save the current values as a user preset"),
    (f"{PREFIX}/source/<n>/solo", "[f on]", "hear only source n of those given with --sources "
                                            "(the slice on it, the rest silent); on 0: hear all"),
    (f"{PREFIX}/source/<n>/mute", "[f on]", "hear all but source n (the slice on it, silent); "
                                            "on 0: hear all"),
)
SOURCE_AT = re.compile(re.escape(PREFIX) + r"/source/([0-9]{1,3})/(solo|mute)")
# (address, arguments, what it says): messages panslice sends
REPLIES = (
    (f"{PREFIX}/<param>", "f value", "a parameter's value: answers to get/subscribe, echoes of changes"),
    (f"{PREFIX}/latency", "i samples", "the chain's whole latency (what a host compensates), after "
                                       "the parameters in answer to get/subscribe"),
    (f"{PREFIX}/meter/target", "f rms", f"RMS level (linear, 1.0 = full scale) of the slice output, "
                                        f"up to {METER_HZ:g} times a second, to subscribers"),
    (f"{PREFIX}/meter/rest", "f rms", "RMS level of the rest output, with the one above"),
    (f"{PREFIX}/preset/saved", "s name", "a preset/save succeeded"),
    (f"{PREFIX}/error", "s text", "why a message was rejected (sent to its sender)"),
)


class OscError(PansliceError):
    """An OSC server that cannot start (address in use, bad host)."""


def table_markdown() -> str:
    """The README's address table, generated from the registry and the command list."""
    rows = ["| address | arguments | range | default | what it does |", "|---|---|---|---|---|"]
    for key, p in P.knobs():
        what = p.doc if p.live else f"read-only while running (reported by get). {p.doc}"
        group, i = p.name.split(".")[:2] if key != p.name else ("", "")
        what = what.replace(f"{group} {i}", f"{group} i") if key != p.name else what
        rows.append(f"| `{address(key)}` | `f` | {p.range_text} | {P.fmt(p.default)} | {what} |")
    for addr, args, what in COMMANDS:
        rows.append(f"| `{addr}` | `{args}` | | | {what} |")
    rows += ["", "panslice sends:", "", "| address | arguments | what it says |", "|---|---|---|"]
    for addr, args, what in REPLIES:
        rows.append(f"| `{addr}` | `{args}` | {what} |")
    rows.append("")
    rows.append(f"Bands: `<i>` is 1 to {P.MAX_BANDS}; `band_count` sets how many are active. Rivals: "
                f"`<i>` is 1 to {P.MAX_RIVALS}; `rivals` sets how many the slice competes with. Values "
                "may be sent as OSC int, float or double; `-inf` is a float. Address patterns set "
                "every live parameter they match, or none if the value suits not all of them: "
                "`/panslice/band/*/gain_db f -6`, `/panslice/{target,rest}_gain_db f 0`. In a "
                "bundle timed in the future, changes apply at the sample position of that time "
                f"(between blocks; at most {MAX_HELD} waiting); an immediate timetag applies at once.")
    return "\n".join(rows) + "\n"


README_MARKERS = ("<!-- osc-table:begin -->\n", "<!-- osc-table:end -->")


def update_readme(path: str) -> bool:
    """Rewrite the table between ``path``'s osc-table markers; False if it was already current."""
    text = Path(path).read_text(encoding="utf-8")
    begin, end = README_MARKERS
    if begin not in text or end not in text:
        raise PansliceError(f"{path}: no '{begin.strip()}' ... '{end}' markers to put the table between")
    i, j = text.index(begin) + len(begin), text.index(end)
    new = text[:i] + table_markdown() + text[j:]
    if new != text:
        Path(path).write_text(new, encoding="utf-8")
    return new != text


_ONE_NUMBER = {b",f\0\0": (">f", 4), b",i\0\0": (">i", 4), b",d\0\0": (">d", 8),
               b",h\0\0": (">q", 8)}


def parse_allow(items: Sequence[str] | None) -> list:
    """``--osc-allow`` values (each ``ADDR`` or ``ADDR/BITS``, or several joined by commas) as
    networks; an address that is not one is refused naming it."""
    nets = []
    for item in (part.strip() for text in items or () for part in text.split(",")):
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise OscError(f"--osc-allow {item!r}: give an IP address or network, e.g. "
                           "192.168.1.20 or 192.168.1.0/24") from None
    return nets


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def exposure_warning(host: str, port: int, allow: list) -> str | None:
    """What to say when the server listens beyond this machine, or None."""
    if is_loopback(host):
        return None
    who = (f"only {', '.join(map(str, allow))} may steer it" if allow else
           "anyone who can reach it may steer it and save presets (--osc-allow ADDR[/BITS] "
           "accepts only those senders)")
    return f"OSC listens beyond this machine on {host}:{port}: {who}"


def _one_number(data: bytes) -> tuple[str, float | int] | None:
    """(address, value) of a well-formed message with one number, the shape of nearly every
    control change, read 5x faster than python-osc does; None for anything else, which
    python-osc then parses (and judges)."""
    end = data.find(b"\0")
    if end <= 0 or data[0] != 0x2F:  # '/'
        return None
    tag_at = (end + 4) & ~3  # the address and its NUL, padded to 4 bytes
    fmt = _ONE_NUMBER.get(data[tag_at:tag_at + 4])
    if fmt is None or len(data) != tag_at + 4 + fmt[1]:
        return None
    try:
        addr = data[:end].decode("ascii")
    except UnicodeDecodeError:
        return None
    return addr, struct.unpack_from(fmt[0], data, tag_at + 4)[0]


def _msg(addr: str, *args: object) -> bytes:
    b = OscMessageBuilder(addr)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


class OscServer:
    """The OSC control thread.

    Parameters
    ----------
    controls : where accepted changes go (drained by the audio loop).
    params : the values the session starts from; the server keeps them current as changes are
        accepted, for ``get`` and ``preset/save``.
    outputs : the names of the two outputs, stored with a saved preset.
    port : 0 picks a free port (see :attr:`port`).
    latency : gives the chain's latency in samples, for ``get`` (None: not reported).
    hub : the control path shared with other surfaces (the studio page); by default one of its
        own over ``controls``, ``params`` and ``outputs``. Changes it accepts from any surface
        are echoed to this server's subscribers.
    allow : networks (:func:`parse_allow`) whose senders are obeyed; packets from any other are
        dropped unanswered (an answer to a spoofed source is UDP reflection). Empty: anyone.
        Replies go to the sender's own address; ``get``/``subscribe`` with a port send elsewhere
        only for a sender on this machine or in ``allow``.
    """

    def __init__(self, controls: Controls, params: P.ParamSet, *, outputs: tuple[str, str] = ("target", "rest"),
                 host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, meter_hz: float = METER_HZ,
                 latency: Callable[[], int] | None = None, hub: ControlHub | None = None,
                 allow: list | None = None):
        self.hub = hub or ControlHub(controls, params, outputs=outputs)
        self.allow = list(allow or ())
        self.refused = 0
        self.hub.listeners.append(self._echo)
        self.controls = controls
        self.latency = latency
        self.state = self.hub.state
        self.host = host
        self.port = port
        self.meter_period = 1.0 / meter_hz
        self.subscribers: list[tuple[str, int]] = []
        self.messages = self.accepted = self.rejected = self.malformed = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._next_meter = 0.0
        self._meter_pos = -1
        self._log_window, self._logged, self._unlogged = 0.0, 0, 0
        self._commands = {
            f"{PREFIX}/get": self._get, f"{PREFIX}/subscribe": self._subscribe,
            f"{PREFIX}/unsubscribe": self._unsubscribe, f"{PREFIX}/preset/load": self._preset_load,
            f"{PREFIX}/preset/save": self._preset_save,
        }

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "OscServer":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
        except (OSError, OverflowError) as e:
            sock.close()
            reason = getattr(e, "strerror", None) or str(e)
            raise OscError(f"cannot listen for OSC on {self.host}:{self.port} ({reason})") from None
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="panslice-osc", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._thread is not None:
            self._thread.join()
        if self._sock is not None:
            self._sock.close()
        if self._unlogged:
            log.warning("panslice: osc: %d more rejected messages not logged or answered", self._unlogged)
            self._unlogged = 0

    def summary(self) -> str:
        return (f"osc: {self.messages} messages ({self.accepted} accepted, {self.rejected} rejected), "
                f"and {self.malformed} malformed packets"
                + (f"; {self.refused} packets from senders not allowed, dropped" if self.refused else ""))

    def _allowed(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self.allow)

    def _serve(self) -> None:
        sock = self._sock
        while not self._stopping:
            wait = 0.1
            if self.subscribers:
                wait = min(wait, max(0.0, self._next_meter - time.monotonic()))
            if select.select([sock], [], [], wait)[0]:
                for _ in range(BURST):
                    try:
                        data, sender = sock.recvfrom(65536)
                    except BlockingIOError:
                        break
                    except OSError:
                        continue  # e.g. an ICMP 'unreachable' for an earlier reply
                    self.handle_packet(data, sender)
            if self.subscribers:
                self._meters()

    # -- incoming -------------------------------------------------------------------------------
    def handle_packet(self, data: bytes, sender: tuple[str, int]) -> None:
        if self.allow and not self._allowed(sender[0]):
            self.refused += 1
            if self.refused == 1:
                log.warning("panslice: osc: dropped a packet from %s:%d, not in --osc-allow (more "
                            "are counted in the summary)", *sender)
            return
        one = _one_number(data)
        if one is not None:
            msgs = [(one[0], [one[1]], None)]
        else:
            try:
                if data[:1] == b"/":  # a plain message: skip the bundle machinery
                    m = OscMessage(data)
                    msgs = [(m.address, m.params, None)]
                elif data.startswith(b"#bundle\0"):
                    msgs = _timed(OscPacket(data))
                else:
                    raise ValueError("neither a message nor a bundle")
            except Exception:  # python-osc raises several types on garbage; all mean 'malformed'
                self.malformed += 1
                self._reject(sender, "(packet)", f"malformed OSC packet ({len(data)} bytes)")
                return
        for addr, args, at in msgs:
            self.messages += 1
            try:
                self._message(addr, args, sender, at)
                self.accepted += 1
            except PansliceError as e:
                self.rejected += 1
                self._reject(sender, addr, str(e))
            except Exception as e:  # a bug of ours must not end control of a running show
                self.rejected += 1
                log.exception("panslice: osc: internal error on %s", addr)
                self._reject(sender, addr, f"internal error ({type(e).__name__})")

    def _message(self, addr: str, args: list, sender: tuple[str, int], at: float | None = None) -> None:
        p = PARAM_AT.get(addr)
        if p is not None:
            targets = [p]
        elif PATTERN_CHARS.intersection(addr):  # e.g. /panslice/band/*/gain_db: every match
            targets = [h.args[0] for h in LIVE_MATCHER.handlers_for_address(addr)]
            if not targets:
                raise Rejected("the pattern matches no live parameter (see 'panslice osc-table')")
        elif SOURCE_AT.fullmatch(addr):
            self._source(addr, args)
            return
        else:
            handler = self._commands.get(addr)
            if handler is None:
                raise Rejected("unknown address (see 'panslice osc-table')")
            handler(args, sender)
            return
        if len(args) != 1:
            raise Rejected(f"expects one number, got {len(args)} arguments")
        self.hub.set(targets, args[0], at)  # all of them, or none

    def _source(self, addr: str, args: list) -> None:
        """/panslice/source/<n>/solo|mute [on]: through the hub, as the studio page does."""
        n, mode = SOURCE_AT.fullmatch(addr).groups()
        if len(args) > 1 or any(isinstance(a, bool) or not isinstance(a, (int, float))
                                for a in args):
            raise Rejected(f"expects nothing or one number (1 on, 0 off), got {_describe(args)}")
        solo(self.hub, int(n), mode, bool(args[0]) if args else True)

    def _echo(self, name: str, value: float) -> None:
        """Hub listener: every accepted change, from any surface, to the subscribers."""
        if self.subscribers:
            self._send_all(_msg(address(name), float(value)))

    def _reply_to(self, args: list, sender: tuple[str, int]) -> tuple[str, int]:
        if not args:
            return sender
        if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], int) \
                or not 1 <= args[0] <= 65535:
            raise Rejected(f"expects no argument or one int port 1..65535, got {_describe(args)}")
        to = (sender[0], args[0])
        if to != tuple(sender) and not (is_loopback(sender[0]) or self._allowed(sender[0])):
            raise Rejected("replies go to the sender's own address; another port only for a "
                           "sender on this machine or given to --osc-allow")
        return to

    def _get(self, args: list, sender: tuple[str, int]) -> None:
        to = self._reply_to(args, sender)
        for name, value in self.state.items():
            self._send(_msg(address(name), float(value)), to)
        if self.latency is not None:
            try:
                lat = int(self.latency())
            except PansliceError:  # the chain is not prepared yet (the session is starting)
                return
            self._send(_msg(f"{PREFIX}/latency", lat), to)

    def _subscribe(self, args: list, sender: tuple[str, int]) -> None:
        to = self._reply_to(args, sender)
        if to not in self.subscribers:
            if len(self.subscribers) >= MAX_SUBSCRIBERS:
                raise Rejected(f"already {MAX_SUBSCRIBERS} subscribers; unsubscribe one first")
            self.subscribers.append(to)
            log.info("panslice: osc: %s:%d subscribed", *to)
        self._get([], to)

    def _unsubscribe(self, args: list, sender: tuple[str, int]) -> None:
        to = self._reply_to(args, sender)
        if to in self.subscribers:
            self.subscribers.remove(to)

    def _name_arg(self, args: list) -> str:
        if len(args) != 1 or not isinstance(args[0], str):
            raise Rejected(f"expects one string (a preset name), got {_describe(args)}")
        return args[0]

    def _preset_load(self, args: list, sender: tuple[str, int]) -> None:
        self.hub.load_preset(self._name_arg(args))

    def _preset_save(self, args: list, sender: tuple[str, int]) -> None:
        name = self._name_arg(args)
        path = self.hub.save_preset(name, "saved over OSC")
        log.info("panslice: osc: saved preset %r to %s", name, path)
        self._send(_msg(f"{PREFIX}/preset/saved", name), sender)

    def _reject(self, sender: tuple[str, int], addr: str, problem: str) -> None:
        """Log and answer a rejection (up to REJECTS_TOLD_PER_S a second; the rest are summed)."""
        now = time.monotonic()
        if now >= self._log_window + 1.0:
            if self._unlogged:
                log.warning("panslice: osc: %d more rejected messages not logged or answered", self._unlogged)
            self._log_window, self._logged, self._unlogged = now, 0, 0
        if self._logged < REJECTS_TOLD_PER_S:
            self._logged += 1
            log.warning("panslice: osc: rejected %s from %s:%d: %s", addr, sender[0], sender[1], problem)
            self._send(_msg(f"{PREFIX}/error", f"{addr}: {problem}"), sender)
        else:
            self._unlogged += 1

    # -- outgoing -------------------------------------------------------------------------------
    def _meters(self) -> None:
        now = time.monotonic()
        if now < self._next_meter:
            return
        self._next_meter = now + self.meter_period
        pos = self.controls.sample_pos
        if pos == self._meter_pos:
            return  # the audio has not moved since the last meters: nothing new to show
        self._meter_pos = pos
        target, rest = self.controls.levels
        self._send_all(_msg(f"{PREFIX}/meter/target", float(target)))
        self._send_all(_msg(f"{PREFIX}/meter/rest", float(rest)))

    def _send_all(self, dgram: bytes) -> None:
        for to in self.subscribers:
            self._send(dgram, to)

    def _send(self, dgram: bytes, to: tuple[str, int]) -> None:
        try:
            self._sock.sendto(dgram, to)
        except OSError as e:
            log.debug("panslice: osc: cannot send to %s:%d (%s)", to[0], to[1], e)


def _timed(packet: OscPacket) -> list[tuple[str, list, float | None]]:
    """(address, arguments, due time or None) of each message of a bundle: python-osc gives an
    immediate or past timetag the time it parsed the packet, so only a later one is a due time."""
    now = time.time()
    return [(t.message.address, t.message.params, t.time if t.time > now else None)
            for t in packet.messages]


def _describe(args: list) -> str:
    return f"{len(args)} arguments" if len(args) != 1 else kind_of(args[0])
