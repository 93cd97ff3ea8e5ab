"""panslice: a real-time stereo slicer steered by ear.

It separates a stereo mix by where a sound sits (azimuth) and which frequencies it occupies,
and lets a person isolate, remove or rebalance that slice, live or offline.

- :mod:`panslice.dsp`: the streaming engine and the parameter registry (pure DSP);
- :mod:`panslice.plugin`: the host side: presets, bounce, chain, live, OSC, CLI.
"""

__version__ = "0.1.0"
