"""The training loop: epochs of mix-and-separate (RCoP, visual pre-training) steps, validation,
checkpoints, resume.

A run folder (``out_dir``) holds::

    state.json               epoch done, last epoch checkpoint, best model and its score
    checkpoints/<name>-epochNNN-<sha8>.pt   every epoch: model + optimizer and RNG
                             state in ``extra`` (the last ``[train] keep_checkpoints`` are kept)
    <name>-<sha8>.pt         the best model so far (validation SDR; RCoP: lowest validation
                             loss; visual: highest validation accuracy), self-describing,
                             ready for ``avpc models register``
    metrics.jsonl            one JSON object per line: "train" (every ``log_every`` steps),
                             "val" (after each validation)
    curves.png               loss and validation SDR / SIR / SAR curves

Exact resume: every epoch starts by seeding torch, numpy and ``random`` from ``(seed, epoch,
rank)`` and the sampler reshuffles from ``(seed, epoch)``, so an epoch's data and augmentation do
not depend on what ran before; the model and optimizer states (learning rates included) come
back from the last epoch checkpoint. A resumed run therefore repeats the uninterrupted run's
losses exactly (on the same device and library versions).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from avpc_plugin.atomic import write_bytes_atomically
from avpc_plugin.checkpoints.files import RUN_STATE_FILE, CheckpointError, run_checkpoint
from avpc_plugin.checkpoints.format import load_checkpoint, save_checkpoint
from avpc_plugin.nets.rcop import RCoPHeads
from avpc_plugin.nets.registry import build_net
from avpc_plugin.train.config import ConfigError, TrainConfig
from avpc_plugin.train.data import instrument_classes, make_loaders, objective_inputs
from avpc_plugin.train.distributed import DistributedContext, barrier, wrap_model
from avpc_plugin.train.objective import (
    RCoPObjective,
    SeparationObjective,
    VisualClassificationObjective,
)
from avpc_plugin.train.plots import plot_curves, read_metrics
from avpc_plugin.train.validation import validate

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"


class TrainingError(RuntimeError):
    """A run that cannot start or resume (the message says why and what to do)."""


@dataclass
class RunState:
    """What ``state.json`` records about a run."""

    epoch: int = 0
    step: int = 0
    last: str | None = None
    best: str | None = None
    best_score: float | None = None
    best_epoch: int | None = None
    history: list[str] = field(default_factory=list)
    """Epoch checkpoint files still on disk, oldest first (relative to the run folder)."""


def lr_drop_epochs(epochs: int, fractions: list[float]) -> list[int]:
    """Epochs (counted from 1) after which the learning rates drop: ``round(f * epochs)``.

    For the paper's 100 epochs and drops at 0.4 and 0.8: [40, 80], as the reference's
    ``lr_steps``. Drops that would fall at epoch 0 or past the end are left out.
    """
    return sorted({round(f * epochs) for f in fractions if 0 < round(f * epochs) < epochs})


def set_learning_rates(
    optimizer: torch.optim.Optimizer, epoch: int, drops: list[int], factor: float
) -> None:
    """Set every group's lr for ``epoch`` (from 0): its ``base_lr`` times ``factor`` per drop
    epoch already passed (a drop at epoch 40 applies from the 41st epoch, index 40, on)."""
    scale = factor ** sum(epoch >= drop for drop in drops)
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * scale


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """Seed of one rank's epoch: a hash of ``(seed, epoch, rank)`` in [0, 2**63)."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(2, np.uint64)[0] >> 1)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy's and Python's global generators."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def build_training_model(config: TrainConfig) -> nn.Module:
    """The config's net, with fresh weights (seeded by ``config.seed``) or those of ``init_from``.

    Raises:
        ConfigError: ``init_from`` does not hold a checkpoint of the same architecture.
    """
    torch.manual_seed(config.seed)
    model = build_net(config.model.arch, **config.model.config)
    if config.init_from is not None:
        path = resolve_init_checkpoint(config.init_from)
        try:
            loaded = load_checkpoint(path)
        except CheckpointError as err:
            raise ConfigError(f"init_from: {err}") from None
        if loaded.arch != config.model.arch:
            raise ConfigError(
                f"init_from: {path} holds an {loaded.arch!r} model, [model] arch is "
                f"{config.model.arch!r}"
            )
        try:
            model.load_state_dict(loaded.model.state_dict(), strict=True)
        except RuntimeError as err:
            raise ConfigError(
                f"init_from: {path} does not fit [model.config] ({str(err).splitlines()[0]}): "
                f"the checkpoint was built with {loaded.config}"
            ) from None
    return model


def resolve_init_checkpoint(path: Path) -> Path:
    """A checkpoint file, or a run folder's best model (its last epoch checkpoint if no best)."""
    if path.is_file():
        return path
    try:
        return run_checkpoint(path)
    except FileNotFoundError as err:
        raise ConfigError(f"init_from: {path} is not a checkpoint file ({err})") from None


def make_optimizer(
    model: nn.Module, heads: nn.Module | None, config: TrainConfig
) -> torch.optim.Optimizer:
    """The config's optimizer over the net's parameter groups (plus the stage's heads' group:
    RCoP's SimSiam heads or the visual stage's classifier, at ``lr_heads``)."""
    optim = config.optim
    groups: list[dict[str, Any]] = model.param_groups(optim.lr_sound, optim.lr_visual)  # type: ignore[operator]
    if heads is not None:
        groups.append(
            {
                "name": f"{config.stage}_heads",
                "params": list(heads.parameters()),
                "lr": optim.lr_heads,
            }
        )
    groups = [{**g, "base_lr": g["lr"]} for g in groups if g["params"]]
    if optim.optimizer == "sgd":
        return torch.optim.SGD(groups, momentum=optim.momentum, weight_decay=optim.weight_decay)
    return torch.optim.AdamW(
        groups, betas=(optim.betas[0], optim.betas[1]), weight_decay=optim.weight_decay
    )


class Trainer:
    """Trains one config on given datasets (see the module docstring for the run folder).

    Args:
        config: the checked training config.
        train_set, val_set: datasets of mix-and-separate items (``mix``, ``audios``, ``frames``);
            see :func:`~avpc_plugin.train.data.build_datasets`.
        ctx: the distributed context (world size 1 by default, on the CPU).
        progress: show a progress bar (rank 0 only).
    """

    def __init__(
        self,
        config: TrainConfig,
        train_set: Dataset[Any],
        val_set: Dataset[Any],
        ctx: DistributedContext | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.ctx = ctx or DistributedContext()
        self.progress = progress
        self.out_dir = config.out_dir
        if config.train.batch_size % self.ctx.world_size:
            raise ConfigError(
                f"[train] batch_size: {config.train.batch_size} does not divide over "
                f"{self.ctx.world_size} ranks"
            )
        self.per_rank_batch = config.train.batch_size // self.ctx.world_size
        device = self.ctx.device
        cuda = device.type == "cuda"
        hardware = config.hardware

        self.model = build_training_model(config)
        self.heads: nn.Module | None = None
        self.classes: list[str] | None = None
        objective: nn.Module
        if config.stage == "rcop":
            self.heads = RCoPHeads(**vars(config.rcop))
            objective = RCoPObjective(self.model, self.heads, bf16=hardware.bf16)
        elif config.stage == "visual":
            self.classes = instrument_classes(train_set)
            try:
                objective = VisualClassificationObjective(
                    self.model, len(self.classes), bf16=hardware.bf16
                )
            except ValueError as err:
                raise ConfigError(f"stage 'visual': {err} ([model.config] freeze_trunk)") from None
            self.heads = objective.classifier
        else:
            objective = SeparationObjective(self.model, config.loss, bf16=hardware.bf16)
        objective.to(device)
        if cuda and hardware.channels_last:
            objective.to(memory_format=torch.channels_last)
        self.objective = objective
        runner = wrap_model(objective, self.ctx)
        self.runner: Any = torch.compile(runner) if cuda and hardware.compile else runner
        self.optimizer = make_optimizer(self.model, self.heads, config)
        self.lr_drops = lr_drop_epochs(config.train.epochs, config.optim.lr_drops)
        self.train_loader, self.val_loader = make_loaders(
            train_set, val_set, self.ctx, self.per_rank_batch, config.data.workers, config.seed,
            hardware.pin_memory,
        )  # fmt: skip
        if len(self.train_loader) == 0:
            raise ConfigError(
                f"[train] batch_size: {config.train.batch_size} is larger than the "
                f"{len(train_set)} training items per epoch ([data] train_items)"  # type: ignore[arg-type]
            )
        self.state = RunState()

    # ------------------------------------------------------------------------------- the loop

    def fit(self, resume: bool = False) -> RunState:
        """Train to ``[train] epochs``; with ``resume``, go on from the run folder's last epoch.

        Raises:
            TrainingError: a fresh run into a folder that already holds one, or a resume without
                a run to resume.
        """
        state_path = self.out_dir / RUN_STATE_FILE
        if resume:
            self._resume()
        elif state_path.exists():
            raise TrainingError(
                f"{self.out_dir} already holds a run ({RUN_STATE_FILE}): pass --resume to "
                "continue it, or choose another out_dir"
            )
        if self.ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        for epoch in range(self.state.epoch, self.config.train.epochs):
            set_learning_rates(self.optimizer, epoch, self.lr_drops, self.config.optim.lr_factor)
            self._train_epoch(epoch)
            last = epoch + 1 == self.config.train.epochs
            scores = None
            if (epoch + 1) % self.config.train.val_every == 0 or last:
                scores = validate(
                    self.objective, self.val_loader, self.ctx,
                    threshold=self._validation_threshold(),
                    separation=self.config.stage == "separate", classes=self.classes,
                )  # fmt: skip
            self.state.epoch = epoch + 1
            if self.ctx.is_main:
                if scores is not None:
                    self._log({"kind": "val", "epoch": epoch + 1, **scores})
                self._save(scores, time.perf_counter() - start)
                if scores is not None:  # on the terminal too, bar or no bar
                    self._report(epoch + 1, scores)
                plot_curves(read_metrics(self.out_dir / METRICS_FILE), self.out_dir / CURVES_FILE)
            barrier(self.ctx)
        return self.state

    def _report(self, epoch: int, scores: dict[str, float]) -> None:
        values = ", ".join(f"{key} {value:.3f}" for key, value in scores.items())
        best = " (best so far)" if self.state.best_epoch == epoch else ""
        tqdm.write(f"epoch {epoch}/{self.config.train.epochs} validation: {values}{best}")

    def _validation_threshold(self) -> float | None:
        """Binary-mask models are scored with thresholded masks (the reference), others soft."""
        return self.config.loss.threshold if self.config.loss.mask == "binary" else None

    def _train_epoch(self, epoch: int) -> None:
        seed_everything(epoch_seed(self.config.seed, epoch, self.ctx.rank))
        self.train_loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        self.objective.train()
        steps = len(self.train_loader)
        mixtures = self.per_rank_batch * self.ctx.world_size
        bar = tqdm(
            self.train_loader, total=steps, desc=f"epoch {epoch + 1}/{self.config.train.epochs}",
            unit="batch", disable=not (self.progress and self.ctx.is_main), leave=False,
        )  # fmt: skip
        tick = time.perf_counter()
        for index, batch in enumerate(bar):
            loss = self.runner(*objective_inputs(batch, self.ctx.device, self.classes)).loss
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.optim.grad_clip > 0:
                nn.utils.clip_grad_norm_(self.objective.parameters(), self.config.optim.grad_clip)
            self.optimizer.step()
            self.state.step += 1
            value = float(loss.detach())
            now = time.perf_counter()
            rate = mixtures / max(now - tick, 1e-9)
            tick = now
            bar.set_postfix(loss=f"{value:.4f}", mix_per_s=f"{rate:.1f}")
            if self.ctx.is_main and self.state.step % self.config.train.log_every == 0:
                self._log({
                    "kind": "train", "epoch": epoch + 1, "epoch_f": epoch + (index + 1) / steps,
                    "step": self.state.step, "loss": value,
                    "lr_sound": self.optimizer.param_groups[0]["lr"], "mixtures_per_s": rate,
                })  # fmt: skip
        bar.close()

    # ------------------------------------------------------------------- checkpoints and resume

    def _save(self, scores: dict[str, float] | None, elapsed: float) -> None:
        config, state = self.config, self.state
        improved = False
        if scores is not None:
            score = _selection_score(config.stage, scores)
            if np.isfinite(score) and (state.best_score is None or score > state.best_score):
                state.best_score, state.best_epoch, improved = float(score), state.epoch, True
        summary = {
            "stage": config.stage, "epoch": state.epoch, "step": state.step,
            "mask": config.loss.mask, "threshold": config.loss.threshold,
            "validation": scores or {}, "best_epoch": state.best_epoch,
            "train_data": str(config.data.train), "val_data": str(config.data.val),
            "world_size": self.ctx.world_size, "device": self.ctx.device.type,
            "train_seconds": elapsed, "config": config.to_dict(),
        }  # fmt: skip
        extra = {
            "optimizer": self.optimizer.state_dict(),
            "rng": _rng_state(),
            "run_state": json.dumps(vars(state)),
            "heads": self.heads.state_dict() if self.heads is not None else {},
        }
        folder = self.out_dir / "checkpoints"
        path = save_checkpoint(
            self.model, folder, f"{config.name}-epoch{state.epoch:03d}", summary, extra
        )
        state.last = str(path.relative_to(self.out_dir))
        state.history.append(state.last)
        while len(state.history) > config.train.keep_checkpoints:
            (self.out_dir / state.history.pop(0)).unlink(missing_ok=True)
        if improved:
            previous = state.best
            best = save_checkpoint(self.model, self.out_dir, config.name, summary)
            state.best = best.name
            if previous and previous != best.name:
                (self.out_dir / previous).unlink(missing_ok=True)
        write_bytes_atomically(
            self.out_dir / RUN_STATE_FILE, json.dumps(vars(state), indent=2).encode("utf-8")
        )

    def _resume(self) -> None:
        state_path = self.out_dir / RUN_STATE_FILE
        if not state_path.is_file():
            raise TrainingError(
                f"--resume: {self.out_dir} holds no run to resume (no {RUN_STATE_FILE})"
            )
        recorded = RunState(**json.loads(state_path.read_text(encoding="utf-8")))
        if recorded.last is None:
            raise TrainingError(f"--resume: {state_path} names no epoch checkpoint")
        loaded = load_checkpoint(self.out_dir / recorded.last, map_location=self.ctx.device)
        extra = loaded.extra
        try:
            self.model.load_state_dict(loaded.model.state_dict(), strict=True)
            self.optimizer.load_state_dict(extra["optimizer"])
            if self.heads is not None:
                self.heads.load_state_dict(extra["heads"])
        except (RuntimeError, ValueError, KeyError) as err:
            lines = [line.strip() for line in str(err).splitlines() if line.strip()]
            first = " ".join(lines[:2])[:300] or type(err).__name__  # the heading and a cause
            raise TrainingError(
                f"--resume: {recorded.last} was trained with another [model] or [optim] than "
                f"the config asks for now ({first}); resume with the run's own config, or "
                "start a new run in another out_dir"
            ) from None
        _set_rng_state(extra["rng"])
        self.state = RunState(**json.loads(extra["run_state"]))
        self.state.best, self.state.best_score = recorded.best, recorded.best_score
        self.state.best_epoch, self.state.history = recorded.best_epoch, recorded.history
        if self.ctx.is_main:  # drop metrics of a partial epoch that will be repeated
            kept = [
                r
                for r in read_metrics(self.out_dir / METRICS_FILE)
                if r["epoch"] <= self.state.epoch
            ]
            payload = "".join(json.dumps(r) + "\n" for r in kept)
            write_bytes_atomically(self.out_dir / METRICS_FILE, payload.encode("utf-8"))

    def _log(self, record: dict[str, Any]) -> None:
        with open(self.out_dir / METRICS_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _selection_score(stage: str, scores: dict[str, float]) -> float:
    """Higher is better: validation SDR (separate), accuracy (visual), minus the loss (RCoP)."""
    if stage == "separate":
        return scores["sdr"]
    if stage == "visual":
        return scores["accuracy"]
    return -scores["loss"]


def _rng_state() -> dict[str, Any]:
    numpy_state: Any = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy_keys": torch.from_numpy(np.asarray(numpy_state[1], dtype=np.int64)),
        "numpy_pos": int(numpy_state[2]),
        "python": json.dumps(random.getstate()),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_pos"], 0, 0.0))
    version, internal, gauss = json.loads(state["python"])
    random.setstate((version, tuple(internal), gauss))
