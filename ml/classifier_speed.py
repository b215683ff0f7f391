"""What each classifier architecture costs, for honest speed hints on the classifier page.

The numbers are counted, not guessed: parameters and floating-point operations of one
forward pass of the one-channel, two-class model at its family's usual input side (torch's
FlopCounterMode on the meta device; tests/test_classifier_speed.py recounts them with timm,
so the table cannot drift from the models). Training costs about three forward passes per
image, and the operations grow with the square of the image side.
"""
from __future__ import annotations

from ml.classifier import family_of

# model: (parameters in millions, GFLOPs of one forward pass at the family's usual side)
COSTS: dict[str, tuple[float, float]] = {
    "resnet18": (11.17, 3.47), "resnet34": (21.28, 7.17), "resnet50": (23.51, 8.02),
    "resnet101": (42.50, 15.44), "resnet152": (58.14, 22.87),
    "efficientnet_b0": (4.01, 0.75), "convnext_atto": (3.37, 1.09),
    "vgg11_bn": (128.78, 15.09), "vgg13_bn": (128.96, 22.49), "vgg16_bn": (134.28, 30.82),
    "vgg19_bn": (139.59, 39.14),
    "densenet121": (6.95, 5.51), "densenet169": (12.48, 6.56), "densenet201": (18.09, 8.42),
    "inception_v3": (21.79, 11.40), "legacy_xception": (20.81, 16.69),
    "inception_resnet_v2": (54.31, 26.28), "nasnetalarge": (84.73, 47.46),
}
# GFLOPs per image (forward) up to which training is quick on a CPU, and up to which it is
# still bearable there for a few thousand images; above it a GPU is needed in practice. A
# laptop core does some 10-50 GFLOP/s in these networks: 1.5 GFLOPs forward is about 5
# GFLOPs per trained image, i.e. a few thousand images a minute on a few cores.
QUICK_ON_CPU = 1.5
BEARABLE_ON_CPU = 8.0


def gflops_at(model: str, side: int | None = None) -> float:
    """GFLOPs of one forward pass at ``side`` pixels (the family's usual side if None)."""
    usual = family_of(model).default_size
    return COSTS[model][1] * ((side or usual) / usual) ** 2


def speed_word(gflops: float) -> str:
    if gflops <= QUICK_ON_CPU:
        return "quick on a CPU"
    if gflops <= BEARABLE_ON_CPU:
        return "slow on a CPU, quick on a GPU"
    return "needs a GPU"


def speed_hint(model: str, side: int | None = None) -> str:
    """e.g. 'resnet152: 58.1 M parameters, 22.9 GFLOPs per 224 px image: needs a GPU'."""
    usual = family_of(model).default_size
    gflops = gflops_at(model, side)
    return (f"{model}: {COSTS[model][0]:.1f} M parameters, {gflops:.2g} GFLOPs per "
            f"{side or usual} px image: {speed_word(gflops)}")
