"""A small encoder trained on the labels made so far: the contrastive encoder's shape
(ml.autoencoder.encoder_blocks) with a linear head over the classes, trained for a fixed
number of steps on detector views of the labeled images. Seconds on a CPU at the sizes the
label page uses, so it can be retrained every few hundred labels; its features, next to the
self-supervised ones, let the suggestions learn what the labels say the classes are.

When the features it goes alongside come from a contrastive encoder of the same shape, it
starts from that encoder's weights (fine-tuning what was learnt without labels) instead of
from random ones.

Measured offline on MNIST 5,000 (suggestion review, see issue 12): logistic regression on
[contrastive, this encoder] features retrained every 500 labels gave 25 labels per action,
against 16 for the contrastive features alone.
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
from ml.detector_augment import DetectorAugment
from ml.training import (autocast, backward_step, needs_grad_scaler, pick_device, prepare_batch,
                         prepare_model, seed_everything, stop_check)

DROPOUT = 0.2
PEAK_LEARNING_RATE_FACTOR = 3.0  # one-cycle schedule: up to this times the learning rate


@dataclass
class LabelEncoderOptions:
    steps: int = 600
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    augment: DetectorAugment = field(default_factory=DetectorAugment)
    # an encoder_blocks state dict of the same spec to start from; None: random weights
    start_weights: Optional[dict] = None


def label_encoder(spec: AutoencoderSpec, classes: int) -> nn.Sequential:
    """[encoder, ReLU, dropout, linear]: ``model[0]`` gives the features."""
    check_spec(spec)
    return nn.Sequential(nn.Sequential(encoder_blocks(spec)), nn.ReLU(), nn.Dropout(DROPOUT),
                         nn.Linear(spec.latent_dim, classes))


def train_label_encoder(images: np.ndarray, targets: np.ndarray, spec: AutoencoderSpec,
                        options: LabelEncoderOptions,
                        on_step: Optional[Callable[[int, float], None]] = None,
                        should_stop: Optional[Callable[[], bool]] = None) -> nn.Module:
    """The encoder (on the CPU, in eval mode) after training on float32 (n, 1, M, N)
    ``images`` in [0, 1] with class indices ``targets`` (0 .. classes - 1)."""
    generator = seed_everything(options.seed)
    device = pick_device()
    model = label_encoder(spec, int(targets.max()) + 1)
    if options.start_weights is not None:
        model[0].load_state_dict(options.start_weights)
    model = prepare_model(model, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=options.learning_rate * PEAK_LEARNING_RATE_FACTOR,
        total_steps=options.steps)
    scaler = torch.amp.GradScaler("cuda") if needs_grad_scaler(device) else None
    check_stop = stop_check(should_stop)
    pixels, classes = torch.from_numpy(images), torch.from_numpy(targets.astype(np.int64))
    model.train()
    for step in range(options.steps):
        chosen = torch.randint(len(pixels), (min(options.batch_size, len(pixels)),),
                               generator=generator)
        views = options.augment(pixels[chosen], generator)
        with autocast(device):
            logits = model(prepare_batch(views, device))
        loss = F.cross_entropy(logits.float(), classes[chosen].to(device))
        backward_step(loss, optimizer, scaler)
        schedule.step()
        if on_step is not None:
            on_step(step + 1, loss.item())
        check_stop()
    return model[0].cpu().eval()
