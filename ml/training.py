"""Training building blocks chosen by name: optimizers, losses, schedules, augmentations,
early stopping, seeding and the device with its precision settings.

Nothing here touches CUDA at import time; ``pick_device`` asks only when called.
"""
from __future__ import annotations

import contextlib
import copy
import random
import time
from dataclasses import dataclass
from typing import Callable, ContextManager, Iterable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda params, lr: torch.optim.Adam(params, lr=lr),
    "adamw": lambda params, lr: torch.optim.AdamW(params, lr=lr),
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
    "rmsprop": lambda params, lr: torch.optim.RMSprop(params, lr=lr),
}

LOSSES: dict[str, Callable[[], nn.Module]] = {
    "mse": nn.MSELoss,
    "l1": nn.L1Loss,
    "smooth_l1": nn.SmoothL1Loss,
    "bce": nn.BCELoss,  # the autoencoder ends in a sigmoid, so probabilities, not logits
}


def _choose(registry: dict, name: str, what: str):
    check_choice(name, registry, what)
    return registry[name]


def check_choice(value: str, allowed, what: str) -> None:
    """ValueError naming the allowed values when ``value`` is not one of them."""
    if value not in allowed:
        raise ValueError(f"unknown {what} '{value}'; choose one of {', '.join(sorted(allowed))}")


def check_loop_options(options) -> None:
    """The options every training loop shares: at least one epoch and one image a batch."""
    for name in ("epochs", "batch_size"):
        if getattr(options, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(options, name)}")


def make_optimizer(name: str, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    if not lr > 0:
        raise ValueError(f"learning_rate must be positive, got {lr}")
    return _choose(OPTIMIZERS, name, "optimizer")(params, lr)


def make_loss(name: str) -> nn.Module:
    return _choose(LOSSES, name, "loss")()


def make_scheduler(optimizer: torch.optim.Optimizer, step_size: int,
                   gamma: float) -> Optional[torch.optim.lr_scheduler.StepLR]:
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs; None when 0."""
    if step_size <= 0:
        return None
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)


class EarlyStopping:
    """Stop after ``patience`` epochs without a loss below the best by more than ``min_delta``.

    ``patience`` 0 never stops.
    """

    def __init__(self, patience: int = 0, min_delta: float = 0.0):
        self.patience = patience
        self.min_delta = min_delta
        self.best = float("inf")
        self.bad_epochs = 0

    def improved(self, loss: float) -> bool:
        """Record one epoch's loss; True when it is a new best."""
        if loss < self.best - self.min_delta:
            self.best = loss
            self.bad_epochs = 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_epochs >= self.patience


class StopTraining(Exception):
    """Raised inside an epoch when the job was asked to stop (checked after every batch)."""


def stop_check(should_stop: Optional[Callable[[], bool]]) -> Callable[[], None]:
    """A function that raises StopTraining once ``should_stop()`` turns true."""

    def check() -> None:
        if should_stop is not None and should_stop():
            raise StopTraining

    return check


@dataclass
class EpochsRun:
    history: list[dict]  # {"epoch", **metrics} per finished epoch
    best_epoch: Optional[int] = None
    best_val_loss: Optional[float] = None
    cancelled: bool = False
    stopped_early: bool = False


def run_epochs(model: nn.Module, epochs: int, patience: int, one_epoch: Callable[[], dict],
               on_epoch: Optional[Callable[[int, dict], None]] = None) -> EpochsRun:
    """Run ``one_epoch`` (its metrics, with "val_loss") up to ``epochs`` times, stopping
    early after ``patience`` epochs without improvement (0: never) or at StopTraining.

    ``on_epoch(epoch, metrics)`` follows every epoch (numbered from 1); ``model`` ends with
    the weights of its lowest validation loss, in eval mode.
    """
    run = EpochsRun(history=[])
    stopping = EarlyStopping(patience)
    best_state = None
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            metrics = one_epoch()
            metrics["seconds"] = time.perf_counter() - start
            run.history.append({"epoch": epoch, **metrics})
            if stopping.improved(metrics["val_loss"]):
                best_state = copy.deepcopy(model.state_dict())
                run.best_epoch, run.best_val_loss = epoch, metrics["val_loss"]
            if on_epoch is not None:
                on_epoch(epoch, metrics)
            if stopping.should_stop:
                run.stopped_early = True
                break
    except StopTraining:
        run.cancelled = True
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return run


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; a CPU generator for shuffles and augmentations."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(device: torch.device) -> ContextManager:
    """Mixed precision on CUDA (bf16 where supported, else fp16); full precision on CPU."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def needs_grad_scaler(device: torch.device) -> bool:
    """fp16 (CUDA without bf16) underflows small gradients unless the loss is scaled."""
    return device.type == "cuda" and not torch.cuda.is_bf16_supported()


def backward_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                  scaler: Optional[torch.amp.GradScaler]) -> None:
    """One optimizer step on ``loss``, through the gradient scaler when there is one."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move to ``device``; channels_last on CUDA, where cuDNN convolutions prefer it."""
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def prepare_batch(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        return batch.to(device, non_blocking=True, memory_format=torch.channels_last)
    return batch.to(device)


# ---------------------------------------------------------------- augmentation

@dataclass(frozen=True)
class Augment:
    """Random flips, rotations by up to ``rotation`` degrees either way, and an intensity
    jitter (gain and offset up to ``jitter``, e.g. 0.1)."""

    hflip: bool = False
    vflip: bool = False
    jitter: float = 0.0
    rotation: float = 0.0

    @property
    def active(self) -> bool:
        return self.hflip or self.vflip or self.jitter > 0 or self.rotation > 0

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """An augmented copy of a (batch, 1, H, W) tensor in [0, 1], per-sample draws."""
        out = batch.clone()
        if self.rotation > 0:
            out = self._rotate(out, generator)
        for flip, dim in ((self.hflip, 3), (self.vflip, 2)):
            if flip:
                chosen = self._draw(len(out), generator, out.device) < 0.5
                out[chosen] = out[chosen].flip(dim)
        if self.jitter > 0:
            gain = 1 + self.jitter * (2 * self._draw(len(out), generator, out.device) - 1)
            offset = self.jitter * (2 * self._draw(len(out), generator, out.device) - 1)
            out = (out * gain.view(-1, 1, 1, 1) + offset.view(-1, 1, 1, 1)).clamp_(0, 1)
        return out

    @staticmethod
    def _draw(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        return torch.rand(n, generator=generator).to(device)

    def _rotate(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Each image turned about its centre; corners that come in from outside are 0."""
        angles = torch.deg2rad(self.rotation * (2 * self._draw(len(batch), generator,
                                                                batch.device) - 1))
        cos, sin = angles.cos(), angles.sin()
        # affine_grid works in [-1, 1] coordinates: the aspect ratio keeps non-square
        # images from being sheared.
        aspect = batch.shape[2] / batch.shape[3]
        zeros = torch.zeros_like(cos)
        theta = torch.stack([torch.stack([cos, -sin * aspect, zeros], 1),
                             torch.stack([sin / aspect, cos, zeros], 1)], 1)
        grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
        return F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros",
                             align_corners=False)


# (augment, batch, generator) -> (model input, target)
AugmentMode = Callable[[Augment, torch.Tensor, torch.Generator],
                       tuple[torch.Tensor, torch.Tensor]]


def _invariant(augment: Augment, batch: torch.Tensor, generator: torch.Generator):
    """Learn to map the augmented image back to the clean one."""
    return augment(batch, generator), batch


def _both(augment: Augment, batch: torch.Tensor, generator: torch.Generator):
    """Reconstruct the augmented image itself: augmentation only widens the data."""
    augmented = augment(batch, generator)
    return augmented, augmented


AUGMENT_MODES: dict[str, AugmentMode] = {"invariant": _invariant, "both": _both}


def augment_pair(augment: Augment, mode: str, batch: torch.Tensor,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(model input, target) of one training batch."""
    if not augment.active:
        return batch, batch
    return _choose(AUGMENT_MODES, mode, "augment_mode")(augment, batch, generator)
