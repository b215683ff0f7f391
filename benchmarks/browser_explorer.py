"""The explorer in a real browser with a real mouse, at 10,000 or 100,000 points.

The app (``python -m app`` with its local worker) runs in a subprocess with a fresh data
home. The data set and its projection are made through the app's own path: demo images
(small, to keep it quick) registered over REST, a ``scattering_features`` job and a PCA
``projection`` job started over REST and run by the worker. Headless Chromium at 1600×1000
then opens the explorer and, with real pointer events only:

- hovers the loneliest point and checks that its thumbnail appears and loads;
- chooses the lasso on the modebar and drags a circle around about 50 points, then the
  box and drags a square around about 50 others (first zooming in with a box-zoom drag
  when the view is too crowded for a region that size), and compares the items the page
  selected with the items whose plotted coordinates (from the projection job's own files,
  placed with the plot's axes) lie inside the drawn outline.

The selected items are read from the selection the page saved (its key is in the page's
"Open in the gallery" link), all of them, not only the thumbnails shown. Prints the figures
and exits non-zero when the hover or a selection is wrong.

    python benchmarks/browser_explorer.py [--points 10000] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qs, urlparse

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.goals import verdict  # noqa: E402
from benchmarks.headless_chromium import start_chromium  # noqa: E402
from benchmarks.labeling_oracle import RestClient  # noqa: E402
from benchmarks.waiting import wait_until  # noqa: E402
from data.demo import generate_demo  # noqa: E402
from db.session import open_database  # noqa: E402
from ml.projection_results import load_projection, selection_items  # noqa: E402
from settings import Settings  # noqa: E402
from tests.browser import launched_app  # noqa: E402  (the launcher as the tests start it)
from tests.plot_pointer import (choose_dragmode, drag_along, loneliest_point,  # noqa: E402
                                move_to, plot_area, region_around, scroll_into_view,
                                to_pixels)

GRAPH = "explorer-graph"
REGION_POINTS = 50
IMAGE_SIDE = 32
JOB_TIMEOUT_SECONDS = 3600
PAGE_TIMEOUT_SECONDS = 300


def run_job(api: RestClient, kind: str, dataset_id: int, params: dict) -> dict:
    job = api.post("/jobs", {"kind": kind, "dataset_id": dataset_id, "params": params})

    def finished():
        answer = api.get(f"/jobs/{job['id']}")
        return answer if answer["status"] in ("succeeded", "failed", "cancelled") else None

    job = wait_until(finished, JOB_TIMEOUT_SECONDS, f"the {kind} job", poll=1.0)
    if job["status"] != "succeeded":
        raise RuntimeError(f"the {kind} job {job['status']}: {job.get('error')}")
    return job


def prepare(api: RestClient, root: Path, points: int) -> tuple[int, int, dict[str, float]]:
    """(data set id, projection job id, seconds per step) of ``points`` demo images."""
    seconds = {}
    start = time.perf_counter()
    generate_demo(root / "images", n_images=points, size=IMAGE_SIDE, seed=0)
    seconds["write images"] = time.perf_counter() - start
    start = time.perf_counter()
    dataset = api.post("/datasets", {"name": f"explorer-{points}",
                                     "source": {"kind": "directory",
                                                "path": str(root / "images")}})
    dataset = wait_until(lambda: (lambda d: d if d["status"] != "scanning" else None)(
        api.get(f"/datasets/{dataset['id']}")), JOB_TIMEOUT_SECONDS, "the scan")
    seconds["register"] = time.perf_counter() - start
    start = time.perf_counter()
    features = run_job(api, "scattering_features", dataset["id"], {})
    seconds["features job"] = time.perf_counter() - start
    start = time.perf_counter()
    projection = run_job(api, "projection", dataset["id"], {
        "feature_job_id": features["id"], "method": "pca", "n_components": 2,
        "heatmap_size": 8})
    seconds["projection job"] = time.perf_counter() - start
    return dataset["id"], projection["id"], seconds


def drawn_points(driver) -> int:
    return driver.execute_script(
        f"const plot = document.querySelector('#{GRAPH} .js-plotly-plot');"
        "return plot && plot._fullData ? plot._fullData.reduce((n, t) => n + "
        "(t.x ? t.x.length : 0), 0) : 0")


def hover_shows_thumbnail(driver, item_ids: np.ndarray, points: np.ndarray,
                          tries: int = 3) -> tuple[bool, int, int]:
    """(whether the loneliest point's thumbnail appeared and loaded, the pointer moves onto
    it that took, plotly's hover events seen)."""
    scroll_into_view(driver, GRAPH)
    driver.execute_script(
        f"const plot = document.querySelector('#{GRAPH} .js-plotly-plot'); window.hovers = 0;"
        "plot.on('plotly_hover', () => { window.hovers += 1; });")
    script = ("return [...document.querySelectorAll('#explorer-tooltip img')].some(img =>"
              " img.src.includes(arguments[0]) && img.complete && img.naturalWidth > 0)")
    for attempt in range(1, tries + 1):
        pixels = to_pixels(driver, GRAPH, points)
        alone, _spacing = loneliest_point(pixels, plot_area(driver, GRAPH))
        move_to(driver, pixels[alone, 0] - 30, pixels[alone, 1])  # come from aside
        move_to(driver, *pixels[alone])
        try:
            wait_until(lambda: driver.execute_script(script, f"/thumbs/{item_ids[alone]}.png"),
                       10, "the hover thumbnail")
            return True, attempt, driver.execute_script("return window.hovers")
        except TimeoutError:
            continue
    return False, tries, driver.execute_script("return window.hovers")


def zoom_in(driver, points: np.ndarray) -> None:
    """A box-zoom drag around about 10 times the region's points."""
    choose_dragmode(driver, GRAPH, "zoom")
    pixels = to_pixels(driver, GRAPH, points)
    region = region_around(pixels, REGION_POINTS * 10, plot_area(driver, GRAPH), "zoom",
                           exact=False)
    if region is None:
        raise RuntimeError("no place to zoom into")
    before = to_pixels(driver, GRAPH, points[:1]).tolist()
    drag_along(driver, region.path)
    wait_until(lambda: to_pixels(driver, GRAPH, points[:1]).tolist() != before, 20,
               "the zoom")
    time.sleep(0.5)  # plotly redraws the WebGL points after the axes


def selection_key(driver) -> Optional[str]:
    href = driver.execute_script("const a = document.getElementById('explorer-gallery-link');"
                                 "return a ? a.href : ''")
    return (parse_qs(urlparse(href or "").query).get("selection") or [None])[0]


def drag_a_region(driver, session_factory, job_id: int, item_ids: np.ndarray,
                  points: np.ndarray, mode: str) -> dict:
    """Choose ``mode`` on the modebar, drag around about REGION_POINTS points; the items
    selected and expected, and the seconds from the release to the page's count."""
    for zooms in range(4):
        choose_dragmode(driver, GRAPH, mode)
        pixels = to_pixels(driver, GRAPH, points)
        region = region_around(pixels, REGION_POINTS, plot_area(driver, GRAPH), mode)
        if region is not None:
            break
        zoom_in(driver, points)
    else:
        raise RuntimeError(f"no {mode} region of about {REGION_POINTS} points")
    expected = sorted(item_ids[region.inside].tolist())
    key_before = selection_key(driver)
    drag_along(driver, region.path)
    start = time.perf_counter()
    key = wait_until(lambda: (lambda k: k if k and k != key_before else None)(
        selection_key(driver)), 60, f"the {mode} selection")
    seconds = time.perf_counter() - start
    with session_factory() as session:
        selected = sorted(selection_items(load_projection(session, job_id), key).tolist())
    return {"selected": selected, "expected": expected, "seconds": seconds, "zooms": zooms}


def measure_explorer(points: int) -> dict:
    """Prepare ``points`` points through the app, then hover, lasso and box-select them in
    headless Chromium; the figures (see the module's docstring)."""
    root = Path(tempfile.mkdtemp(prefix="browser-explorer-"))
    driver = None
    try:
        settings = Settings(home=root / "home", data_roots=(root,), tagger="bench")
        with launched_app(settings, root, with_worker=True) as url:
            api = RestClient(url)
            start = time.perf_counter()
            dataset_id, job_id, steps = prepare(api, root, points)
            prepare_seconds = time.perf_counter() - start
            engine, session_factory = open_database(settings)
            with session_factory() as session:
                projection = load_projection(session, job_id)
                item_ids, coords = projection.item_ids.copy(), np.array(projection.points)
            driver = start_chromium()
            start = time.perf_counter()
            driver.get(f"{url}/explorer?dataset={dataset_id}&projection={job_id}")
            wait_until(lambda: drawn_points(driver) == len(item_ids), PAGE_TIMEOUT_SECONDS,
                       "the plot")
            page_seconds = time.perf_counter() - start
            hover, hover_moves, hover_events = hover_shows_thumbnail(driver, item_ids, coords)
            lasso = drag_a_region(driver, session_factory, job_id, item_ids, coords, "lasso")
            box = drag_a_region(driver, session_factory, job_id, item_ids, coords, "select")
            errors = [entry["message"] for entry in driver.get_log("browser")
                      if "Error" in entry["message"]]
            engine.dispose()
    except Exception:
        log = root / "beamlabel.log"
        if log.exists():  # the app's own account of what went wrong, before it is removed
            print(log.read_text()[-4000:], file=sys.stderr)
        raise
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "points": len(item_ids), "prepare_seconds": round(prepare_seconds, 1),
        "prepare_steps_seconds": {name: round(s, 1) for name, s in steps.items()},
        "page_seconds": round(page_seconds, 2), "hover_thumbnail": hover,
        "hover_moves": hover_moves, "hover_events": hover_events,
        "lasso_selected": len(lasso["selected"]), "lasso_expected": len(lasso["expected"]),
        "lasso_equal": lasso["selected"] == lasso["expected"],
        "lasso_seconds": round(lasso["seconds"], 2), "lasso_zooms": lasso["zooms"],
        "box_selected": len(box["selected"]), "box_expected": len(box["expected"]),
        "box_equal": box["selected"] == box["expected"],
        "box_seconds": round(box["seconds"], 2), "box_zooms": box["zooms"],
        "console_errors": errors,
    }


def passed(figures: dict) -> bool:
    return bool(figures["hover_thumbnail"] and figures["lasso_equal"] and figures["box_equal"]
                and figures["lasso_expected"] and figures["box_expected"]
                and not figures["console_errors"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=10_000, help="items in the projection")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on SIGTERM too
    figures = measure_explorer(args.points)
    for name, value in figures.items():
        print(f"{name:<22} {value}")
    ok = passed(figures)
    print(f"hover, lasso and box with a real mouse at {figures['points']:,} points: "
          f"{verdict(ok)}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
