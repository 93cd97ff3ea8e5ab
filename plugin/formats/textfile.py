"""Reading a user's text file (chain, edits, automation) with one-line errors that name it."""

from __future__ import annotations

import os
from pathlib import Path


def read_text(path: str | os.PathLike, what: str, error: type[Exception]) -> str:
    """The UTF-8 text of ``path``; ``error`` says '<path>: no such <what>' or why it can't be read."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{p}: cannot read {what} ({e})") from None
