"""The installed version of neuronllm_tl, read from the package metadata (stage 0: imports nothing of ours).

Theory: the version is written once, in ``pyproject.toml``; ``importlib.metadata`` reads it from the
installed distribution, so modules that record it (saved neuron sets, cache keys) need not import
the top-level package. A source tree that is not installed reports ``"0+unknown"``.

Example:
    >>> from neuronllm_tl.version import __version__
    >>> __version__
    '0.1.0'
"""

from __future__ import annotations

import importlib.metadata

__all__ = ["__version__"]

try:
    __version__: str = importlib.metadata.version("neuronllm_tl")
except importlib.metadata.PackageNotFoundError:
    __version__ = "0+unknown"
