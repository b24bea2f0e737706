"""The scripts under ``scripts/`` are files, not a package: each test module loads its script by path."""

import importlib.util
import sys
from contextlib import contextmanager
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"


@contextmanager
def loaded_script(name: str):
    """``scripts/<name>.py`` as a module, registered under ``name`` while in use (dataclasses look their module
    up by name)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)
