"""Recorded automation: parameter changes stamped with input sample positions, as a CSV file.

The format (UTF-8 text)::

    # panslice automation 1
    # sample_rate = 44100
    # fft_size = 2048
    # overlap = 4
    sample,param,value
    start,center,0.0
    ...
    88200,target_gain_db,-inf

The header holds the sample rate the positions count in and the structural (not live)
parameters. ``start`` rows give the value every live parameter had when the session began (the
engine starts there, with no glide), so a replay reproduces the session whatever preset the
bounce was given. The other rows are changes at input sample positions (a session recorded
with ``live --jack-transport``: at JACK transport frames, which ``bounce`` reads as input
positions); they need not be sorted, and changes at one position apply in file order. Every row is validated against the
registry when the file loads, and errors name the file and line.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .atomic import atomic_path
from .textfile import read_text
from ...dsp import params as P
from ...dsp.errors import ParameterError, PansliceError

MAGIC = "# panslice automation 1"
START = "start"
COLUMNS = "sample,param,value"
HEADER_KEYS = ("sample_rate",) + tuple(p.name for p in P.REGISTRY if not p.live)


class AutomationError(PansliceError):
    """An automation file that cannot be read, validated or used with this input."""


@dataclass
class Automation:
    sample_rate: float
    structure: dict[str, float]  # the non-live parameters it was recorded with
    start: dict[str, float]      # the live parameters' values when it began
    changes: list[P.Change]
    source: str = "automation"

    def check_rate(self, sample_rate: float, what: str) -> None:
        """Positions count samples at the recorded rate; refuse an input at another rate."""
        if sample_rate != self.sample_rate:
            raise AutomationError(f"{self.source}: recorded at {self.sample_rate:g} Hz but {what} is "
                                  f"{sample_rate:g} Hz; sample positions would land elsewhere")


def _head(sample_rate: float, params: P.ParamSet) -> str:
    """The header and the ``start`` rows: what a recording holds before its first change."""
    lines = [MAGIC, f"# sample_rate = {sample_rate:g}"]
    lines += [f"# {p.name} = {P.fmt(params[p.name])}" for p in P.REGISTRY if not p.live]
    lines.append(COLUMNS)
    lines += [f"{START},{p.name},{params[p.name]!r}" for p in P.REGISTRY if p.live]
    return "\n".join(lines) + "\n"


def _rows(changes: Iterable[P.Change]) -> str:
    return "".join(f"{int(pos)},{name},{float(value)!r}\n" for pos, name, value in changes)


def write(path: str | os.PathLike, sample_rate: float, params: P.ParamSet,
          changes: Iterable[P.Change]) -> Path:
    """Write a recording at once: the session's starting ``params``, then ``changes``."""
    return Recording(path, sample_rate, params).close(list(changes))


class Recording:
    """A recording written as it goes, so that a killed session keeps its moves as a killed
    take keeps its audio: the header and ``start`` rows at once, then whole rows appended by
    :meth:`flush` (about once a second, from a thread of the control session), into the hidden
    temporary ``.NAME.PID-*.part.csv`` beside ``path``; :meth:`close` publishes it at ``path``.
    A SIGKILL or a power cut leaves that temporary, holding every row up to the last flush
    (kept, not swept, like the audio take's), a file ``bounce --automation`` reads."""

    def __init__(self, path: str | os.PathLike, sample_rate: float, params: P.ParamSet):
        self.path = Path(path)
        self.rows = 0
        self._stack = ExitStack()
        try:
            tmp = self._stack.enter_context(atomic_path(self.path, sweep=False))
            self._fd = os.open(tmp, os.O_WRONLY | os.O_APPEND)
            self._stack.callback(os.close, self._fd)
            self._append(_head(sample_rate, params))
        except OSError as e:
            self._stack.__exit__(OSError, e, None)
            raise AutomationError(f"{self.path}: cannot write automation ({e.strerror})") from None

    def flush(self, changes: list[P.Change]) -> None:
        """Append ``changes`` past the rows written already, as whole lines, and sync them to
        the disk. ``changes`` may grow in another thread meanwhile (a list only appended to)."""
        end = len(changes)
        if end > self.rows:
            self._append(_rows(changes[self.rows:end]))
            self.rows = end
            os.fsync(self._fd)

    def _append(self, text: str) -> None:
        """Append ``text`` whole, or (a full disk) none of it: no torn row is left to read."""
        data = text.encode("utf-8")
        size = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError:
            os.ftruncate(self._fd, size)
            raise

    def close(self, changes: list[P.Change]) -> Path:
        """Write what is left and publish the file at its name."""
        try:
            self.flush(changes)
            self._stack.close()
        except OSError as e:
            self._stack.__exit__(OSError, e, None)
            raise AutomationError(f"{self.path}: cannot write automation ({e.strerror})") from None
        return self.path


def check_writable(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Fail before a session starts, not after it, when the recording cannot be saved, or
    would replace a file the user did not say to replace."""
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise AutomationError(f"{p}: is a folder, not a file")
    if p.exists() and not overwrite:
        raise AutomationError(f"{p}: exists already (give --overwrite, or -y, to replace it)")
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise AutomationError(f"{p}: folder {folder} does not exist or is not writable")
    return p


def parse(text: str, source: str) -> Automation:
    lines = text.splitlines()
    if not lines or lines[0].strip() != MAGIC:
        raise AutomationError(f"{source}: not a panslice automation file (first line must be {MAGIC!r})")
    header: dict[str, float] = {}
    i = 1
    while i < len(lines) and lines[i].startswith("#"):
        key, sep, value = lines[i][1:].partition("=")
        key = key.strip()
        if not sep or key not in HEADER_KEYS:
            raise AutomationError(f"{source}: line {i + 1}: expected '# KEY = VALUE' with KEY one of "
                                  f"{', '.join(HEADER_KEYS)}")
        try:
            header[key] = P.parse_number(value, key) if key == "sample_rate" else P.get(key).validate(value)
        except ParameterError as e:
            raise AutomationError(f"{source}: line {i + 1}: {e}") from None
        i += 1
    missing = [k for k in HEADER_KEYS if k not in header]
    if missing:
        raise AutomationError(f"{source}: header lacks {', '.join(missing)}")
    if i >= len(lines) or lines[i].strip() != COLUMNS:
        raise AutomationError(f"{source}: line {i + 1}: expected the column line {COLUMNS!r}")
    start: dict[str, float] = {}
    changes: list[P.Change] = []
    for n, line in enumerate(lines[i + 1:], start=i + 2):
        if not line.strip():
            continue
        pos, name, value = _row(line, f"{source}: line {n}")
        if pos is None:
            start[name] = value
        else:
            changes.append((pos, name, value))
    sr = header.pop("sample_rate")
    return Automation(sr, header, start, changes, source)


def _row(line: str, where: str) -> tuple[int | None, str, float]:
    parts = line.split(",")
    if len(parts) != 3:
        raise AutomationError(f"{where}: expected sample,param,value, got {line!r}")
    pos_text, name, value = (s.strip() for s in parts)
    if pos_text != START and not pos_text.isdigit():
        raise AutomationError(f"{where}: sample position {pos_text!r} is not a whole number >= 0 "
                              f"or {START!r}")
    try:
        p = P.get(name)
        if not p.live:
            raise ParameterError(f"{name} cannot change during a render; it is set in the header")
        v = p.validate(value)
    except ParameterError as e:
        raise AutomationError(f"{where}: {e}") from None
    return (None if pos_text == START else int(pos_text)), p.name, v


def read(path: str | os.PathLike) -> Automation:
    return parse(read_text(path, "automation file", AutomationError), str(Path(path)))


def start_params(auto: Automation, params: P.ParamSet) -> P.ParamSet:
    """``params`` with the recording's structure and starting values: a replay is prepared
    exactly as the session was."""
    out = params.copy()
    out.update({**auto.structure, **auto.start})
    return out
