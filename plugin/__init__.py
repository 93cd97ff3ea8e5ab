"""panslice.plugin: the host side, in rooms whose dependencies run one way, down to dsp/.

- :mod:`.formats`: audio files, presets, automation, hand edits (reads and writes);
- :mod:`.graph`: :class:`Stage`, :class:`Chain`, the ring buffer, chain files;
- :mod:`.ml`: the ML prior (Spleeter) for a bounce and live;
- :mod:`.offline`, :mod:`.control`, :mod:`.live`: bounce and analysis, OSC, the live loop;
- :mod:`.cli`: the command line, on top.

The public API loads lazily, so ``panslice --help`` does not pay for numba or pedalboard:
``from panslice.plugin import Chain, Stage, render, Engine``.
"""

__all__ = ["Chain", "Engine", "Stage", "render"]

_PUBLIC = {
    "Chain": ("panslice.plugin.graph.chain", "Chain"),
    "Stage": ("panslice.plugin.graph.stage", "Stage"),
    "render": ("panslice.plugin.offline.bounce", "render"),
    "Engine": ("panslice.dsp.engine", "Engine"),
}


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        module, attr = _PUBLIC[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
