"""Painted regions: the page's list, checked, saved and applied in the song's time.

The page sends the whole list (dicts with the keys of an edits file); it is validated by the
very parser ``bounce --edits`` uses and written, after every change, to the TOML file that
``bounce --edits`` reads, so the command the page shows always renders what is heard.

In the studio, region times are the song's; the engine counts input samples since the chain
last restarted (at 'play' after a pause). The monitor hands the engine the regions moved to
where each pass of the looping song lies on that clock (:func:`engine_rows`): played from the
song's start they are the file's rows unchanged, so what is heard equals ``bounce --edits``
bit for bit, and through the loop's wrap ``bounce --edits`` of the song twice over.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np

from ...dsp.regions import R_T0, R_T1
from ..formats import edits
from ..formats.atomic import atomic_path
from ..formats.textfile import read_text
from ..control.hub import Rejected

MAX_REGIONS = 64
NAME_CHARS = 80


def _num(v: float) -> str:
    if v == -math.inf:
        return "-inf"
    return repr(float(v))


def check(items: object) -> list[edits.Region]:
    """The page's list as Regions, or Rejected with the parser's one-line reason."""
    if not isinstance(items, list) or len(items) > MAX_REGIONS:
        raise Rejected(f"regions: a list of at most {MAX_REGIONS}")
    if not items:
        return []
    items = [_clean(r) if isinstance(r, dict) else r for r in items]
    try:
        return edits.parse(json.dumps({"regions": items}), "region list", json_format=True)
    except edits.EditsError as e:
        raise Rejected(str(e).removeprefix("region list: ")) from None


def _clean(r: dict) -> dict:
    """The page's spellings of "nothing": no name, no move."""
    r = {k: v for k, v in r.items() if not (k in ("name", "move_to") and v in ("", None))}
    if isinstance(r.get("name"), str):
        r["name"] = r["name"][:NAME_CHARS]
    return r


def to_page(regions: list[edits.Region]) -> list[dict]:
    """Regions as the page edits them (-inf as the string "-inf")."""
    def g(v: float) -> float | str:
        return "-inf" if v == -math.inf else v
    return [{"name": r.name, "start": r.start, "end": r.end, "low_hz": r.low_hz, "high_hz": r.high_hz,
             "azimuth": [r.az_low, r.az_high], "target_gain_db": g(r.target_gain_db),
             "rest_gain_db": g(r.rest_gain_db), "move_to": r.move_to, "fade": r.fade}
            for r in regions]


def to_toml(regions: list[edits.Region]) -> str:
    """An edits file (what ``bounce --edits`` reads) holding ``regions`` exactly."""
    lines = ["# painted in panslice studio; 'panslice bounce SONG --edits THIS-FILE' renders them",
             f"format = {edits.FORMAT}"] + ([] if regions else ["regions = []  # none: every region was deleted"])
    for r in regions:
        lines += ["", "[[regions]]"]
        if r.name:
            lines.append(f"name = {json.dumps(r.name)}")
        lines += [f"start = {_num(r.start)}", f"end = {_num(r.end)}", f"low_hz = {_num(r.low_hz)}",
                  f"high_hz = {_num(r.high_hz)}", f"azimuth = [{_num(r.az_low)}, {_num(r.az_high)}]",
                  f"target_gain_db = {_num(r.target_gain_db)}", f"rest_gain_db = {_num(r.rest_gain_db)}",
                  f"fade = {_num(r.fade)}"]
        if r.move_to:
            lines.append(f'move_to = "{r.move_to}"')
    return "\n".join(lines) + "\n"


def save(path: Path, regions: list[edits.Region]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(to_toml(regions), encoding="utf-8")


def load(path: Path) -> list[edits.Region]:
    """The regions of ``path``; none when it does not exist or was saved empty (``regions =
    []``, or by an older studio, no ``regions`` at all)."""
    if not path.exists():
        return []
    text = read_text(path, "edits file", edits.EditsError)
    if path.suffix.lower() != ".json" and "regions" not in tomllib.loads(text):
        return []
    return edits.load(path)


def engine_rows(rows: np.ndarray, origin: int, length: int, sample_rate: float,
                since: float = 0.0, until: float = np.inf) -> np.ndarray:
    """Engine rows (times on the engine's clock, input samples since the chain restarted) for
    a song looping every ``length`` samples whose pass k begins at engine sample
    ``origin + k * length``: the regions of the passes before, at and after ``origin`` (the
    frames in the engine lie within a pass of the one its input is in), each clipped to the
    engine samples ``[since, until)``. From ``origin`` 0 the song's own pass comes back as it
    is, so a played stretch from the song's start is ``bounce --edits`` to the sample."""
    if rows.shape[0] == 0:
        return rows
    parts = []
    for k in (-1, 0, 1):
        moved = rows.copy()
        moved[:, [R_T0, R_T1]] += (origin + k * length) / sample_rate
        moved[:, R_T0] = np.maximum(moved[:, R_T0], max(since, 0.0) / sample_rate)
        moved[:, R_T1] = np.minimum(moved[:, R_T1], until / sample_rate)
        parts.append(moved[moved[:, R_T0] < moved[:, R_T1]])
    return np.concatenate(parts)
