"""What panslice reads and writes: audio files, presets, recorded automation, hand edits.

Knows the registry (dsp) and nothing above it.
"""
