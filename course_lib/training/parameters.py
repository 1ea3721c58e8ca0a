"""Which parameters all tasks share and which belong to one task (notebook 05).

Gradient diagnostics, GradNorm and PCGrad look at the tasks' gradients on the *shared*
parameters, where the tasks compete; per-task learning rates give each task's *own* parameters
(its tower and head) their own optimizer group. The split is read from the model's structure:
a parameter belongs to task ``t`` when it sits in an ``nn.ModuleDict`` or ``nn.ParameterDict``
under the key ``t`` (``heads["buy"]``, ``towers["buy"]``, ``gates["buy"]``, ...); every other
parameter is shared. The multi-task models of ``course_lib.models`` follow that convention.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def split_parameters(
    model: nn.Module, task_names: Sequence[str]
) -> tuple[list[nn.Parameter], dict[str, list[nn.Parameter]]]:
    """The shared parameters, and each task's own parameters (possibly none).

    Only trainable parameters are returned; every one of them is in exactly one list.

    Returns:
        ``(shared, {task name: own parameters})``, in the model's parameter order.
    """
    owner: dict[int, str] = {}
    for module in model.modules():
        if isinstance(module, (nn.ModuleDict, nn.ParameterDict)):
            for name in task_names:
                if name not in module:
                    continue
                entry = module[name]
                params = entry.parameters() if isinstance(entry, nn.Module) else [entry]
                owner.update({id(param): name for param in params})
    shared: list[nn.Parameter] = []
    own: dict[str, list[nn.Parameter]] = {name: [] for name in task_names}
    for param in model.parameters():
        if not param.requires_grad:
            continue
        name = owner.get(id(param))
        (own[name] if name is not None else shared).append(param)
    return shared, own
