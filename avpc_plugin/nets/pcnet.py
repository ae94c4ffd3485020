"""PCNet: the predictive-coding sound separation net of AVPC.

One recurrent net does audio feature extraction, audio-visual fusion and mask prediction.

The hierarchy has ``n`` levels between the spectrogram and the visual map (``n = 7`` for the
paper's 2 x 2 map). Level ``0`` is the coarsest (next to the visual map, e.g. 8g x 2 x 2) and level
``n - 1`` the finest (g x 128 x 128, next to the spectrogram). Every level keeps

* a representation ``r[l]``, and
* a prediction ``p[l]`` of it made from the finer level ``l + 1`` (``p[n - 1]`` comes from the
  spectrogram and never changes).

Two kinds of connection link neighbouring levels:

* ``predictors[l]`` (3x3 conv + 2x2 max-pool) map level ``l`` to a prediction of the coarser
  level ``l - 1``; ``predictors[0]`` predicts the visual map, the fixed top of the hierarchy;
* ``correctors[l]`` (2x bilinear upsampling + 3x3 transposed conv) carry the prediction error of
  the coarser level (``r[l - 1] - p[l - 1]``, or ``visual - predicted visual`` for ``l = 0``)
  back into level ``l``.

An initial feed-forward pass fills ``p`` (each prediction BatchNorm-ed and leaky-ReLU-ed) and
then ``r`` (the coarse -> fine correction below, starting from ``r = p``). Each recurrent cycle

1. walks fine -> coarse, blending every representation with a new prediction, the raw output
   of ``predictors[l + 1]`` (``r[l] <- (1 - b_l) r[l] + b_l p[l]``, feedback rate
   ``b = relu(prediction_rates)``), and
2. walks coarse -> fine, adding the lifted prediction error of the level above
   (``r[l] <- r[l] + a_l corrector_l(error)``, error rate ``a = relu(correction_rates)``).

Every update is followed by a BatchNorm (one set per trained cycle; cycles beyond those trained
reuse the last set; the finest level's blend has none) and a leaky ReLU (slope 0.2).
``mask_decoder`` turns the finest representation into mask logits at the spectrogram's size.

This is numerically the reference ``PCNetLR`` (zjsong/Audio-Visual-Predictive-Coding,
``avpc/models/audio_net.py``) with its ``forward_test_stage`` cycle rule; the converter in
:mod:`avpc_plugin.checkpoints.convert` maps its state dicts one-to-one onto this module. (The
reference calls the predictors ``DownConvs`` and the correctors ``UpConvs``.)
"""

from __future__ import annotations

import itertools
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avpc_plugin.nets.layers import (
    ConvPool,
    UpsampleConvT,
    check_shape,
    leaky_relu_,
    to_channels_last,
)
from avpc_plugin.nets.registry import register_net

VISUAL_MAP_SIZES = (1, 2, 4, 7)
"""Supported side lengths ``k`` of the (k x k) visual feature map."""

_LEVEL_WIDTHS: dict[int, tuple[int, ...]] = {
    # channels per level in units of ngf, coarsest level first
    1: (8, 4, 4, 2, 2, 1, 1),
    2: (8, 4, 4, 2, 2, 1, 1),
    4: (4, 4, 2, 2, 1, 1),
    7: (4, 2, 2, 1, 1),
}
_COARSEST_LEVEL_SIZE = {1: 2, 2: 2, 4: 4, 7: 8}
"""Side of the coarsest level's map: the spectrogram side divided by 2 ** (number of levels)."""


def level_channels(ngf: int, visual_map_size: int) -> list[int]:
    """Channels of each hierarchy level, coarsest (next to the visual map) first.

    ``ngf = g`` and a 2 x 2 map give ``[8g, 4g, 4g, 2g, 2g, g, g]``; a 4 x 4 map drops the
    first level, a 7 x 7 map the first two and one of the 4g levels (the reference variants).
    """
    _check_visual_map_size(visual_map_size)
    return [ngf * width for width in _LEVEL_WIDTHS[visual_map_size]]


def _check_visual_map_size(visual_map_size: int) -> None:
    if visual_map_size not in VISUAL_MAP_SIZES:
        raise ValueError(
            f"visual_map_size: expected one of {VISUAL_MAP_SIZES}, got {visual_map_size!r}"
        )


def _visual_links(visual_map_size: int, coarsest: int, visual: int) -> tuple[nn.Module, nn.Module]:
    """The (predictor, corrector) pair between the coarsest level and the visual map.

    2 x 2 and 4 x 4 maps have the coarsest level at the map's size (1x1 convs); a 1 x 1 map sits
    one pooling step above it; a 7 x 7 map is one pixel smaller than the 8 x 8 level (2x2 convs
    without padding).
    """
    if visual_map_size == 1:
        return ConvPool(coarsest, visual), UpsampleConvT(visual, coarsest)
    if visual_map_size == 7:
        return (
            nn.Conv2d(coarsest, visual, kernel_size=2, bias=False),
            nn.ConvTranspose2d(visual, coarsest, kernel_size=2, bias=False),
        )
    return (
        nn.Conv2d(coarsest, visual, kernel_size=1, bias=False),
        nn.Conv2d(visual, coarsest, kernel_size=1, bias=False),
    )


def _norms(channels: list[int]) -> nn.ModuleList:
    return nn.ModuleList(nn.BatchNorm2d(c) for c in channels)


def _rates(channels: list[int], init: float) -> nn.ParameterList:
    return nn.ParameterList(nn.Parameter(torch.full((1, c, 1, 1), init)) for c in channels)


@register_net("pcnet")
class PCNet(nn.Module):
    """Predictive-coding sound separation net (see the module docstring for the dynamics).

    Args:
        ngf: base channel width ``g`` (64 in the paper).
        train_cycles: recurrent cycles run in training, each with its own BatchNorm layers (>= 1).
        visual_channels: channels of the visual feature map (16 in the paper).
        visual_map_size: side ``k`` of the visual feature map, one of 1, 2 (paper), 4, 7.
        out_channels: mask channels (1).

    With ``ngf = 64``, 4 cycles and ``k = 2`` the net has 4,692,866 parameters; every further
    trained cycle adds 5,504 (its BatchNorm weights and biases).
    """

    def __init__(
        self,
        ngf: int = 64,
        train_cycles: int = 4,
        visual_channels: int = 16,
        visual_map_size: int = 2,
        out_channels: int = 1,
    ) -> None:
        super().__init__()
        for name, value in (
            ("ngf", ngf),
            ("train_cycles", train_cycles),
            ("visual_channels", visual_channels),
            ("out_channels", out_channels),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        _check_visual_map_size(visual_map_size)
        self.config: dict[str, Any] = {
            "ngf": ngf,
            "train_cycles": train_cycles,
            "visual_channels": visual_channels,
            "visual_map_size": visual_map_size,
            "out_channels": out_channels,
        }
        self.train_cycles = train_cycles
        self.visual_channels = visual_channels
        self.visual_map_size = visual_map_size

        channels = level_channels(ngf, visual_map_size)
        self.level_channels = channels
        self.num_levels = len(channels)
        self.input_size = _COARSEST_LEVEL_SIZE[visual_map_size] * 2**self.num_levels
        """Side of the square log-spectrogram the net takes (256 for every map size)."""

        visual_predictor, visual_corrector = _visual_links(
            visual_map_size, channels[0], visual_channels
        )
        self.input_norm = nn.BatchNorm2d(1)
        self.spec_encoder = ConvPool(1, channels[-1])
        self.predictors = nn.ModuleList(
            [visual_predictor]
            + [ConvPool(fine, coarse) for coarse, fine in itertools.pairwise(channels)]
        )
        self.correctors = nn.ModuleList(
            [visual_corrector]
            + [UpsampleConvT(coarse, fine) for coarse, fine in itertools.pairwise(channels)]
        )
        self.mask_decoder = UpsampleConvT(channels[-1], out_channels)

        self.correction_rates = _rates(channels, 1.0)
        self.prediction_rates = _rates(channels, 0.5)

        self.encoder_norms = _norms(channels)
        self.init_correction_norms = _norms(channels)
        # the finest level's prediction step has no BatchNorm (its prediction comes from the input)
        self.cycle_prediction_norms = nn.ModuleList(
            _norms(channels[:-1]) for _ in range(train_cycles)
        )
        self.cycle_correction_norms = nn.ModuleList(_norms(channels) for _ in range(train_cycles))

    def forward(self, log_mag: Tensor, visual_map: Tensor, cycles: int | None = None) -> Tensor:
        """Mask logits for each (mixture, visual map) pair.

        Args:
            log_mag: (B, 1, 256, 256) log magnitude of the (log-frequency warped) mixture.
            visual_map: (B * M, visual_channels, k, k) visual feature maps, M >= 1 per mixture:
                items ``b * M ... b * M + M - 1`` are all separated from mixture ``b``, which
                lets several sources share the mixture's feed-forward pass (in training, that
                pass's BatchNorm statistics then count each mixture once).
            cycles: recurrent cycles to run; ``None`` runs ``train_cycles``. ``0`` runs only the
                initial feed-forward pass. Cycles past ``train_cycles`` reuse the last trained
                cycle's BatchNorm layers (the reference test-time rule).

        Returns:
            (B * M, out_channels, 256, 256) mask logits (pre-sigmoid).
        """
        cycles = self._check_inputs(log_mag, visual_map, cycles)
        sources_per_mix = visual_map.shape[0] // log_mag.shape[0]
        finest = self.num_levels - 1

        # initial pass, fine -> coarse: predictions of every level from the mixture alone
        # channels-last all through: on CPU about 10x faster pooling and faster convs
        encoded = self.spec_encoder(to_channels_last(self.input_norm(log_mag)))
        # the rates in the activations' dtype (bf16 or float16 under autocast, where the convs
        # run in it): float32 rates would promote the states to float32, which torch.lerp
        # refuses to blend with a low-precision prediction
        error_rates = [F.relu(rate).to(encoded.dtype) for rate in self.correction_rates]
        feedback_rates = [F.relu(rate).to(encoded.dtype) for rate in self.prediction_rates]
        fine_to_coarse = [leaky_relu_(self.encoder_norms[finest](encoded))]
        for level in range(finest, 0, -1):
            coarser = self.predictors[level](fine_to_coarse[-1])
            fine_to_coarse.append(leaky_relu_(self.encoder_norms[level - 1](coarser)))
        pred = fine_to_coarse[::-1]
        if sources_per_mix > 1:
            pred = [p.repeat_interleave(sources_per_mix, dim=0) for p in pred]

        # initial pass, coarse -> fine: correct the predictions with the errors from above
        rep = list(pred)
        self._correct(visual_map, rep, pred, error_rates, self.init_correction_norms)

        for cycle in range(cycles):
            norm_set = min(cycle, self.train_cycles - 1)
            prediction_norms = cast(nn.ModuleList, self.cycle_prediction_norms[norm_set])
            rep[finest] = leaky_relu_(torch.lerp(rep[finest], pred[finest], feedback_rates[finest]))
            for level in range(finest, 0, -1):
                pred[level - 1] = self.predictors[level](rep[level])
                blended = torch.lerp(rep[level - 1], pred[level - 1], feedback_rates[level - 1])
                rep[level - 1] = leaky_relu_(prediction_norms[level - 1](blended))
            correction_norms = cast(nn.ModuleList, self.cycle_correction_norms[norm_set])
            self._correct(visual_map, rep, pred, error_rates, correction_norms)

        return self.mask_decoder(rep[finest]).contiguous()

    def _correct(
        self,
        visual_map: Tensor,
        rep: list[Tensor],
        pred: list[Tensor],
        error_rates: list[Tensor],
        norms: nn.ModuleList,
    ) -> None:
        """Coarse -> fine, in place over the list ``rep``:
        ``rep[l] <- lrelu(norm_l(rep[l] + a_l * corrector_l(error of the level above)))``."""
        error = visual_map - leaky_relu_(self.predictors[0](rep[0]))
        for level in range(self.num_levels):
            if level > 0:
                error = rep[level - 1] - pred[level - 1]
            lifted = self.correctors[level](error)
            rep[level] = leaky_relu_(
                norms[level](torch.addcmul(rep[level], error_rates[level], lifted))
            )

    def _check_inputs(self, log_mag: Tensor, visual_map: Tensor, cycles: int | None) -> int:
        side, k, c = self.input_size, self.visual_map_size, self.visual_channels
        check_shape(log_mag, "log_mag", ("B", 1, side, side))
        check_shape(visual_map, "visual_map", ("B * M", c, k, k))
        mixes, maps = log_mag.shape[0], visual_map.shape[0]
        if mixes == 0 or maps == 0 or maps % mixes:
            raise ValueError(
                f"visual_map: batch {maps} is not a positive multiple of log_mag's batch {mixes}"
            )
        if cycles is None:
            return self.train_cycles
        if not isinstance(cycles, int) or isinstance(cycles, bool) or cycles < 0:
            raise ValueError(f"cycles: expected a non-negative int or None, got {cycles!r}")
        return cycles
