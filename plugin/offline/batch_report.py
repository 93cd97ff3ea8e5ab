"""What a batch tells: a report row per file (CSV or JSON lines, written as files finish, so a
killed batch still leaves the record of what it did) and a tqdm bar with files done / total,
files per second, the real-time factor and the ETA.
"""

from __future__ import annotations

import csv
import json
import sys
import time

COLUMNS = ("input", "status", "seconds", "outputs", "error", "audio_seconds", "cpu_seconds", "worker")


def row(input: str, status: str, **fields) -> dict:
    """A report row with every column (by default: nothing written, no error)."""
    return {"input": input, "status": status, "seconds": 0.0, "outputs": [], "error": "",
            "audio_seconds": 0.0, "cpu_seconds": 0.0, "worker": "", **fields}


class Report:
    """Rows to ``path`` (``.csv``: CSV with a header; anything else: JSON lines); fsspec URLs
    work too (an object store gets the file when the batch ends)."""

    def __init__(self, path: str | None):
        self.path, self._f, self._csv = path, None, None
        if path:
            import fsspec

            self._f = fsspec.open(path, "w", encoding="utf-8", newline="", auto_mkdir=True).open()
            if path.lower().endswith(".csv"):
                self._csv = csv.DictWriter(self._f, COLUMNS, extrasaction="ignore")
                self._csv.writeheader()

    def add(self, row: dict) -> None:
        if self._f is None:
            return
        if self._csv is not None:
            self._csv.writerow({**row, "outputs": ";".join(row.get("outputs", []))})
        else:
            self._f.write(json.dumps({k: row.get(k) for k in COLUMNS}) + "\n")
        self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class Progress:
    """Counts and figures of a running batch, shown as a tqdm bar on a terminal."""

    def __init__(self, total: int, skipped: int, show: bool):
        self.total, self.skipped = total, skipped
        self.done = self.failed = 0
        self.audio = 0.0
        self.t0 = time.perf_counter()
        self.bar = None
        if show and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=skipped, unit="file", desc="batch", smoothing=0.1,
                            bar_format="{desc} |{bar}| {n}/{total}{postfix}, ETA {remaining}")

    def restart(self) -> None:
        self.t0 = time.perf_counter()

    def add(self, row: dict) -> None:
        if row["status"] == "failed":
            self.failed += 1
        elif row["status"] == "skipped":
            self.skipped += 1
        else:
            self.done += 1
        self.audio += row.get("audio_seconds") or 0.0
        if self.bar is not None:
            self.bar.set_postfix_str(self.figures(), refresh=False)
            self.bar.update(1)

    def note(self, line: str) -> None:
        """A line on stderr that does not break the bar."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def figures(self) -> str:
        wall = max(time.perf_counter() - self.t0, 1e-9)
        n = self.done + self.failed
        return f"{n / wall:.2f} files/s, {self.audio / wall:.1f}x real time"

    def close(self) -> str:
        """Close the bar; the summary line."""
        if self.bar is not None:
            self.bar.close()
        wall = time.perf_counter() - self.t0
        return (f"{self.done} done, {self.skipped} skipped, {self.failed} failed of {self.total} "
                f"files in {wall:.1f} s ({self.figures()})")

