"""One small exception tree, so callers can catch panslice's own complaints."""


class PansliceError(Exception):
    """Root of every error panslice raises on purpose."""


class ParameterError(PansliceError, ValueError):
    """A parameter name or value that the registry does not accept."""


class SpleeterError(PansliceError, ValueError):
    """Weights or audio that the Spleeter network (spleeter.py) cannot use."""
