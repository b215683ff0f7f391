"""Train a ConvAutoencoder on an image array, save and load it, and run inference.

Plain functions: a job wrapper passes ``on_epoch`` (progress and metrics) and
``should_stop`` (cooperative cancel, checked after every batch).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Optional

import numpy as np
import torch
from torch import nn

from ml.autoencoder import ConvAutoencoder
from ml.autoencoder_spec import AutoencoderSpec, check_spec
from ml.collapse import CollapseCheck, check_collapse
from ml.fine_tuning import parameter_groups
from ml.training import (AUGMENT_MODES, Augment, EpochsRun, augment_pair, autocast,
                         backward_step, check_choice, check_loop_options, make_loss,
                         make_optimizer, make_scheduler, needs_grad_scaler, pick_device,
                         prepare_batch, prepare_model, run_epochs, seed_everything,
                         stop_check)

EpochCallback = Callable[[int, dict], None]
StopCheck = Callable[[], bool]
MODEL_FORMAT = 1
# Training sets up to this size are copied to the GPU once instead of batch by batch.
DEVICE_RESIDENT_BYTES = 2 * 1024 ** 3


@dataclass
class TrainOptions:
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    loss: str = "mse"
    val_share: float = 0.2
    step_size: int = 0  # learning-rate decay every step_size epochs; 0: constant
    gamma: float = 0.1
    seed: int = 0
    patience: int = 0  # early stopping after this many epochs without improvement; 0: off
    augment: Augment = field(default_factory=Augment)
    augment_mode: str = "invariant"  # a key of ml.training.AUGMENT_MODES
    # Fine-tuning: a function that loads the starting weights into the new model (None:
    # random weights); the encoder frozen, or learning at this share of the learning rate.
    start_from: Optional[Callable[[nn.Module], None]] = None
    freeze_encoder: bool = False
    pretrained_lr_scale: float = 1.0


@dataclass
class TrainResult:
    model: ConvAutoencoder  # with the weights of the best validation epoch
    history: list[dict] = field(default_factory=list)  # one metrics dict per finished epoch
    best_epoch: Optional[int] = None
    best_val_loss: Optional[float] = None
    cancelled: bool = False
    stopped_early: bool = False


def split_indices(n: int, val_share: float, generator: torch.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) indices of a seeded shuffle; at least one image in each."""
    if n < 2:
        raise ValueError(f"training needs at least 2 images, got {n}")
    if not 0 < val_share < 1:
        raise ValueError(f"val_share must be between 0 and 1, got {val_share}")
    n_val = min(n - 1, max(1, round(n * val_share)))
    order = torch.randperm(n, generator=generator)
    return order[n_val:], order[:n_val]


def train_on_images(trainer_class: Callable, images: np.ndarray, spec: AutoencoderSpec,
                    options, on_epoch: Optional[EpochCallback],
                    should_stop: Optional[StopCheck]) -> tuple[nn.Module, EpochsRun]:
    """Train ``trainer_class(images, spec, options, should_stop)`` (its ``model``,
    ``train_epoch()`` and ``validate()``) on float32 (n, 1, M, N) images of the spec's size
    for the options' epochs: (its model at its best epoch, the run)."""
    if images.ndim != 4 or images.shape[1:] != (1, *spec.image_size):
        raise ValueError(f"images must be (n, 1, {spec.image_size[0]}, {spec.image_size[1]}), "
                         f"got {images.shape}; load them with the spec's image_size")
    trainer = trainer_class(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)),
                            spec, options, should_stop)
    run = run_epochs(trainer.model, options.epochs, options.patience,
                     lambda: {"train_loss": trainer.train_epoch(),
                              "val_loss": trainer.validate()}, on_epoch)
    return trainer.model, run


def _check_options(options: TrainOptions) -> None:
    check_loop_options(options)
    check_choice(options.augment_mode, AUGMENT_MODES, "augment_mode")


class _Trainer:
    """One training run: the loops over batches and epochs."""

    def __init__(self, images: torch.Tensor, spec: AutoencoderSpec, options: TrainOptions,
                 should_stop: Optional[StopCheck]):
        self.options = options
        self.generator = seed_everything(options.seed)
        self.device = pick_device()
        self.train_idx, self.val_idx = split_indices(len(images), options.val_share,
                                                     self.generator)
        on_device = self.device.type != "cpu" and images.nbytes <= DEVICE_RESIDENT_BYTES
        self.images = images.to(self.device) if on_device else images
        self.model = prepare_model(self._initial_model(spec, options), self.device)
        self.optimizer = make_optimizer(
            options.optimizer, parameter_groups(self.model, self.model.decoder,
                                                options.learning_rate,
                                                options.pretrained_lr_scale),
            options.learning_rate)
        self.scheduler = make_scheduler(self.optimizer, options.step_size, options.gamma)
        self.loss_fn = make_loss(options.loss)
        self.scaler = torch.amp.GradScaler("cuda") if needs_grad_scaler(self.device) else None
        self.check_stop = stop_check(should_stop)

    @staticmethod
    def _initial_model(spec: AutoencoderSpec, options: TrainOptions) -> ConvAutoencoder:
        model = ConvAutoencoder(spec)
        if options.start_from is not None:
            options.start_from(model)
        if options.freeze_encoder:
            model.encoder.requires_grad_(False)
        return model

    def _batches(self, indices: torch.Tensor, shuffle: bool):
        if shuffle:
            indices = indices[torch.randperm(len(indices), generator=self.generator)]
        size = self.options.batch_size
        # A last batch of a few images would give BatchNorm noisy statistics.
        end = len(indices) - len(indices) % size if shuffle and len(indices) > size \
            else len(indices)
        for start in range(0, end, size):
            yield prepare_batch(self.images[indices[start:start + size]], self.device)

    def _loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with autocast(self.device):
            outputs = self.model(inputs)
        # Outside autocast: BCELoss refuses half precision, and losses want float32 anyway.
        return self.loss_fn(outputs.float(), targets)

    def _step(self, batch: torch.Tensor) -> torch.Tensor:
        inputs, targets = augment_pair(self.options.augment, self.options.augment_mode,
                                       batch, self.generator)
        loss = self._loss(inputs, targets)
        backward_step(loss, self.optimizer, self.scaler)
        return loss.detach() * len(batch)

    def train_epoch(self) -> float:
        self.model.train()
        if self.options.freeze_encoder:  # its BatchNorm statistics stay as they were too
            self.model.encoder.eval()
        total = torch.zeros((), device=self.device)
        seen = 0
        for batch in self._batches(self.train_idx, shuffle=True):
            total += self._step(batch)  # summed on the device: no sync per batch
            seen += len(batch)
            self.check_stop()
        if self.scheduler is not None:
            self.scheduler.step()
        return total.item() / seen

    @torch.no_grad()
    def validate(self) -> float:
        self.model.eval()
        total = torch.zeros((), device=self.device)
        for batch in self._batches(self.val_idx, shuffle=False):
            total += self._loss(batch, batch) * len(batch)
            self.check_stop()
        return total.item() / len(self.val_idx)


def train_autoencoder(images: np.ndarray, spec: AutoencoderSpec, options: TrainOptions,
                      on_epoch: Optional[EpochCallback] = None,
                      should_stop: Optional[StopCheck] = None) -> TrainResult:
    """Train on float32 (n, 1, M, N) images in [0, 1]; the model keeps its best epoch.

    ``on_epoch(epoch, {"train_loss", "val_loss", "seconds"})`` is called after each epoch
    (numbered from 1). When ``should_stop()`` turns true, training returns after the
    current batch with ``cancelled=True``.
    """
    check_spec(spec)
    _check_options(options)
    model, run = train_on_images(_Trainer, images, spec, options, on_epoch, should_stop)
    return TrainResult(model=model, history=run.history, best_epoch=run.best_epoch,
                       best_val_loss=run.best_val_loss, cancelled=run.cancelled,
                       stopped_early=run.stopped_early)


# ---------------------------------------------------------------- files

def save_model(path: Path, model: ConvAutoencoder, spec: AutoencoderSpec) -> None:
    """Weights and spec in one .pt file (CPU tensors: loadable without a GPU)."""
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    torch.save({"format": MODEL_FORMAT, "kind": "conv_autoencoder", "spec": spec.to_dict(),
                "state_dict": state}, Path(path))


def load_model(path: Path, device: Optional[torch.device] = None) -> ConvAutoencoder:
    """The model saved at ``path``, in eval mode, on ``device`` (default: CPU)."""
    saved = torch.load(Path(path), map_location="cpu", weights_only=True)
    if saved.get("kind") != "conv_autoencoder" or saved.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path} is not a beamlabel autoencoder file (format {MODEL_FORMAT})")
    model = ConvAutoencoder(AutoencoderSpec.from_dict(saved["spec"]))
    model.load_state_dict(saved["state_dict"])
    return model.to(device or torch.device("cpu")).eval()


# ---------------------------------------------------------------- inference

class Inference(NamedTuple):
    item_ids: list  # the ids of the batches, in order
    latents: np.ndarray  # float32 (n, latent_dim)
    errors: np.ndarray  # float32 (n,): mean squared reconstruction error per image
    # Sums over items and pixels for ml.collapse: the squared reconstruction error and the
    # squared deviation from the mean image of the inputs and of the reconstructions.
    squared_error: float = 0.0
    input_variation: float = 0.0
    output_variation: float = 0.0

    def collapse_check(self) -> CollapseCheck:
        """Whether the reconstructions are nearly all the same (ml.collapse)."""
        return check_collapse(self.squared_error, self.input_variation, self.output_variation,
                              self.latents)


class _Variation:
    """Running sums of images' squared deviation from their mean image. Deviations are
    taken from the first batch's mean image, so that images which barely differ do not
    lose their variation to float cancellation."""

    def __init__(self):
        self.count = 0
        self.shift = self.total = self.squares = None  # tensors on the batches' device

    def add(self, batch: torch.Tensor) -> None:
        values = batch.detach().to(torch.float32 if batch.device.type == "mps" else torch.float64)
        if self.shift is None:
            self.shift = values.mean(dim=0)
            self.total = torch.zeros_like(self.shift)
            self.squares = torch.zeros((), dtype=values.dtype, device=values.device)
        deviations = values - self.shift
        self.total += deviations.sum(dim=0)
        self.squares += (deviations ** 2).sum()  # kept on the device: no sync per batch
        self.count += len(values)

    def sum(self) -> float:
        if not self.count:
            return 0.0
        return max(float(self.squares) - float((self.total ** 2).sum()) / self.count, 0.0)


@torch.inference_mode()
def _encode_decode(model: nn.Module, batch: torch.Tensor, device: torch.device):
    """(latents, reconstructions, mean squared error per image) of one batch."""
    batch = prepare_batch(batch, device)
    with autocast(device):
        latents = model.encode(batch)
        reconstructions = model.decode(latents)
    reconstructions = reconstructions.float()
    errors = ((reconstructions - batch) ** 2).mean(dim=(1, 2, 3))
    return latents.float(), reconstructions, errors


def infer_autoencoder(model: ConvAutoencoder,
                      batches: Iterable[tuple[list, torch.Tensor]],
                      should_stop: Optional[StopCheck] = None) -> Inference:
    """Latent vectors and reconstruction errors of every image of ``batches``, which yield
    (item ids, (b, 1, M, N) tensor) as ``ml.image_data.iter_batches`` does, and the sums
    that tell whether the model collapsed."""
    device = pick_device()
    model = prepare_model(model, device).eval()
    ids: list = []
    latents, errors = [], []
    inputs, outputs = _Variation(), _Variation()
    for batch_ids, batch in batches:
        z, reconstructions, batch_errors = _encode_decode(model, batch, device)
        latents.append(z.cpu())
        errors.append(batch_errors.cpu())
        inputs.add(batch)
        outputs.add(reconstructions)
        ids.extend(batch_ids)
        if should_stop is not None and should_stop():
            break
    latent_dim = model.spec.latent_dim
    errors = torch.cat(errors).numpy() if errors else np.zeros(0, np.float32)
    pixels = model.spec.image_size[0] * model.spec.image_size[1]
    return Inference(ids,
                     torch.cat(latents).numpy() if latents else np.zeros((0, latent_dim),
                                                                         np.float32),
                     errors, float(errors.sum(dtype=np.float64)) * pixels, inputs.sum(),
                     outputs.sum())


def check_sample(model: ConvAutoencoder, images: np.ndarray, batch_size: int,
                 limit: int = 1000) -> CollapseCheck:
    """The collapse check on at most ``limit`` of (n, 1, M, N) images, evenly spread."""
    sample = images[np.unique(np.linspace(0, len(images) - 1, min(limit, len(images)))
                              .astype(int))]
    batches = ((list(range(start, start + batch_size)),
                torch.from_numpy(np.ascontiguousarray(sample[start:start + batch_size])))
               for start in range(0, len(sample), batch_size))
    return infer_autoencoder(model, batches).collapse_check()


def reconstruct(model: ConvAutoencoder, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reconstructions (float32, same shape) of a few (n, 1, M, N) images, e.g. the
    items a page shows next to their originals (load them with ml.image_data.load_images),
    and their errors as inference measures them."""
    device = pick_device()
    model = prepare_model(model, device).eval()
    _, reconstructions, errors = _encode_decode(model, torch.from_numpy(images), device)
    return reconstructions.cpu().contiguous().numpy(), errors.cpu().numpy()
