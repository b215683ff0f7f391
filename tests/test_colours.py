"""Class colours: readable text on any class colour, and a default palette whose colours
are easy to tell apart (callbacks/colours.py, db/labels.PALETTE)."""
import itertools

import pytest

from callbacks.colours import (BLACK, MIN_TEXT_CONTRAST, WHITE, color_difference,
                               contrast_ratio, delta_e_2000, pill_style, relative_luminance,
                               text_color_on)
from db.labels import PALETTE


def test_luminance_and_contrast_match_the_wcag_definitions():
    assert relative_luminance(BLACK) == 0
    assert relative_luminance(WHITE) == pytest.approx(1)
    assert contrast_ratio(BLACK, WHITE) == pytest.approx(21)
    assert contrast_ratio(WHITE, BLACK) == pytest.approx(21)
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1)
    # WebAIM's checker: #767676 on white is the lightest grey that passes AA (4.54)
    assert contrast_ratio("#767676", WHITE) == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio("#777777", WHITE) < MIN_TEXT_CONTRAST


@pytest.mark.parametrize("background, text", [
    ("#F0E442", BLACK), ("#56B4E9", BLACK), ("#FFFFFF", BLACK), ("#E69F00", BLACK),
    ("#0072B2", WHITE), ("#000000", WHITE), ("#AA3377", WHITE), ("#1F1F7A", WHITE)])
def test_text_on_a_class_colour_is_black_or_white_whichever_reads_better(background, text):
    assert text_color_on(background) == text
    assert pill_style(background) == {"backgroundColor": background, "color": text}


def test_text_on_any_colour_reaches_the_wcag_contrast():
    levels = range(0, 256, 17)
    for red, green, blue in itertools.product(levels, repeat=3):
        background = f"#{red:02x}{green:02x}{blue:02x}"
        assert contrast_ratio(text_color_on(background), background) >= MIN_TEXT_CONTRAST, \
            background


def test_malformed_colours_are_refused():
    for color in ("red", "#12345", "#1234567"):
        with pytest.raises(ValueError):
            text_color_on(color)


# Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula", table 1
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
]


@pytest.mark.parametrize("first, second, expected", SHARMA_PAIRS)
def test_ciede2000_matches_the_published_test_data(first, second, expected):
    assert delta_e_2000(first, second) == pytest.approx(expected, abs=1e-4)
    assert delta_e_2000(second, first) == pytest.approx(expected, abs=1e-4)


def test_colour_difference_of_hex_colours():
    assert color_difference("#56B4E9", "#56B4E9") == 0
    assert color_difference(BLACK, WHITE) == pytest.approx(100, abs=0.01)


# Machado, Oliveira and Fernandes (2009): full deuteranopia and protanopia, linear sRGB
DEUTERANOPIA = ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413),
                (-0.011820, 0.042940, 0.968881))
PROTANOPIA = ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216),
              (-0.003882, -0.048116, 1.051998))


def as_seen_with(matrix, color: str) -> str:
    def linear(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    def encoded(v):
        v = min(max(v, 0.0), 1.0)
        return 12.92 * v if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055

    rgb = [linear(int(color[i:i + 2], 16) / 255) for i in (1, 3, 5)]
    seen = [encoded(sum(m * c for m, c in zip(row, rgb))) for row in matrix]
    return "#" + "".join(f"{round(255 * v):02x}" for v in seen)


def smallest_difference(colors, seen_as=None) -> float:
    view = (lambda c: c) if seen_as is None else (lambda c: as_seen_with(seen_as, c))
    return min(color_difference(view(a), view(b)) for a, b in itertools.combinations(colors, 2))


def test_the_palette_colours_are_easy_to_tell_apart():
    assert len(set(PALETTE)) == len(PALETTE) == 12
    # a class and the next one added: different colours at a glance
    for first, second in zip(PALETTE, PALETTE[1:]):
        assert color_difference(first, second) >= 30, (first, second)
    # the demo's seven classes: no two alike, also with red-green colour blindness
    assert smallest_difference(PALETTE[:7]) >= 20
    assert smallest_difference(PALETTE[:7], DEUTERANOPIA) >= 12
    assert smallest_difference(PALETTE[:7], PROTANOPIA) >= 12
    assert smallest_difference(PALETTE) >= 12
    # the palette it replaced had two greys 9 apart and three blues
    assert smallest_difference(("#999999", "#7F7F7F")) < 10


def test_palette_colours_show_on_the_dark_tiles_and_carry_readable_text():
    for color in PALETTE:
        assert contrast_ratio(color, "#111111") >= 3, color  # a tile's border on its background
        assert contrast_ratio(text_color_on(color), color) >= MIN_TEXT_CONTRAST, color
