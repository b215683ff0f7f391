"""The classifier page's speed hints: counted from the real models, and honest."""
from __future__ import annotations

import pytest
import timm
import torch
from torch.utils.flop_counter import FlopCounterMode

from ml.classifier import MODELS, family_of
from ml.classifier_speed import COSTS, speed_hint, speed_word


@pytest.mark.parametrize("model", sorted(MODELS))
def test_the_cost_table_matches_the_model(model):
    """Parameters and forward GFLOPs of the one-channel model, counted on the meta device
    (no memory, no weights), agree with the table within 1 %."""
    side = family_of(model).default_size
    with torch.device("meta"):
        network = timm.create_model(model, pretrained=False, in_chans=1, num_classes=2)
        image = torch.empty(1, 1, side, side)
    network.eval()
    with FlopCounterMode(display=False) as counter:
        network(image)
    parameters = sum(p.numel() for p in network.parameters()) / 1e6
    assert parameters == pytest.approx(COSTS[model][0], rel=0.01)
    assert counter.get_total_flops() / 1e9 == pytest.approx(COSTS[model][1], rel=0.01)


def test_the_big_networks_are_not_called_quick_on_a_cpu():
    assert speed_word(COSTS["resnet152"][1]) == "needs a GPU"
    assert "needs a GPU" in speed_hint("resnet152")
    assert speed_hint("efficientnet_b0").endswith("quick on a CPU")


def test_smaller_images_cost_less_by_the_square_of_the_side():
    assert "0.22 GFLOPs per 56 px image: quick on a CPU" in speed_hint("resnet18", 56)
