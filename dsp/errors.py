"""One small exception tree, so callers can catch panslice's own complaints."""


class PansliceError(Exception):
    """Root of every error panslice raises on purpose. Its text is always one line: control
    characters in it (a file name with a newline in it) are shown escaped."""

    def __str__(self) -> str:
        text = super().__str__()
        return text if text.isprintable() else "".join(
            c if c.isprintable() else repr(c)[1:-1] for c in text)


class ParameterError(PansliceError, ValueError):
    """A parameter name or value that the registry does not accept."""


class SpleeterError(PansliceError, ValueError):
    """Weights or audio that the Spleeter network (spleeter.py) cannot use."""
