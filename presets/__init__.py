"""Named presets shipped with panslice (TOML data files)."""
