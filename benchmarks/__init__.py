"""Benchmarks: figures, printed and written to RESULTS.md. Tests assert behaviour, not speed."""
