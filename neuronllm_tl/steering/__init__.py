"""Steering: scale good and bad neurons through TransformerLens hooks (see :mod:`.modes` and :mod:`.steering`).

Example:
    >>> from neuronllm_tl.steering import Steering, steer
    >>> with steer(model, Steering.from_mode(neurons, "degrade")):
    ...     logits = model(tokens)
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
