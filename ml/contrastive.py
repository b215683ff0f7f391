"""A self-supervised image encoder: two random detector views of each image
(ml.detector_augment) are pulled together and pushed away from the other images' views
(SimCLR's NT-Xent loss), so the encoder keeps what survives rotation, noise, shifts and
masking (rings, arcs, peaks, streaks) and drops what does not.

The encoder is the autoencoder's (ml.autoencoder.encoder_blocks, shaped by an
AutoencoderSpec); a small projection head carries the loss and is dropped for features,
as in SimCLR. Plain functions: a job passes ``on_epoch`` and ``should_stop``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.autoencoder import encoder_blocks
from ml.autoencoder_spec import AutoencoderSpec, check_spec
from ml.autoencoder_train import split_indices, train_on_images
from ml.detector_augment import DetectorAugment
from ml.training import (EpochsRun, autocast, backward_step, check_loop_options,
                         make_optimizer, needs_grad_scaler, pick_device, prepare_batch,
                         prepare_model, seed_everything, stop_check)


@dataclass
class ContrastiveOptions:
    epochs: int = 10
    batch_size: int = 128  # more images a batch: more negatives for each pair
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    temperature: float = 0.2
    val_share: float = 0.1
    seed: int = 0
    patience: int = 0
    projection_dim: int = 64
    augment: DetectorAugment = field(default_factory=DetectorAugment)


class ContrastiveEncoder(nn.Module):
    def __init__(self, spec: AutoencoderSpec, projection_dim: int):
        super().__init__()
        check_spec(spec)
        self.spec = spec
        self.projection_dim = projection_dim
        self.encoder = nn.Sequential(encoder_blocks(spec))
        self.projection = nn.Sequential(
            nn.Linear(spec.latent_dim, spec.latent_dim), nn.ReLU(inplace=True),
            nn.Linear(spec.latent_dim, projection_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The projections the loss compares (features come from ``self.encoder``)."""
        return self.projection(self.encoder(x))


def nt_xent(projections: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss of 2n projections, rows i and i + n being views of one image: each
    row's other view is the right answer among the 2n - 1 other rows."""
    n = len(projections) // 2
    unit = F.normalize(projections.float(), dim=1)
    logits = unit @ unit.T / temperature
    logits.fill_diagonal_(float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(logits.device)
    return F.cross_entropy(logits, partner)


@dataclass
class ContrastiveResult:
    model: ContrastiveEncoder  # with the weights of the best validation epoch
    run: EpochsRun


class _Trainer:
    def __init__(self, images: torch.Tensor, spec: AutoencoderSpec,
                 options: ContrastiveOptions, should_stop: Optional[Callable[[], bool]]):
        self.options = options
        self.images = images  # views are drawn on the CPU (ml.detector_augment)
        self.generator = seed_everything(options.seed)
        self.device = pick_device()
        self.train_idx, self.val_idx = split_indices(len(images), options.val_share,
                                                     self.generator)
        self.model = prepare_model(ContrastiveEncoder(spec, options.projection_dim),
                                   self.device)
        self.optimizer = make_optimizer(options.optimizer, self.model.parameters(),
                                        options.learning_rate)
        self.scaler = torch.amp.GradScaler("cuda") if needs_grad_scaler(self.device) else None
        self.check_stop = stop_check(should_stop)

    def _loss(self, indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        images = self.images[indices]
        views = torch.cat([self.options.augment(images, generator),
                           self.options.augment(images, generator)])
        with autocast(self.device):
            projections = self.model(prepare_batch(views, self.device))
        return nt_xent(projections, self.options.temperature)

    def _batches(self, indices: torch.Tensor, shuffle: bool):
        size = self.options.batch_size
        if shuffle:
            indices = indices[torch.randperm(len(indices), generator=self.generator)]
        # A last batch of a few images gives few negatives and noisy BatchNorm statistics.
        end = len(indices) - len(indices) % size if shuffle and len(indices) > size \
            else len(indices)
        return [indices[start:start + size] for start in range(0, end, size)]

    def train_epoch(self) -> float:
        self.model.train()
        total, seen = 0.0, 0
        for indices in self._batches(self.train_idx, shuffle=True):
            loss = self._loss(indices, self.generator)
            backward_step(loss, self.optimizer, self.scaler)
            total += loss.item() * len(indices)
            seen += len(indices)
            self.check_stop()
        return total / seen

    @torch.no_grad()
    def validate(self) -> float:
        """The loss on held-out images, with the same views every epoch (comparable)."""
        self.model.eval()
        generator = torch.Generator().manual_seed(self.options.seed + 1)
        total = 0.0
        for indices in self._batches(self.val_idx, shuffle=False):
            total += self._loss(indices, generator).item() * len(indices)
            self.check_stop()
        return total / len(self.val_idx)


def train_contrastive(images: np.ndarray, spec: AutoencoderSpec, options: ContrastiveOptions,
                      on_epoch: Optional[Callable[[int, dict], None]] = None,
                      should_stop: Optional[Callable[[], bool]] = None) -> ContrastiveResult:
    """Train on float32 (n, 1, M, N) images in [0, 1]; the model keeps its best epoch.

    ``on_epoch(epoch, {"train_loss", "val_loss", "seconds"})`` follows each epoch; when
    ``should_stop()`` turns true, training returns after the current batch.
    """
    check_spec(spec)
    check_loop_options(options)
    model, run = train_on_images(_Trainer, images, spec, options, on_epoch, should_stop)
    return ContrastiveResult(model.cpu(), run)
