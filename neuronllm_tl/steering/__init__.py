"""Stage 8 of the pipeline: scale good and bad neurons through TransformerLens hooks while the model runs.

It applies the neuron sets of the methods (stage 7), and evaluation (stage 9) measures its effect:
:mod:`.modes` is the one table of modes (factors and expected sign), :mod:`.steering` the ``Steering``
value, its hooks and the ``steer`` context manager.

Example:
    >>> from neuronllm_tl.steering import Steering, steer
    >>> with steer(model, Steering.from_mode(neurons, "degrade")):
    ...     logits = model(tokens)
    >>> torch.equal(logits, model(tokens))      # steered inside the block only
    False
"""

from neuronllm_tl.steering.modes import MODES, Mode, get_mode, mode_groups, register_mode
from neuronllm_tl.steering.steering import Positions, Steering, steer, steering_hooks

__all__ = [
    "MODES",
    "Mode",
    "Positions",
    "Steering",
    "get_mode",
    "mode_groups",
    "register_mode",
    "steer",
    "steering_hooks",
]
