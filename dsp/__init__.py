"""panslice.dsp: pure, streaming signal processing (no files, devices, threads or printing).

- :mod:`.params`: the parameter registry, the one place every knob is declared;
- :mod:`.engine`: :class:`Engine`, the streaming separator (prepare / process / reset / latency);
- :mod:`.stream`: the numba overlap-add STFT kernel behind it, and its buffer layout;
- :mod:`.frames`: reading the frames an engine publishes (power, azimuth per bin) for a picture;
- :mod:`.mask`: azimuth estimation, slice shape, mask refinement and band tables (numba);
- :mod:`.regions`: hand-edit regions, per-bin gains for one frame (numba);
- :mod:`.panogram`: whole-file stereo-field analysis, energy by azimuth, frequency and time;
- :mod:`.spleeter`: Spleeter 2-stems inference in numpy, the ML prior's vocal mask;
- :mod:`.ml_spatial`: reshaping that vocal mask with where the recording places the voice;
- :mod:`.errors`: the exception tree (:class:`PansliceError` and its kinds).

``Engine`` loads lazily: importing the registry alone (as the CLI does for ``--help``) must not
pay for numba.
"""

from .errors import PansliceError, ParameterError
from .params import REGISTRY, ParamSet

__all__ = ["Engine", "PansliceError", "ParameterError", "REGISTRY", "ParamSet"]


def __getattr__(name: str):
    if name == "Engine":
        from .engine import Engine

        return Engine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
