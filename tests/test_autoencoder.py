"""The convolutional autoencoder: feasibility, layer table, training, cancel, files, inference."""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import pytest
import torch

from data.demo import generate_demo
from data.sources.directory import DirectorySource
from data.transforms import Transform
from ml.autoencoder import ConvAutoencoder
from ml.autoencoder_spec import AutoencoderSpec, check_spec, layer_table
from ml.autoencoder_train import (TrainOptions, check_sample, infer_autoencoder, load_model,
                                  reconstruct, save_model, train_autoencoder)
from ml.collapse import check_collapse, collapse_warning
from ml.image_data import iter_batches, load_images
from ml.training import (AUGMENT_MODES, LOSSES, OPTIMIZERS, Augment, EarlyStopping, augment_pair,
                         make_loss, make_optimizer)
from ml.training_choices import AUGMENT_MODE_NAMES, AUTOENCODER_LOSS_NAMES, OPTIMIZER_NAMES

SPEC = AutoencoderSpec(image_size=(64, 64), base_channels=8, latent_dim=16, depth=3)
TRANSFORM = Transform(log=True)


@dataclass(frozen=True)
class FakeItem:
    id: int
    path: str
    frame: int = 0


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """200 demo images of 64x64, one unreadable file, and their items."""
    folder = tmp_path_factory.mktemp("demo")
    truth = generate_demo(folder, n_images=200, size=64, seed=0, processes=1)
    (folder / "broken.tif").write_bytes(b"not a tiff")
    items = [FakeItem(index + 1, path) for index, (path, _) in enumerate(truth)]
    return DirectorySource(str(folder)), items + [FakeItem(999, "broken.tif")]


@pytest.fixture(scope="module")
def images(demo):
    source, items = demo
    return load_images(source, items, SPEC.image_size, TRANSFORM).images


@pytest.fixture(scope="module")
def trained(images):
    history = []
    options = TrainOptions(epochs=6, batch_size=16, learning_rate=3e-3, seed=1)
    result = train_autoencoder(images, SPEC, options,
                               on_epoch=lambda epoch, metrics: history.append(metrics))
    return result, history


# ---------------------------------------------------------------- spec and layers

@pytest.mark.parametrize("spec, names", [
    (replace(SPEC, image_size=(100, 100)), ("image_size", "depth")),
    (replace(SPEC, image_size=(64, 60)), ("image_size", "depth")),
    (replace(SPEC, image_size=(8, 8)), ("image_size", "depth")),
    (replace(SPEC, depth=0), ("depth",)),
    (replace(SPEC, depth=7), ("depth",)),
    (replace(SPEC, base_channels=0), ("base_channels",)),
    (replace(SPEC, base_channels=1024), ("base_channels",)),
    (replace(SPEC, latent_dim=0), ("latent_dim",)),
    (replace(SPEC, latent_dim=10_000), ("latent_dim",)),
    (replace(SPEC, latent_dim=2.5), ("latent_dim",)),
])
def test_infeasible_spec_names_the_parameter(spec, names):
    with pytest.raises(ValueError) as error:
        check_spec(spec)
    assert all(name in str(error.value) for name in names)


def test_feasible_specs_pass():
    check_spec(SPEC)
    check_spec(AutoencoderSpec(image_size=(96, 128), base_channels=4, latent_dim=2, depth=5))


def test_layer_table_shapes():
    table = layer_table(SPEC)
    shapes = {row["name"]: row["output_shape"] for row in table}
    assert [shapes[f"encoder.down{level}"] for level in range(3)] == \
        [(8, 32, 32), (16, 16, 16), (32, 8, 8)]
    assert shapes["encoder.flatten"] == (8 * 8 * 32,)
    assert shapes["encoder.latent"] == (16,)
    assert shapes["decoder.unflatten"] == (32, 8, 8)
    assert table[-1]["output_shape"] == (1, 64, 64)
    assert {row["kind"] for row in table} >= {"conv", "downsample", "linear", "upsample"}
    model_parameters = sum(p.numel() for p in ConvAutoencoder(SPEC).parameters())
    assert sum(row["parameters"] for row in table) == model_parameters


@pytest.mark.parametrize("spec", [
    SPEC,
    AutoencoderSpec(image_size=(96, 128), base_channels=4, latent_dim=2, depth=5),
    AutoencoderSpec(image_size=(32, 48), base_channels=3, latent_dim=7, depth=1),
])
def test_layer_table_matches_the_real_model_block_by_block(spec):
    """The torch-free table (drawn by the web page) must describe what torch builds."""
    with torch.device("meta"):
        model = ConvAutoencoder(spec)
        x = torch.empty(1, 1, *spec.image_size)
    measured = []
    for part in ("encoder", "decoder"):
        for name, block in getattr(model, part).named_children():
            x = block(x)
            measured.append((f"{part}.{name}", tuple(x.shape[1:]),
                             sum(p.numel() for p in block.parameters())))
    table = [(row["name"], row["output_shape"], row["parameters"]) for row in layer_table(spec)]
    assert table == measured


def test_layer_table_of_the_largest_spec_is_instant():
    table = layer_table(AutoencoderSpec((4096, 4096), base_channels=256, latent_dim=4096,
                                        depth=6))
    assert table[-1]["output_shape"] == (1, 4096, 4096)


def test_forward_shapes():
    model = ConvAutoencoder(replace(SPEC, image_size=(32, 48))).eval()
    x = torch.rand(3, 1, 32, 48)
    assert model.encode(x).shape == (3, 16)
    reconstruction = model(x)
    assert reconstruction.shape == (3, 1, 32, 48)
    assert 0 <= reconstruction.min() and reconstruction.max() <= 1


# ---------------------------------------------------------------- training pieces

def test_the_torch_free_names_match_the_registries():
    assert set(OPTIMIZER_NAMES) == set(OPTIMIZERS)
    assert set(AUTOENCODER_LOSS_NAMES) == set(LOSSES)
    assert set(AUGMENT_MODE_NAMES) == set(AUGMENT_MODES)


def test_registries_build_every_entry():
    parameters = [torch.nn.Parameter(torch.zeros(2))]
    for name in OPTIMIZERS:
        make_optimizer(name, parameters, 1e-3)
    for name in LOSSES:
        make_loss(name)(torch.full((2,), 0.5), torch.ones(2))
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("lbfgs2", parameters, 1e-3)


def test_early_stopping_counts_epochs_without_improvement():
    stopping = EarlyStopping(patience=2, min_delta=0.01)
    assert stopping.improved(1.0)
    assert not stopping.improved(0.995)
    assert not stopping.should_stop
    assert not stopping.improved(0.999)
    assert stopping.should_stop


def test_augment_modes():
    batch = torch.rand(4, 1, 8, 8)
    flip = Augment(hflip=True, vflip=True, jitter=0.1)
    inputs, target = augment_pair(flip, "invariant", batch, torch.Generator().manual_seed(0))
    assert torch.equal(target, batch) and not torch.equal(inputs, batch)
    inputs, target = augment_pair(flip, "both", batch, torch.Generator().manual_seed(0))
    assert torch.equal(inputs, target) and not torch.equal(inputs, batch)


# ---------------------------------------------------------------- data

def test_load_images_skips_unreadable(demo, images):
    source, items = demo
    loaded = load_images(source, items[-3:], SPEC.image_size, TRANSFORM)
    assert loaded.images.shape == (2, 1, 64, 64) and loaded.images.dtype == np.float32
    assert loaded.item_ids == [items[-3].id, items[-2].id]
    assert list(loaded.failed) == [999]
    assert images.shape == (200, 1, 64, 64)
    assert 0 <= images.min() and images.max() <= 1


def test_iter_batches_resizes_and_reports_failures(demo):
    source, items = demo
    failures = []
    batches = list(iter_batches(source, items[-10:], (32, 32), TRANSFORM, batch_size=4,
                                on_failure=lambda item_id, why: failures.append(item_id)))
    assert [len(ids) for ids, _ in batches] == [4, 4, 1]
    assert batches[0][1].shape == (4, 1, 32, 32)
    assert failures == [999]


# ---------------------------------------------------------------- training

def test_training_lowers_validation_loss(trained):
    result, history = trained
    assert len(history) == 6 and not result.cancelled
    assert history[-1]["val_loss"] < 0.6 * history[0]["val_loss"]
    assert all(metrics["seconds"] > 0 and metrics["train_loss"] > 0 for metrics in history)
    assert result.best_val_loss == min(metrics["val_loss"] for metrics in history)


@pytest.mark.parametrize("change, name", [
    ({"augment_mode": "sideways"}, "augment_mode"), ({"optimizer": "lbfgs2"}, "optimizer"),
    ({"loss": "hinge"}, "loss"), ({"val_share": 1.0}, "val_share"), ({"epochs": 0}, "epochs"),
])
def test_bad_options_name_the_option(images, change, name):
    with pytest.raises(ValueError, match=name):
        train_autoencoder(images[:8], SPEC, replace(TrainOptions(epochs=1), **change))


def test_training_with_augmentation_and_schedule(images):
    options = TrainOptions(epochs=2, batch_size=16, optimizer="adamw", loss="bce",
                           step_size=1, gamma=0.5, patience=1,
                           augment=Augment(hflip=True, vflip=True, jitter=0.1),
                           augment_mode="both")
    result = train_autoencoder(images[:48], SPEC, options)
    assert 1 <= len(result.history) <= 2 and result.best_epoch is not None


def test_should_stop_cancels_within_an_epoch(images):
    batches = []
    result = train_autoencoder(images, SPEC, TrainOptions(epochs=5, batch_size=16),
                               on_epoch=lambda epoch, metrics: pytest.fail("epoch finished"),
                               should_stop=lambda: batches.append(1) or len(batches) >= 3)
    assert result.cancelled and result.history == [] and len(batches) == 3


def test_save_and_load_give_identical_outputs(trained, images, tmp_path):
    model = trained[0].model
    save_model(tmp_path / "model.pt", model, SPEC)
    loaded = load_model(tmp_path / "model.pt")
    assert loaded.spec == SPEC
    x = torch.from_numpy(images[:8])
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))
        assert torch.equal(model.encode(x), loaded.encode(x))


def test_inference_gives_one_vector_per_item(trained, demo):
    source, items = demo
    inference = infer_autoencoder(trained[0].model, iter_batches(
        source, items[:50] + items[-1:], SPEC.image_size, TRANSFORM, batch_size=16))
    assert inference.item_ids == [item.id for item in items[:50]]
    assert inference.latents.shape == (50, 16) and inference.latents.dtype == np.float32
    assert inference.errors.shape == (50,) and inference.errors.dtype == np.float32
    assert np.all(np.isfinite(inference.latents)) and np.all(inference.errors >= 0)


def test_reconstruct_a_few_items(trained, images):
    reconstructions, errors = reconstruct(trained[0].model, images[:3])
    assert reconstructions.shape == (3, 1, 64, 64) and reconstructions.dtype == np.float32
    # Trained: closer to its input than to a flat grey image.
    assert np.mean((reconstructions - images[:3]) ** 2) < np.mean((0.5 - images[:3]) ** 2)
    np.testing.assert_allclose(errors, ((reconstructions - images[:3]) ** 2).mean(axis=(1, 2, 3)),
                               rtol=1e-5)


# ---------------------------------------------------------------- collapse check

@pytest.fixture(scope="module")
def digits():
    """600 handwritten digits (shipped with scikit-learn) at 16x16 in [0, 1], and a model
    trained on them that reconstructs them well."""
    from sklearn.datasets import load_digits

    pixels = torch.from_numpy(load_digits().images[:600, None].astype(np.float32) / 16)
    images = torch.nn.functional.interpolate(pixels, size=(16, 16), mode="bilinear").numpy()
    spec = AutoencoderSpec(image_size=(16, 16), base_channels=8, latent_dim=8, depth=2)
    options = TrainOptions(epochs=5, batch_size=32, learning_rate=3e-3, seed=1)
    return images, train_autoencoder(images, spec, options).model


def test_a_trained_model_is_not_flagged_as_collapsed(digits):
    images, model = digits
    check = check_sample(model, images, batch_size=64)
    assert check.images == len(images) and not check.collapsed, check
    assert check.explained > 0.3 and check.output_spread > 0.3 and check.latent_spread > 0.1
    assert check.reason.startswith("The reconstructions explain")


def test_a_decoder_that_outputs_one_image_is_flagged(digits):
    """The trained model with its last layer's weights set to zero: the same output for
    every input, whatever the encoder gives."""
    images, trained_model = digits
    model = copy.deepcopy(trained_model)
    with torch.no_grad():
        model.decoder.output.weight.zero_()
    check = check_sample(model, images, batch_size=64)
    assert check.collapsed and check.explained < 0.01 and check.output_spread < 1e-6, check
    assert check.latent_spread == pytest.approx(
        check_sample(trained_model, images, batch_size=64).latent_spread)
    assert check.reason.startswith("This model's reconstructions are nearly all the same")
    assert "more epochs" in check.reason


def test_an_untrained_model_is_flagged(digits):
    images, trained_model = digits
    check = check_sample(ConvAutoencoder(trained_model.spec), images, batch_size=64)
    assert check.collapsed and check.explained < 0, check


def test_the_mean_image_explains_nothing_and_a_copy_everything():
    variation, latents = 3.5, np.ones((50, 4))  # sums over items and pixels
    as_mean = check_collapse(variation, variation, 0.0, latents)
    assert as_mean.explained == 0 and as_mean.output_spread == 0 and as_mean.collapsed
    assert as_mean.latent_spread == 0 and "(they explain 0 %" in as_mean.reason
    as_copy = check_collapse(0.0, variation, variation, latents + np.eye(50, 4))
    assert as_copy.explained == 1 and not as_copy.collapsed and 0 < as_copy.latent_spread < 1
    assert check_collapse(0.0, 0.0, 0.0, latents).collapsed  # nothing varies: nothing to group
    # what the label page reads from a job result
    assert collapse_warning({"collapse": as_mean.to_dict()}) == as_mean.reason
    assert collapse_warning({"collapse": as_copy.to_dict()}) is None
    assert collapse_warning({"items": 3}) is None  # jobs from before the check


def test_the_sums_over_batches_match_numpy(digits):
    """The running sums of inference give the share numpy computes on all at once."""
    images, model = digits
    batches = [(list(range(start, start + 16)), torch.from_numpy(images[start:start + 16]))
               for start in (0, 16, 32)]
    inference = infer_autoencoder(model, batches)
    reconstructions, _ = reconstruct(model, images[:48])
    x = images[:48].astype(np.float64)
    variation = ((x - x.mean(axis=0)) ** 2).sum()
    expected = 1 - ((reconstructions - x) ** 2).sum() / variation
    assert inference.collapse_check().explained == pytest.approx(expected, abs=1e-4)
