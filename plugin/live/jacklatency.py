"""JACK's latency API for a client whose outputs are its inputs, ``latency`` samples later.

JACK-Client (0.5.x) wraps no latency function, so this calls libjack through ctypes on the
client and port handles JACK-Client already holds (the same library, loaded once per process).
The server asks each client, in a latency callback, to pass the latency ranges on through it:
capture latency flows downstream (outputs = inputs' capture range + ours), playback latency
upstream (inputs = outputs' playback range + ours). That is what a DAW's delay compensation
and ``jack_lsp -l`` read.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from typing import Sequence

CAPTURE, PLAYBACK = 0, 1   # jack_latency_callback_mode_t


class _Range(ctypes.Structure):
    _fields_ = [("min", ctypes.c_uint32), ("max", ctypes.c_uint32)]


_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p)
_lib = None


def _libjack():
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
        lib.jack_set_latency_callback.argtypes = [ctypes.c_void_p, _CALLBACK, ctypes.c_void_p]
        lib.jack_recompute_total_latencies.argtypes = [ctypes.c_void_p]
        for f in (lib.jack_port_get_latency_range, lib.jack_port_set_latency_range):
            f.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(_Range)]
            f.restype = None
        _lib = lib
    return _lib


def _handle(obj) -> int:
    """The C pointer behind a JACK-Client Client or Port."""
    import jack

    return int(jack._ffi.cast("uintptr_t", obj._ptr))


def get_range(port, mode: int) -> tuple[int, int]:
    """A port's (min, max) latency range for ``mode`` (CAPTURE or PLAYBACK)."""
    r = _Range()
    _libjack().jack_port_get_latency_range(_handle(port), mode, ctypes.byref(r))
    return r.min, r.max


class Publisher:
    """Publishes ``latency`` samples between ``ins`` and ``outs`` of ``client``; set
    :attr:`latency` and call :meth:`update` when it changes. Register before activating."""

    def __init__(self, client, ins: Sequence, outs: Sequence, latency: int = 0):
        self.latency = int(latency)
        self._client = _handle(client)
        self._ins = [_handle(p) for p in ins]
        self._outs = [_handle(p) for p in outs]
        self._cb = _CALLBACK(self._on_latency)   # kept alive as long as the client
        self._thread: threading.Thread | None = None
        if _libjack().jack_set_latency_callback(self._client, self._cb, None):
            raise OSError("jack_set_latency_callback failed")

    def _on_latency(self, mode: int, arg) -> None:
        lib = _libjack()
        src, dst = (self._ins, self._outs) if mode == CAPTURE else (self._outs, self._ins)
        ranges = []
        for p in src:
            r = _Range()
            lib.jack_port_get_latency_range(p, mode, ctypes.byref(r))
            ranges.append((r.min, r.max))
        r = _Range(min(lo for lo, _ in ranges) + self.latency, max(hi for _, hi in ranges) + self.latency)
        for p in dst:
            lib.jack_port_set_latency_range(p, mode, ctypes.byref(r))

    def update(self, latency: int) -> None:
        """A new latency: the server recomputes every port's range (not from JACK's threads)."""
        self.latency = int(latency)
        _libjack().jack_recompute_total_latencies(self._client)

    def update_soon(self, latency: int) -> None:
        """:meth:`update` from a thread of its own, for a caller that must not wait: the server
        asks every client on it for its latency first (measured after jack_bufsize 1024 -> 64 on
        a busy machine: 14-29 ms; a loop that waited for it ran dry 768 samples, 17 ms, after
        the change)."""
        self.latency = int(latency)
        if self._thread is None:
            self._due, self._closed = threading.Event(), False
            self._thread = threading.Thread(target=self._recompute, name="jack-latency", daemon=True)
            self._thread.start()
        self._due.set()

    def _recompute(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._closed:
                return
            _libjack().jack_recompute_total_latencies(self._client)

    def close(self, timeout: float = 5.0) -> None:
        """Ends :meth:`update_soon`'s thread (before the client closes)."""
        if self._thread is not None:
            self._closed = True
            self._due.set()
            self._thread.join(timeout)
