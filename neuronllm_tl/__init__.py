"""neuronllm_tl: good and bad neurons of a TransformerLens model for a task, and steering with them.

An implementation of NeuronLLM ("Identifying Good and Bad Neurons for Task-Level Controllable LLMs") as a
TransformerLens plugin: QA task transformation with augmented (permuted) question sets, contrastive neuron
identification on ``blocks.{l}.mlp.hook_post``, and hook-based steering; with its baselines (QRNCA,
Knowledge Neurons, TN, LAPE, random) behind the same ``identify`` and a comparison harness.

This module exports the verbs a user calls and the values they return. Internals live in the
subpackages, in pipeline order: ``models`` -> ``tasks`` -> ``scoring`` -> ``attribution`` -> ``neurons``
-> ``methods`` -> ``steering`` -> ``evaluation`` -> ``explanation`` -> ``comparison`` -> ``reporting`` -> ``cli``.

Example:
    >>> import neuronllm_tl as nl
    >>> from neuronllm_tl.testing import tiny_model, tiny_task   # a random 3-layer model: the examples run anywhere
    >>> model = tiny_model()                  # or nl.load_model("smollm2-135m"): the offline default
    >>> task = tiny_task("cloze")             # or nl.load_task("capitals-mini"), a dataset name, a .jsonl path
    >>> ident, held_out = task.split(0.5, seed=0)
    >>> neurons = nl.identify(model, ident, k=3)          # method="neuronllm"; or "qrnca", "knowledge_neurons", ...
    >>> with nl.steer(model, neurons, mode="degrade"):
    ...     logits = model(model.to_tokens("the movie was great ."))
    >>> report = nl.evaluate(model, held_out, neurons, modes=["enhance", "degrade"], controls=2)
    >>> ex = nl.explain(model, neurons.top(2), held_out)  # what each neuron does: options, tokens, examples
    >>> path = neurons.save("tiny.neurons")
    >>> (path / "neurons.safetensors").is_file()
    True
    >>> nl.render_report("tiny.neurons").name   # one self-contained report.html of a run folder
    'report.html'
"""

from neuronllm_tl.attribution.collect import TaskAttributions, collect_attributions
from neuronllm_tl.attribution.environment import Environment, environment
from neuronllm_tl.attribution.stream import AttributionRequest
from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.report import ComparisonResult
from neuronllm_tl.comparison.schedule import run_comparison as compare
from neuronllm_tl.comparison.variants import Variant, register_variant, unregister_variant
from neuronllm_tl.evaluation.evaluate import EvaluationReport, evaluate
from neuronllm_tl.evaluation.generation import evaluate_generation, generate_answers, score_generation
from neuronllm_tl.evaluation.generation_report import GenerationReport
from neuronllm_tl.evaluation.interactions import SetInteraction, set_interaction
from neuronllm_tl.evaluation.scores import TaskScores, filter_genuine, score_task
from neuronllm_tl.evaluation.statistics import Interval, paired_ci, paired_difference
from neuronllm_tl.explanation import Explanations, TopActivations, explain, top_activating
from neuronllm_tl.methods.base import MethodConfig, MethodInputs
from neuronllm_tl.methods.registry import METHODS, identify, method_config, register_method, unregister_method
from neuronllm_tl.models.fast_paths import FastPathWarning
from neuronllm_tl.models.loading import DEFAULT_MODEL, load_model
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.neurons.selection import FewerNeuronsWarning
from neuronllm_tl.registry import PluginWarning
from neuronllm_tl.reporting import render_report
from neuronllm_tl.scoring.distractors import with_model_distractors
from neuronllm_tl.scoring.objectives import register_objective, unregister_objective
from neuronllm_tl.steering.modes import MODES, register_mode, unregister_mode
from neuronllm_tl.steering.steering import Steering, steer, steering_hooks
from neuronllm_tl.tasks.example import MCExample
from neuronllm_tl.tasks.generation import GenerationExample
from neuronllm_tl.tasks.registry import list_tasks, load_task, register_task, unregister_task
from neuronllm_tl.tasks.task import Task
from neuronllm_tl.tasks.template import QATemplate
from neuronllm_tl.version import __version__

__all__ = [
    "DEFAULT_MODEL",
    "METHODS",
    "MODES",
    "AttributionRequest",
    "CompareConfig",
    "Environment",
    "ComparisonResult",
    "EvaluationReport",
    "Explanations",
    "FastPathWarning",
    "FewerNeuronsWarning",
    "GenerationExample",
    "GenerationReport",
    "HookedModel",
    "Interval",
    "MCExample",
    "MethodConfig",
    "MethodInputs",
    "NeuronSet",
    "QATemplate",
    "SetInteraction",
    "Steering",
    "Task",
    "TaskAttributions",
    "TaskScores",
    "TopActivations",
    "Variant",
    "__version__",
    "collect_attributions",
    "compare",
    "environment",
    "evaluate",
    "evaluate_generation",
    "explain",
    "filter_genuine",
    "generate_answers",
    "identify",
    "list_tasks",
    "load_model",
    "load_task",
    "method_config",
    "paired_ci",
    "paired_difference",
    "PluginWarning",
    "register_method",
    "register_mode",
    "register_objective",
    "register_task",
    "render_report",
    "register_variant",
    "unregister_method",
    "unregister_mode",
    "unregister_objective",
    "unregister_task",
    "unregister_variant",
    "score_generation",
    "score_task",
    "set_interaction",
    "steer",
    "steering_hooks",
    "top_activating",
    "with_model_distractors",
]
