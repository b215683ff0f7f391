"""A plotly scatter plot driven with the mouse, as a person does: where its points are on
the screen, the modebar's drag modes, hovering, lasso and box drags (real pointer events
through selenium's ActionChains), and the regions to drag around.

Where a point is drawn is read from the plot's axes (their range, offset and length, the
numbers plotly draws with) and the point's coordinates as the projection job stored them,
so the expected items of a drag never come from the page's own mapping of events to ids.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from dash.testing.wait import until
from scipy.spatial import cKDTree
from selenium.webdriver.common.action_chains import ActionChains

# No point this close to a drawn outline: the pointer moves in whole pixels along it, and
# plotly's lasso drops vertices within 1.5 px of the line through their neighbours.
SAFE_PIXELS = 1.5
MIN_DRAG_PIXELS = 24  # smaller drags read as clicks


def _plot(graph_id: str) -> str:
    return f"document.querySelector('#{graph_id} .js-plotly-plot')"


def scroll_into_view(driver, graph_id: str) -> None:
    driver.execute_script(f"{_plot(graph_id)}.scrollIntoView({{block: 'center'}})")


def to_pixels(driver, graph_id: str, xy: np.ndarray) -> np.ndarray:
    """Viewport pixels (n × 2) where the 2-D plot draws data coordinates ``xy``: each
    linear axis draws value v at offset + b + m·v."""
    x_axis, y_axis, left, top = driver.execute_script(
        f"const plot = {_plot(graph_id)}; const box = plot.getBoundingClientRect();"
        "const axis = a => [a._offset + a._b, a._m];"
        "return [axis(plot._fullLayout.xaxis), axis(plot._fullLayout.yaxis), box.left, box.top]")
    xy = np.asarray(xy, dtype=np.float64)
    return np.c_[left + x_axis[0] + x_axis[1] * xy[:, 0], top + y_axis[0] + y_axis[1] * xy[:, 1]]


def plot_area(driver, graph_id: str) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the axes' area in viewport pixels."""
    return tuple(driver.execute_script(
        f"const r = {_plot(graph_id)}.querySelector('.nsewdrag').getBoundingClientRect();"
        "return [r.left, r.top, r.right, r.bottom]"))


def choose_dragmode(driver, graph_id: str, mode: str) -> None:
    """Click the modebar button of ``mode`` ("lasso" or "select", the box); the modebar
    shows while the pointer is over the plot."""
    plot = driver.find_element("css selector", f"#{graph_id} .js-plotly-plot")
    button = driver.find_element(
        "css selector", f'#{graph_id} .modebar-btn[data-attr="dragmode"][data-val="{mode}"]')
    ActionChains(driver).move_to_element(plot).pause(0.2).move_to_element(button).click() \
        .perform()
    until(lambda: "active" in (button.get_attribute("class") or ""), timeout=5)


def move_to(driver, x: float, y: float) -> None:
    chain = ActionChains(driver)
    chain.w3c_actions.pointer_action.move_to_location(int(round(x)), int(round(y)))
    chain.perform()


def drag_along(driver, path: np.ndarray) -> None:
    """Press the button at the path's first vertex, move through the others, release."""
    path = np.asarray(path, dtype=int)
    chain = ActionChains(driver, duration=15)
    chain.w3c_actions.pointer_action.move_to_location(int(path[0, 0]), int(path[0, 1]))
    chain.click_and_hold()
    for step in np.diff(path, axis=0):
        chain.move_by_offset(int(step[0]), int(step[1]))
    chain.release().perform()


# --- regions holding about a given number of points -----------------------------------------

@dataclass(frozen=True)
class Region:
    path: np.ndarray  # integer viewport pixels the pointer is dragged through
    inside: np.ndarray  # bool per point: drawn inside the region


def circle(centre: np.ndarray, radius: float, vertices: int = 16) -> np.ndarray:
    """A closed polygon close to the circle, in whole pixels; with 16 vertices, each lies
    more than 1.5 px off its neighbours' line from a radius of 20 px, so plotly keeps
    them all."""
    angles = np.linspace(0, 2 * np.pi, vertices + 1)
    return np.rint(centre + radius * np.c_[np.cos(angles), np.sin(angles)]).astype(int)


def box(centre: np.ndarray, half_side: float) -> np.ndarray:
    """The closed outline of a square, in whole pixels, from its top-left corner."""
    (x0, y0), (x1, y1) = np.rint(centre - half_side), np.rint(centre + half_side)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=int)


def inside_polygon(pixels: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule, as plotly's lasso tests points."""
    x, y = pixels[:, :1], pixels[:, 1:]
    x0, y0 = polygon[None, :-1, 0], polygon[None, :-1, 1]
    x1, y1 = polygon[None, 1:, 0], polygon[None, 1:, 1]
    crosses = ((y0 > y) != (y1 > y)) & (
        x < x0 + (y - y0) * (x1 - x0) / np.where(y1 == y0, 1, y1 - y0))
    return crosses.sum(axis=1) % 2 == 1


def edge_distance(pixels: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Distance of each point to the nearest edge of ``polygon``."""
    start, end = polygon[:-1].astype(float), polygon[1:].astype(float)
    edge = end - start
    length = np.maximum((edge ** 2).sum(axis=1), 1e-12)
    along = np.clip(((pixels[:, None, :] - start) * edge).sum(axis=2) / length, 0, 1)
    nearest = start + along[:, :, None] * edge
    return np.sqrt(((pixels[:, None, :] - nearest) ** 2).sum(axis=2)).min(axis=1)


def _within(polygon: np.ndarray, area: tuple[float, ...]) -> bool:
    left, top, right, bottom = area
    return bool((polygon[:, 0] > left + 2).all() and (polygon[:, 0] < right - 2).all()
                and (polygon[:, 1] > top + 2).all() and (polygon[:, 1] < bottom - 2).all())


def region_around(pixels: np.ndarray, count: int, area: tuple[float, ...], shape: str,
                  candidates: int = 2000, seed: int = 0, exact: bool = True) -> Optional[Region]:
    """A lasso circle (``shape`` "lasso") or a box (any other) inside ``area`` around about
    ``count`` points (±10 %), the largest found, with no point within SAFE_PIXELS of its
    outline (unless not ``exact``, e.g. for a zoom); None when there is none."""
    norm = 2 if shape == "lasso" else np.inf
    tree = cKDTree(pixels)
    left, top, right, bottom = area
    shown = pixels[(pixels[:, 0] > left) & (pixels[:, 0] < right) & (pixels[:, 1] > top)
                   & (pixels[:, 1] < bottom)]
    if len(shown) == 0:
        return None
    centres = shown[np.random.default_rng(seed).choice(
        len(shown), min(candidates, len(shown)), replace=False)]
    low, high = max(1, int(count * 0.9)), min(int(count * 1.1) + 1, len(pixels) - 1)
    distances, _ = tree.query(centres, k=high + 1, p=norm)
    options = []
    for centre, near in zip(centres, distances):
        gaps = np.diff(near[low - 1:])  # between the k-th and the k+1-th nearest point
        k = int(np.argmax(gaps))
        if gaps[k] > 2 * SAFE_PIXELS or not exact:
            options.append(((near[low - 1 + k] + near[low + k]) / 2, centre))
    for radius, centre in sorted(options, key=lambda option: -option[0]):
        if radius < MIN_DRAG_PIXELS:
            break
        outline = circle(centre, radius) if shape == "lasso" else box(centre, radius)
        if not _within(outline, area):
            continue
        near = tree.query_ball_point(centre, radius * 1.5 + 3 * SAFE_PIXELS, p=norm)
        if not exact or edge_distance(pixels[near], outline).min() >= SAFE_PIXELS:
            # a box is dragged from its first corner through its middle to the opposite one
            path = outline if shape == "lasso" else np.array(
                [outline[0], (outline[0] + outline[2]) // 2, outline[2]])
            return Region(path, inside_polygon(pixels, outline))
    return None


def loneliest_point(pixels: np.ndarray, area: tuple[float, ...]) -> tuple[int, float]:
    """(index, distance in pixels to its nearest neighbour) of the point farthest from any
    other inside ``area``: hovering it can mean no other point."""
    left, top, right, bottom = area
    shown = np.flatnonzero((pixels[:, 0] > left + 10) & (pixels[:, 0] < right - 10)
                           & (pixels[:, 1] > top + 10) & (pixels[:, 1] < bottom - 10))
    distances, _ = cKDTree(pixels).query(pixels[shown], k=2)
    best = int(np.argmax(distances[:, 1]))
    return int(shown[best]), float(distances[best, 1])
