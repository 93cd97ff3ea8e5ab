"""Every file a run writes stays apart from every file it reads and from the other files it
writes: one check shared by all commands, before any work, so that no flag combination can put
a 1 KB CSV over the song it was recorded from, or write two results to one name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional, Tuple

from ...dsp.errors import PansliceError

Role = Tuple[str, Optional[os.PathLike]]   # (what it is, e.g. "--record-automation"; its path)


def check_apart(inputs: Iterable[Role], outputs: Iterable[Role]) -> None:
    """Refuse ``outputs`` of which one is an input (the same file by any name: symlink, hard
    link, ``./x``) or the same file as another output. ``None`` paths are skipped."""
    ins = [(what, Path(p)) for what, p in inputs if p is not None]
    seen: list[tuple[str, Path]] = []
    for what, p in ((w, Path(p)) for w, p in outputs if p is not None):
        for in_what, i in ins:
            if _same(p, i):
                raise PansliceError(f"{p}: {what} would overwrite {in_what} ({i}); "
                                    "name another file")
        for other_what, o in seen:
            if _same(p, o):
                raise PansliceError(f"{p}: both {other_what} and {what} would be written there "
                                    "(one would be lost); name two files")
        seen.append((what, p))


def _same(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:   # one does not exist (yet): then only the name could have matched
        return False
