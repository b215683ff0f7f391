"""The timm classifier registry, local weights, training pieces and inference (no jobs)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import timm
import torch

from ml.classifier import (FAMILIES, MODELS, check_image_size, create_classifier, family_of,
                           load_classifier, save_classifier)
from ml.classifier_train import (ClassifierOptions, classification_report, infer_classifier,
                                 stratified_split, train_classifier)
from ml.training import OPTIMIZERS, Augment
from ml.training_choices import OPTIMIZER_NAMES


def test_every_registered_model_is_a_timm_model_and_mlcoach_families_are_offered():
    assert all(timm.is_model(name) for name in MODELS)
    assert {"resnet", "vgg", "densenet", "inception_v3", "xception", "inception_resnet_v2",
            "nasnet"} <= set(FAMILIES)
    assert {FAMILIES[name].default_size for name in FAMILIES} == {224, 299, 331}
    assert {"resnet18", "efficientnet_b0", "convnext_atto"} <= set(MODELS)
    assert set(OPTIMIZER_NAMES) == set(OPTIMIZERS)


def test_unknown_models_and_sizes_are_refused_with_what_to_use():
    with pytest.raises(ValueError, match="resnet18"):
        family_of("alexnet")
    with pytest.raises(ValueError, match="between 75 and"):
        check_image_size("inception_v3", (64, 64))
    check_image_size("inception_v3", (299, 299))


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0", "convnext_atto"])
def test_small_models_take_one_channel_images_and_give_class_logits(name):
    model = create_classifier(name, num_classes=3).eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 1, 32, 32))
    assert logits.shape == (2, 3)


def test_local_weights_are_loaded_with_rgb_summed_and_a_new_head(tmp_path):
    rgb = timm.create_model("resnet18", pretrained=False, num_classes=1000)
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": rgb.state_dict()}, path)  # a checkpoint wraps its weights
    model = create_classifier("resnet18", 4, weights_path=str(path), freeze_backbone=True)
    assert torch.allclose(model.conv1.weight[:, 0], rgb.conv1.weight.sum(1))
    assert torch.equal(model.layer4[1].conv2.weight, rgb.layer4[1].conv2.weight)
    assert model.fc.weight.shape == (4, 512)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}


def test_missing_foreign_and_broken_weight_files_say_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="no file at"):
        create_classifier("resnet18", 3, weights_path=str(tmp_path / "nope.pth"))
    other = tmp_path / "convnext.pth"
    torch.save(timm.create_model("convnext_atto").state_dict(), other)
    with pytest.raises(ValueError, match="does not fit resnet18: .*tensors missing"):
        create_classifier("resnet18", 3, weights_path=str(other))
    broken = tmp_path / "broken.pth"
    broken.write_text("not weights")
    with pytest.raises(ValueError, match="is not a PyTorch weights file"):
        create_classifier("resnet18", 3, weights_path=str(broken))


def test_stratified_split_keeps_every_class_in_both_parts():
    targets = np.array([0] * 10 + [1] * 5 + [2] * 2 + [3])
    train, val = stratified_split(targets, 0.2, torch.Generator().manual_seed(0))
    assert sorted(train.tolist() + val.tolist()) == list(range(len(targets)))
    assert np.bincount(targets[val.numpy()], minlength=4).tolist() == [2, 1, 1, 0]


def test_classification_report_counts_and_ratios():
    report = classification_report(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 1]), 3)
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 1, 0]]
    assert report["precision"] == [1.0, 0.5, None]  # nothing was predicted as class 2
    assert report["recall"] == [0.5, 1.0, 0.0]
    assert report["support"] == [2, 2, 1] and report["accuracy"] == 0.6


def test_rotation_turns_images_about_their_centre_without_shearing():
    rows, cols = torch.meshgrid(torch.arange(24.0), torch.arange(40.0), indexing="ij")
    disk = (((rows - 11.5) ** 2 + (cols - 19.5) ** 2) < 64).float()[None, None]
    turned = Augment(rotation=180)(disk.repeat(8, 1, 1, 1), torch.Generator().manual_seed(1))
    assert ((turned - disk).abs() > 0.5).float().mean() < 0.01  # a round disk stays round
    bar = torch.zeros(1, 1, 31, 31)
    bar[..., 15, :] = 1
    quarter = Augment(rotation=90)
    moved = [quarter(bar, torch.Generator().manual_seed(seed)) for seed in range(4)]
    assert all(math.isclose(m[0, 0, 15, 15].item(), 1, abs_tol=1e-4) for m in moved)
    assert any(m[0, 0, 15, 0] < 0.5 for m in moved)  # the bar left the row it was on


def _two_shapes(n: int, size: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images of a bright square (class 0) or a bright ring (class 1)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size, :size]
    radius = np.hypot(rows - size / 2, cols - size / 2)
    shapes = [(np.abs(rows - size / 2) < 5) & (np.abs(cols - size / 2) < 5),
              (radius > 7) & (radius < 10)]
    targets = rng.integers(0, 2, n)
    images = rng.uniform(0, 0.3, (n, 1, size, size)).astype(np.float32)
    for image, target in zip(images, targets):
        image[0][shapes[target]] += 0.7
    return images, targets


@pytest.mark.parametrize("balance", ["sampler", "class_weights"])
def test_training_learns_two_shapes_and_inference_gives_probabilities_and_features(
        tmp_path, balance):
    torch.set_num_threads(1)  # the CPU is shared: two threads that wait on each other lose
    images, targets = _two_shapes(64)
    epochs = []
    result = train_classifier(images, targets, 2,
                              ClassifierOptions(epochs=3, batch_size=16, val_share=0.25,
                                                balance=balance, label_smoothing=0.1,
                                                augment=Augment(hflip=True, rotation=15)),
                              on_epoch=lambda epoch, metrics: epochs.append((epoch, metrics)))
    assert [epoch for epoch, _ in epochs] == [1, 2, 3]
    assert set(epochs[0][1]) == {"train_loss", "val_loss", "train_accuracy", "val_accuracy",
                                 "seconds"}
    assert result.report["accuracy"] >= 0.9, result.history
    assert np.array(result.report["confusion_matrix"]).sum() == 16

    save_classifier(tmp_path / "model.pt", result.model, "resnet18", (24, 24))
    model, description = load_classifier(tmp_path / "model.pt")
    assert description == {"model": "resnet18", "num_classes": 2, "image_size": [24, 24]}
    batches = [([10, 11, 12], torch.from_numpy(images[:3])), ([13], torch.from_numpy(images[3:4]))]
    inference = infer_classifier(model, batches)
    assert inference.item_ids == [10, 11, 12, 13]
    assert inference.probabilities.shape == (4, 2) and inference.features.shape == (4, 512)
    assert np.allclose(inference.probabilities.sum(1), 1, atol=1e-5)
    assert (inference.probabilities.argmax(1) == targets[:4]).all()


def test_training_refuses_a_class_without_examples():
    images, _ = _two_shapes(8)
    with pytest.raises(ValueError, match="every one of the 3 classes needs examples"):
        train_classifier(images, np.array([0, 1] * 4), 3, ClassifierOptions(epochs=1))


def test_training_stops_when_asked_and_keeps_no_report():
    images, targets = _two_shapes(16)
    result = train_classifier(images, targets, 2, ClassifierOptions(epochs=3, batch_size=4),
                              should_stop=lambda: True)
    assert result.cancelled and result.history == [] and result.report == {}
