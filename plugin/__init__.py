"""panslice.plugin: the host side (presets, bounce, chain, live, OSC, CLI)."""
