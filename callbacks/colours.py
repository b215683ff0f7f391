"""Colours of label classes as the pages draw them: readable text on a class colour, and how
far apart two colours look.

Text on a class-coloured pill or bar segment is black or white, whichever contrasts more
with the background (WCAG 2 contrast ratio; either one reaches at least 4.58 on any
colour, above the 4.5 that WCAG asks of normal text). Perceived differences are CIEDE2000
(Sharma, Wu and Dalal 2005), the measure colour-science tools use to tell similar colours.
"""
from __future__ import annotations

import math

BLACK = "#000000"
WHITE = "#ffffff"
MIN_TEXT_CONTRAST = 4.5  # WCAG 2, level AA for normal text


def _channels(color: str) -> tuple[float, float, float]:
    """The sRGB channels of ``#RRGGBB`` in 0..1."""
    value = color.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"colour '{color}' is not of the form #RRGGBB")
    return tuple(int(value[i:i + 2], 16) / 255 for i in (0, 2, 4))


def _linear(channel: float) -> float:
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


def relative_luminance(color: str) -> float:
    """WCAG 2 relative luminance: 0 for black, 1 for white."""
    red, green, blue = (_linear(c) for c in _channels(color))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two colours, 1 (same) to 21 (black on white)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)),
                             reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_color_on(background: str) -> str:
    """Black or white, whichever is more readable on ``background``."""
    if contrast_ratio(BLACK, background) >= contrast_ratio(WHITE, background):
        return BLACK
    return WHITE


def pill_style(background: str) -> dict[str, str]:
    """The style of a pill, tile caption or bar segment filled with a class colour."""
    return {"backgroundColor": background, "color": text_color_on(background)}


# --- perceived difference -----------------------------------------------------------------

_WHITE_POINT = (0.95047, 1.0, 1.08883)  # D65


def to_lab(color: str) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of an sRGB colour."""
    red, green, blue = (_linear(c) for c in _channels(color))
    xyz = (0.4124564 * red + 0.3575761 * green + 0.1804375 * blue,
           0.2126729 * red + 0.7151522 * green + 0.0721750 * blue,
           0.0193339 * red + 0.1191920 * green + 0.9503041 * blue)

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = (f(value / white) for value, white in zip(xyz, _WHITE_POINT))
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def _hue(b: float, a: float) -> float:
    return math.degrees(math.atan2(b, a)) % 360 if (a or b) else 0.0


def delta_e_2000(lab1: tuple[float, float, float], lab2: tuple[float, float, float]) -> float:
    """CIEDE2000 difference of two L*a*b* colours (about 2: just noticeable; above 30:
    different colours at a glance)."""
    l1, a1, b1 = lab1
    l2, a2, b2 = lab2
    chroma_mean = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(chroma_mean ** 7 / (chroma_mean ** 7 + 25 ** 7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = math.hypot(a1, b1), math.hypot(a2, b2)
    h1, h2 = _hue(b1, a1), _hue(b2, a2)
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 + 180) % 360 - 180
    dl, dc = l2 - l1, c2 - c1
    dh_big = 2 * math.sqrt(c1 * c2) * math.sin(math.radians(dh / 2))
    l_mean, c_mean = (l1 + l2) / 2, (c1 + c2) / 2
    if c1 * c2 == 0:
        h_mean = h1 + h2
    elif abs(h1 - h2) <= 180:
        h_mean = (h1 + h2) / 2
    else:
        h_mean = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(h_mean - 30))
         + 0.24 * math.cos(math.radians(2 * h_mean))
         + 0.32 * math.cos(math.radians(3 * h_mean + 6))
         - 0.20 * math.cos(math.radians(4 * h_mean - 63)))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / math.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * c_mean
    s_h = 1 + 0.015 * c_mean * t
    rotation = -2 * math.sqrt(c_mean ** 7 / (c_mean ** 7 + 25 ** 7)) \
        * math.sin(math.radians(60 * math.exp(-(((h_mean - 275) / 25) ** 2))))
    return math.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (dh_big / s_h) ** 2
                     + rotation * (dc / s_c) * (dh_big / s_h))


def color_difference(first: str, second: str) -> float:
    """CIEDE2000 difference of two ``#RRGGBB`` colours."""
    return delta_e_2000(to_lab(first), to_lab(second))
