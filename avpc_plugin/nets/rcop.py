"""RCoP heads: the SimSiam projector and predictor used to pre-train AVPC, registered as ``"rcop"``.

RCoP ("co-predicting two audio-visual representations of the same sound source") runs AVPC on two
mixtures that share a source A (in the reference code: (A + B) / 2 and (A + C) / 2) and asks the
two predicted mask representations of A to agree. As in the reference (AVPC's RCoP ``PCNetLR``
returns ``adaptive_avg_pool2d(r_mask, 64)`` next to ``r_mask``), the representation fed here is
the one-channel mask LOGIT map of source A, (B, 1, 256, 256), average-pooled to 64 x 64 and
flattened (4096 values).

Design (from the reference ``simsiam_net.py``, itself the SimSiam baseline of Chen & He 2021):

* projector: Linear(4096, 2048) -> BN -> ReLU -> Linear(2048, 2048) -> BN -> ReLU ->
  Linear(2048, 2048) -> BN. Every Linear has a bias and every BN is affine (the reference keeps
  PyTorch's defaults; the official SimSiam code instead drops the last BN's affine);
* predictor (bottleneck): Linear(2048, 512) -> BN -> ReLU -> Linear(512, 2048), no BN at the output;
* loss: symmetric negative cosine similarity with stop-gradient on the projections,
  ``D(p1, z2) / 2 + D(p2, z1) / 2`` with ``D(p, z) = -cos(p, stopgrad(z))`` averaged over the batch.
* The two views go through the heads in separate calls, so BatchNorm statistics are per view.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from avpc_plugin.nets.registry import register_net


@register_net("rcop")
class RCoPHeads(nn.Module):
    """SimSiam projector + predictor on pooled mask representations.

    Args:
        pooled_size: side of the adaptive average pool applied to the (B, 1, H, W) mask
            representation (64 in the reference, so the projector input is 64 * 64 = 4096).
        proj_dim: width of the projector's hidden and output layers, i.e. of z and p (2048).
        pred_hidden: width of the predictor's bottleneck (512).
    """

    def __init__(self, pooled_size: int = 64, proj_dim: int = 2048, pred_hidden: int = 512) -> None:
        super().__init__()
        for key, value in (
            ("pooled_size", pooled_size),
            ("proj_dim", proj_dim),
            ("pred_hidden", pred_hidden),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"rcop config {key!r}: expected a positive int, got {value!r}")
        self.config: dict[str, Any] = {
            "pooled_size": pooled_size,
            "proj_dim": proj_dim,
            "pred_hidden": pred_hidden,
        }
        self.projector = nn.Sequential(
            *_linear_bn(pooled_size * pooled_size, proj_dim),
            nn.ReLU(),
            *_linear_bn(proj_dim, proj_dim),
            nn.ReLU(),
            *_linear_bn(proj_dim, proj_dim),
        )
        self.predictor = nn.Sequential(
            *_linear_bn(proj_dim, pred_hidden),
            nn.ReLU(),
            nn.Linear(pred_hidden, proj_dim),
        )

    def pool(self, representation: Tensor, name: str = "representation") -> Tensor:
        """(B, 1, H, W) mask representation -> (B, pooled_size ** 2) projector input.

        ``name`` only labels the argument in error messages.
        """
        if representation.dim() != 4 or representation.shape[1] != 1 or 0 in representation.shape:
            raise ValueError(
                f"{name}: expected a non-empty (B, 1, H, W) mask representation, got shape "
                f"{tuple(representation.shape)}"
            )
        if self.training and representation.shape[0] < 2:
            raise ValueError(
                f"{name}: training needs a batch of at least 2 (the heads use BatchNorm), got "
                f"shape {tuple(representation.shape)}"
            )
        size = int(self.config["pooled_size"])
        return F.adaptive_avg_pool2d(representation, size).flatten(1)

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Two views of the same source -> (p1, p2, z1, z2), each (B, proj_dim).

        Args:
            x1, x2: (B, 1, H, W) mask representations of the same source from two mixtures
                (AVPC mask logits, 256 x 256 at model rate).

        Returns:
            Predictions p1, p2 and projections z1, z2; feed them to :func:`rcop_loss`.
        """
        if x1.shape != x2.shape:
            raise ValueError(
                f"x2: shape {tuple(x2.shape)} does not match x1's shape {tuple(x1.shape)}"
            )
        z1 = self.projector(self.pool(x1, "x1"))
        z2 = self.projector(self.pool(x2, "x2"))
        return self.predictor(z1), self.predictor(z2), z1, z2


def rcop_loss(p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
    """Symmetric SimSiam loss: ``-(cos(p1, sg(z2)) + cos(p2, sg(z1))) / 2``, batch-averaged.

    Args:
        p1, p2, z1, z2: (B, D) predictions and projections from :class:`RCoPHeads`.

    Returns:
        Scalar in [-1, 1]; -1 when each prediction points along the other view's projection.
        No gradient flows through ``z1`` or ``z2`` (stop-gradient).
    """
    for name, tensor in (("p1", p1), ("p2", p2), ("z1", z1), ("z2", z2)):
        if tensor.dim() != 2 or tensor.shape != p1.shape:
            raise ValueError(
                f"{name}: expected (B, D) matching p1's shape {tuple(p1.shape)}, got "
                f"{tuple(tensor.shape)}"
            )
    return (_negative_cosine(p1, z2) + _negative_cosine(p2, z1)) / 2


def _negative_cosine(prediction: Tensor, projection: Tensor) -> Tensor:
    return -F.cosine_similarity(prediction, projection.detach(), dim=1).mean()


def _linear_bn(in_features: int, out_features: int) -> tuple[nn.Linear, nn.BatchNorm1d]:
    return nn.Linear(in_features, out_features), nn.BatchNorm1d(out_features)
