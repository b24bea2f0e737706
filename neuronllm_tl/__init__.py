"""neuronllm_tl: good and bad neurons of a TransformerLens model for a task, and steering with them.

An implementation of NeuronLLM ("Identifying Good and Bad Neurons for Task-Level Controllable
LLMs") as a TransformerLens plugin: QA task transformation with augmented (permuted) question sets,
contrastive neuron identification on ``blocks.{l}.mlp.hook_post``, and hook-based steering.

Example:
    >>> import neuronllm_tl as nl
    >>> model = nl.load_model("smollm2-135m")            # offline default
    >>> task = nl.Task.from_examples(examples, name="my-task", answer_format="cloze")
    >>> ident, held_out = task.split(0.5, seed=0)
    >>> neurons = nl.identify(model, ident, method="grad_x_act", k=100)
    >>> with nl.steer(model, neurons, mode="degrade"):
    ...     logits = model(tokens)
    >>> report = nl.evaluate(model, held_out, neurons, modes=["enhance", "degrade"], controls=5)
"""

__version__ = "0.1.0"

from neuronllm_tl.attribution.methods import BatchAttribution, attribute, grad_x_act, integrated_gradients
from neuronllm_tl.evaluation.evaluate import EvaluationReport, TaskScores, evaluate, filter_genuine, score_task
from neuronllm_tl.models.loading import DEFAULT_MODEL, load_model
from neuronllm_tl.models.validation import ModelSpec, model_spec
from neuronllm_tl.neurons.identify import IdentifyConfig, identify
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.scoring.encoding import EncodedQuestions, QuestionEncoder
from neuronllm_tl.steering.hooks import MODES, steer, steering_hooks
from neuronllm_tl.tasks.task import MCExample, Question, Task
from neuronllm_tl.tasks.template import QATemplate

__all__ = [
    "DEFAULT_MODEL",
    "MODES",
    "BatchAttribution",
    "EncodedQuestions",
    "EvaluationReport",
    "IdentifyConfig",
    "MCExample",
    "ModelSpec",
    "NeuronSet",
    "QATemplate",
    "Question",
    "QuestionEncoder",
    "Task",
    "TaskScores",
    "attribute",
    "evaluate",
    "filter_genuine",
    "grad_x_act",
    "identify",
    "integrated_gradients",
    "load_model",
    "model_spec",
    "score_task",
    "steer",
    "steering_hooks",
]
