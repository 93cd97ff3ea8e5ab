"""How the analysis picture's marks and words look: readable on every colour of the map, with
the legend out of the data's way, in fonts that can write the file's name.

The marks sit on magma, which runs from black to a pale yellow, so no one colour shows on all
of it: each line gets a black outline under its colour. The legend is a dark strip of its own
between the header and the plots, where white, cyan and lime all show. File names and edit
names may be in any script: the text uses DejaVu Sans (Latin, Greek, Cyrillic; matplotlib's own)
and then whichever of a few fonts for other scripts is installed (Debian: fonts-ipafont-gothic,
fonts-noto-cjk, fonts-wqy-zenhei); a character none of them has is written as its code point
(``\\u65e5``) rather than drawn as an empty box.

matplotlib is imported inside the functions only, as in analyze.py.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterable

FONTS = ("DejaVu Sans", "Noto Sans CJK JP", "IPAGothic", "IPAexGothic", "WenQuanYi Zen Hei",
         "Noto Sans")
SLICE, SUGGESTED, EDIT = "white", "cyan", "lime"   # the colours the header's words name too
LEGEND_FACE = "0.12"


@lru_cache(maxsize=1)
def installed() -> tuple[tuple[str, frozenset[int]], ...]:
    """Each font of FONTS that is installed, in order, with the code points it draws."""
    from matplotlib import font_manager as fm
    from matplotlib.ft2font import FT2Font

    files = _regular_fonts(fm)
    if not set(FONTS) <= set(files):   # one installed since matplotlib listed the fonts?
        known = {f.fname for f in fm.fontManager.ttflist}
        for path in set(fm.findSystemFonts()) - known:
            try:
                fm.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
        files = _regular_fonts(fm)
    return tuple((n, frozenset(FT2Font(files[n]).get_charmap())) for n in FONTS if n in files)


def _regular_fonts(fm) -> dict[str, str]:
    """Family name -> file of the upright, regular-weight fonts matplotlib knows."""
    return {f.name: f.fname for f in fm.fontManager.ttflist
            if f.weight in (400, "normal") and f.style == "normal"}


def drawable(c: str) -> bool:
    """Whether an installed font of FONTS draws ``c`` (white space always counts)."""
    return c.isspace() or any(ord(c) in chars for _, chars in installed())


def shown(text: str) -> str:
    """``text`` with each character no installed font of FONTS draws written as its code."""
    return "".join(c if drawable(c) else c.encode("ascii", "backslashreplace").decode()
                   for c in text)


@contextmanager
def writing(texts: Iterable[str]):
    """matplotlib's fonts while the picture is drawn: DejaVu Sans, then the installed fonts of
    FONTS only if a character of ``texts`` needs one. matplotlib's note that such a font has no
    bold (it then uses its regular weight) is not passed on: that is what is wanted."""
    import matplotlib

    first, *rest = installed()
    need = {c for t in texts for c in t if not c.isspace() and ord(c) not in first[1]}
    families = [first[0]] + ([n for n, _ in rest] if need else [])
    log = logging.getLogger("matplotlib.font_manager")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with matplotlib.rc_context({"font.family": families}):
            yield
    finally:
        log.setLevel(level)


def outline(width: float) -> list:
    """Path effects that put a black edge under a line ``width`` points wide."""
    from matplotlib import patheffects as pe

    return [pe.Stroke(linewidth=width + 2.4, foreground="black"), pe.Normal()]


def legend_strip(ax, edits: bool) -> None:
    """The picture's one legend, in ``ax`` (a strip of the figure with nothing else in it)."""
    from matplotlib.lines import Line2D

    marks = [(SLICE, "-", 2.2, "current slice: center ± width, in its bands"),
             (SLICE, ":", 1.4, "slice fade edges (softness)"),
             (SUGGESTED, "--", 1.8, "suggested center ± width")]
    if edits:
        marks.append((EDIT, "-.", 1.8, "hand edits"))
    handles = [Line2D([], [], color=c, ls=ls, lw=lw, path_effects=outline(lw), label=text)
               for c, ls, lw, text in marks]
    ax.axis("off")
    ax.legend(handles=handles, loc="center", ncol=len(handles), fontsize=10, facecolor=LEGEND_FACE,
              edgecolor="0.5", labelcolor="white", framealpha=1.0, handlelength=3.5)
