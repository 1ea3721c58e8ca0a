"""Losses for rare positive labels: weighted and focal binary cross-entropy (notebook 05).

With buys at 0.6% of the samples, plain binary cross-entropy is dominated by the easy
negatives: the model lowers the loss most by predicting "no buy" a little more confidently
everywhere. Two remedies reshape the loss, per task (``Task.pos_weight``, ``Task.focal_gamma``):

- **positive weighting** multiplies each positive's loss by ``pos_weight`` (a value near the
  negative-to-positive ratio balances the two classes' total weight);
- **focal loss** (Lin et al., ICCV 2017) multiplies each sample's loss by ``(1 - p_t)^gamma``,
  where ``p_t`` is the probability the model gives the true label: well-classified samples,
  mostly easy negatives, fade out and the hard ones dominate.

Both change what the model's probabilities mean (they are no longer calibrated rates); rankings,
and so ROC-AUC, are what they aim to improve.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def binary_loss(
    logit: torch.Tensor, label: torch.Tensor, pos_weight: float = 1.0, focal_gamma: float = 0.0
) -> torch.Tensor:
    """Mean binary cross-entropy, with optional positive weighting and focal modulation.

    ``loss_i = w_i * (1 - p_t,i)^gamma * BCE_i`` with ``w_i = pos_weight`` for positives and 1
    for negatives; ``pos_weight = 1, focal_gamma = 0`` is plain binary cross-entropy.

    Shape:
        logit, label: (B,) -> scalar
    """
    if pos_weight <= 0 or focal_gamma < 0:
        raise ValueError(
            f"need pos_weight > 0 and focal_gamma >= 0; got {pos_weight}, {focal_gamma}"
        )
    logit, label = logit.float(), label.float()
    bce = F.binary_cross_entropy_with_logits(logit, label, reduction="none")  # (B,)
    if focal_gamma > 0:
        p_false = -torch.expm1(-bce)  # 1 - p_t, accurate when p_t is near 1
        # the clamp keeps the gradient finite for gamma < 1 when p_t rounds to exactly 1
        bce = p_false.clamp(min=1e-12) ** focal_gamma * bce
    if pos_weight != 1.0:
        bce = bce * torch.where(label > 0.5, pos_weight, 1.0)
    return bce.mean()
