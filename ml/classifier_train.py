"""Train a timm classifier on labeled images, measure it, and run it over a data set.

Plain functions: a job wrapper passes ``on_epoch`` (progress and metrics) and
``should_stop`` (cooperative cancel, checked after every batch).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, NamedTuple, Optional

import numpy as np
import torch
from torch import nn

from ml.classifier import BALANCING, create_classifier, input_stats
from ml.fine_tuning import parameter_groups
from ml.training import (Augment, autocast, backward_step, check_choice, check_loop_options,
                         make_optimizer, needs_grad_scaler, pick_device, prepare_batch,
                         prepare_model, run_epochs, seed_everything, stop_check)

EpochCallback = Callable[[int, dict], None]
StopCheck = Callable[[], bool]
# Training images per epoch whose forward pass recomputes the BatchNorm statistics.
BATCHNORM_SAMPLE = 1024


@dataclass
class ClassifierOptions:
    model: str = "resnet18"  # a key of ml.classifier.MODELS
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    val_share: float = 0.2
    seed: int = 0
    label_smoothing: float = 0.0
    patience: int = 0  # early stopping after this many epochs without improvement; 0: off
    balance: str = "none"  # rare classes: weigh their loss up, or draw them more often
    augment: Augment = field(default_factory=Augment)
    weights_path: Optional[str] = None
    freeze_backbone: bool = False
    # Fine-tuning: a function that loads the starting weights into the new model (None:
    # from weights_path or random); the backbone learns at this share of the learning rate.
    start_from: Optional[Callable[[nn.Module], None]] = None
    pretrained_lr_scale: float = 1.0


@dataclass
class ClassifierResult:
    model: nn.Module  # with the weights of the best validation epoch, in eval mode
    history: list[dict] = field(default_factory=list)  # one metrics dict per finished epoch
    report: dict = field(default_factory=dict)  # classification_report on the validation set
    # rows of the images kept aside for validation: labels the model never trained on
    validation_rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    best_epoch: Optional[int] = None
    cancelled: bool = False
    stopped_early: bool = False


def stratified_split(targets: np.ndarray, val_share: float, generator: torch.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) indices with every class in proportion in both; a class with a
    single example goes to training."""
    if not 0 < val_share < 1:
        raise ValueError(f"val_share must be between 0 and 1, got {val_share}")
    train, val = [], []
    for label in np.unique(targets):
        members = torch.from_numpy(np.flatnonzero(targets == label))
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = min(len(members) - 1, max(1, round(len(members) * val_share)))
        val.append(members[:n_val])
        train.append(members[n_val:])
    train_idx, val_idx = torch.cat(train), torch.cat(val)
    # Mixed, not class after class: the BatchNorm recalibration reads the first images.
    return (train_idx[torch.randperm(len(train_idx), generator=generator)],
            val_idx[torch.randperm(len(val_idx), generator=generator)])


def classification_report(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> dict:
    """Confusion matrix (rows: true class, columns: predicted), per-class precision, recall
    and support, and the accuracy; a precision or recall with nothing to divide is None."""
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (np.asarray(true), np.asarray(predicted)), 1)
    hits = np.diag(confusion)

    def ratios(totals: np.ndarray) -> list:
        return [float(h / t) if t else None for h, t in zip(hits, totals)]

    return {"confusion_matrix": confusion.tolist(), "precision": ratios(confusion.sum(0)),
            "recall": ratios(confusion.sum(1)), "support": confusion.sum(1).tolist(),
            "accuracy": float(hits.sum() / max(confusion.sum(), 1))}


def _check_options(options: ClassifierOptions) -> None:
    check_loop_options(options)
    check_choice(options.balance, BALANCING, "balance")


def _normalizer(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    mean, std = input_stats(model)
    return lambda batch: (batch - mean) / std


class _Trainer:
    """One training run: the loops over batches and epochs."""

    def __init__(self, images: torch.Tensor, targets: np.ndarray, num_classes: int,
                 options: ClassifierOptions, should_stop: Optional[StopCheck]):
        self.options = options
        self.generator = seed_everything(options.seed)
        self.device = pick_device()
        self.images = images
        self.targets = torch.from_numpy(targets.astype(np.int64))
        self.train_idx, self.val_idx = stratified_split(targets, options.val_share,
                                                        self.generator)
        model = create_classifier(options.model, num_classes, options.weights_path,
                                  options.freeze_backbone)
        if options.start_from is not None:
            options.start_from(model)
        self.model = prepare_model(model, self.device)
        self.normalize = _normalizer(model)
        self.optimizer = make_optimizer(
            options.optimizer, parameter_groups(self.model, self.model.get_classifier(),
                                                options.learning_rate,
                                                options.pretrained_lr_scale),
            options.learning_rate)
        counts = np.bincount(targets[self.train_idx.numpy()], minlength=num_classes)
        # Inverse frequency: every class weighs as much as the others in total.
        self.class_weights = torch.tensor(counts.sum() / (num_classes * np.maximum(counts, 1)),
                                          dtype=torch.float32)
        use_weights = options.balance == "class_weights"
        self.loss_fn = nn.CrossEntropyLoss(
            weight=self.class_weights.to(self.device) if use_weights else None,
            label_smoothing=options.label_smoothing)
        self.scaler = torch.amp.GradScaler("cuda") if needs_grad_scaler(self.device) else None
        self.check_stop = stop_check(should_stop)

    def _epoch_order(self) -> torch.Tensor:
        if self.options.balance == "sampler":  # rare classes drawn as often as common ones
            weights = self.class_weights[self.targets[self.train_idx]]
            draws = torch.multinomial(weights, len(self.train_idx), replacement=True,
                                      generator=self.generator)
            return self.train_idx[draws]
        return self.train_idx[torch.randperm(len(self.train_idx), generator=self.generator)]

    def _batches(self, indices: torch.Tensor, augment: bool, drop_last: bool):
        size = self.options.batch_size
        # A last batch of one or two images would give BatchNorm noisy statistics.
        end = len(indices) - len(indices) % size if drop_last and len(indices) > size \
            else len(indices)
        for start in range(0, end, size):
            chosen = indices[start:start + size]
            batch = self.images[chosen]
            if augment and self.options.augment.active:
                batch = self.options.augment(batch, self.generator)
            yield (prepare_batch(self.normalize(batch), self.device),
                   self.targets[chosen].to(self.device))

    def _logits(self, inputs: torch.Tensor) -> torch.Tensor:
        with autocast(self.device):
            return self.model(inputs).float()

    def _step(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = self._logits(inputs)
        loss = self.loss_fn(logits, targets)
        backward_step(loss, self.optimizer, self.scaler)
        return loss.detach() * len(targets), (logits.argmax(1) == targets).sum()

    def _train_mode(self) -> None:
        self.model.train()
        if self.options.freeze_backbone:  # frozen BatchNorm statistics stay frozen too
            self.model.eval()
            self.model.get_classifier().train()

    def train_epoch(self) -> tuple[float, float]:
        """(mean loss, accuracy) over the epoch's (augmented) training batches."""
        self._train_mode()
        loss_sum = torch.zeros((), device=self.device)
        hits = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        for inputs, targets in self._batches(self._epoch_order(), augment=True,
                                              drop_last=True):
            batch_loss, batch_hits = self._step(inputs, targets)
            loss_sum += batch_loss  # summed on the device: no sync per batch
            hits += batch_hits
            seen += len(targets)
            self.check_stop()
        return loss_sum.item() / seen, hits.item() / seen

    @torch.no_grad()
    def recalibrate_batchnorm(self) -> None:
        """Recompute BatchNorm statistics with the epoch's final weights.

        The running averages lag behind weights that change fast; with few batches per
        epoch (small labeled sets) the eval-mode model is then no better than chance.
        """
        layers = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not layers or self.options.freeze_backbone:
            return
        momenta = [layer.momentum for layer in layers]
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None  # a plain average over the batches below
        self.model.train()
        sample = self.train_idx[:BATCHNORM_SAMPLE]
        for inputs, _targets in self._batches(sample, augment=False, drop_last=True):
            with autocast(self.device):
                self.model(inputs)
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum

    @torch.no_grad()
    def predict_validation(self) -> tuple[float, np.ndarray]:
        """(mean unweighted loss, predicted classes) of the validation images."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        predicted = []
        for inputs, targets in self._batches(self.val_idx, augment=False, drop_last=False):
            logits = self._logits(inputs)
            loss_sum += nn.functional.cross_entropy(logits, targets, reduction="sum")
            predicted.append(logits.argmax(1).cpu())
            self.check_stop()
        return loss_sum.item() / len(self.val_idx), torch.cat(predicted).numpy()


def train_classifier(images: np.ndarray, targets: np.ndarray, num_classes: int,
                     options: ClassifierOptions, on_epoch: Optional[EpochCallback] = None,
                     should_stop: Optional[StopCheck] = None) -> ClassifierResult:
    """Train on float32 (n, 1, M, N) images in [0, 1] with class indices ``targets``.

    The model keeps the weights of its lowest validation loss. ``on_epoch(epoch,
    {"train_loss", "val_loss", "train_accuracy", "val_accuracy", "seconds"})`` is called
    after each epoch (numbered from 1). When ``should_stop()`` turns true, training returns
    after the current batch with ``cancelled=True``.
    """
    _check_options(options)
    targets = np.asarray(targets, dtype=np.int64)
    if images.ndim != 4 or images.shape[1] != 1 or len(images) != len(targets):
        raise ValueError(f"images must be (n, 1, M, N) with one target each, got "
                         f"{images.shape} and {targets.shape}")
    present = np.bincount(targets, minlength=num_classes)
    if num_classes < 2 or (present == 0).any():
        raise ValueError(f"every one of the {num_classes} classes needs examples "
                         f"(counts {present.tolist()}), and there must be at least 2")
    trainer = _Trainer(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)),
                       targets, num_classes, options, should_stop)
    val_targets = targets[trainer.val_idx.numpy()]

    def one_epoch() -> dict:
        train_loss, train_accuracy = trainer.train_epoch()
        trainer.recalibrate_batchnorm()
        val_loss, predicted = trainer.predict_validation()
        return {"train_loss": train_loss, "val_loss": val_loss,
                "train_accuracy": train_accuracy,
                "val_accuracy": float((predicted == val_targets).mean())}

    run = run_epochs(trainer.model, options.epochs, options.patience, one_epoch, on_epoch)
    result = ClassifierResult(model=trainer.model, history=run.history,
                              best_epoch=run.best_epoch, cancelled=run.cancelled,
                              stopped_early=run.stopped_early,
                              validation_rows=trainer.val_idx.numpy().astype(np.int64))
    if run.best_epoch is not None and not run.cancelled:  # of the best epoch's weights
        _, predicted = trainer.predict_validation()
        result.report = classification_report(val_targets, predicted, num_classes)
    return result


# ---------------------------------------------------------------- inference

class ClassifierInference(NamedTuple):
    item_ids: list  # the ids of the batches, in order
    probabilities: np.ndarray  # float32 (n, classes), rows sum to 1
    features: np.ndarray  # float32 (n, features): the penultimate layer


@torch.inference_mode()
def _probabilities_and_features(model: nn.Module, batch: torch.Tensor, device: torch.device,
                                normalize) -> tuple[torch.Tensor, torch.Tensor]:
    batch = prepare_batch(normalize(batch), device)
    with autocast(device):
        feature_maps = model.forward_features(batch)
        features = model.forward_head(feature_maps, pre_logits=True)
        logits = model.forward_head(feature_maps)
    return logits.float().softmax(1), features.float().flatten(1)


def infer_classifier(model: nn.Module, batches: Iterable[tuple[list, torch.Tensor]],
                     should_stop: Optional[StopCheck] = None) -> ClassifierInference:
    """Class probabilities and penultimate-layer features of every image of ``batches``,
    which yield (item ids, (b, 1, M, N) tensor in [0, 1]) as ml.image_data.iter_batches does."""
    device = pick_device()
    normalize = _normalizer(model)
    model = prepare_model(model, device).eval()
    ids: list = []
    probabilities, features = [], []
    for batch_ids, batch in batches:
        batch_probabilities, batch_features = _probabilities_and_features(
            model, batch, device, normalize)
        probabilities.append(batch_probabilities.cpu())
        features.append(batch_features.cpu())
        ids.extend(batch_ids)
        if should_stop is not None and should_stop():
            break
    if not ids:
        return ClassifierInference([], np.zeros((0, model.num_classes), np.float32),
                                   np.zeros((0, model.head_hidden_size), np.float32))
    return ClassifierInference(ids, torch.cat(probabilities).numpy(),
                               torch.cat(features).numpy())
