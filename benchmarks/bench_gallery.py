"""Server time of one page turn of the labeling page on a 100,000-image data set.

Drives the real Dash callback endpoint and the thumbnail route through the Flask test
client, exactly the requests a browser makes for a page turn of 48 tiles:
- cached thumbnails: under 150 ms; cold (never rendered): under 1.5 s;
- labeling a selection of 48 and the progress update: under 200 ms;
- the page-turn callback response carries no image bytes (its size is printed).
Exits non-zero when a goal is missed.

    python benchmarks/bench_gallery.py [--images 100000]
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app  # noqa: E402
from benchmarks.goals import check_times, verdict  # noqa: E402
from data.catalog import register_dataset, scan_dataset  # noqa: E402
from data.demo import generate_demo  # noqa: E402
from db.labels import create_label  # noqa: E402
from db.session import transaction  # noqa: E402
from services import current_services  # noqa: E402
from settings import Settings  # noqa: E402

TILES = 48
GOALS = {"page turn, cached": 0.150, "page turn, cold": 1.5, "label 48 + progress": 0.200}
MAX_CALLBACK_BYTES = 100_000


def make_folder(folder: Path, n_images: int) -> None:
    """n_images 256x256 16-bit TIFFs: 200 distinct demo patterns, copied to fill the folder."""
    patterns = Path(tempfile.mkdtemp())
    generate_demo(patterns, n_images=200, size=256, seed=7)
    sources = sorted(patterns.rglob("*.tif"))
    payloads = [p.read_bytes() for p in sources]
    for i in range(n_images):
        sub = folder / f"run_{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True)
        (sub / f"img_{i:06d}.tif").write_bytes(payloads[i % len(payloads)])
    shutil.rmtree(patterns)


class DashClient:
    """Posts callback requests the way dash-renderer does."""

    def __init__(self, app):
        self.client = app.server.test_client()
        self.client.get("/_dash-layout")  # Dash collects the callbacks on its first request
        self.callbacks = app.callback_map

    def _key(self, output_id: str, output_prop: str) -> str:
        return next(key for key in self.callbacks if f"{output_id}.{output_prop}" in key
                    and "@" not in key.split(f"{output_id}.{output_prop}")[1][:1])

    def call(self, output: str, values: dict, changed: str) -> tuple[dict, int]:
        key = self._key(*output.split("."))
        spec = self.callbacks[key]

        def fill(entries):
            return [[] if isinstance(e["id"], str) and e["id"].startswith("{") else
                    {**e, "value": values.get(f"{e['id']}.{e['property']}")} for e in entries]

        outputs = [{"id": part.split(".")[0], "property": part.split(".")[1].split("@")[0]}
                   for part in key.strip(".").split("...")]
        body = {"output": key, "outputs": outputs if key.startswith("..") else outputs[0],
                "inputs": fill(spec["inputs"]), "state": fill(spec["state"]),
                "changedPropIds": [changed]}
        response = self.client.post("/_dash-update-component", json=body)
        assert response.status_code == 200, response.data[:500]
        return response.get_json(), len(response.data)


def page_values(dataset_id: int, page: int, selection=()) -> dict:
    return {"label-dataset.value": dataset_id, "label-page.value": page,
            "label-page-size.value": str(TILES), "label-thumb-size.value": "128",
            "label-sort.value": "name", "label-filter.value": "all",
            "label-log.value": True,
            "label-percentiles.value": [1, 99], "label-colormap.value": "gray",
            "label-next.n_clicks": 1, "label-revision.data": 0, "label-as-of.data": None,
            "label-selection.data": list(selection)}


def page_turn(dash: DashClient, dataset_id: int, page: int) -> tuple[float, int, list[int]]:
    start = time.perf_counter()
    answer, size = dash.call("label-grid.children", page_values(dataset_id, page),
                             "label-next.n_clicks")
    tiles = json.dumps(answer["response"]["label-grid"])  # not the next page's, fetched ahead
    urls = re.findall(r'"(/thumbs/\d+\.png\?[^"]+)"', tiles)
    assert len(urls) == TILES, f"{len(urls)} thumbnails on the page"
    for url in urls:
        response = dash.client.get(url)
        assert response.status_code == 200
    items = answer["response"]["label-page-items"]["data"]
    return time.perf_counter() - start, size, items


def label_and_progress(dash: DashClient, dataset_id: int, items: list[int]) -> float:
    values = {"label-key.data": {"key": "1", "items": items, "seq": 1},
              "label-selection.data": items,
              "label-dataset.value": dataset_id, "label-tagger.value": "bench",
              "label-page-items.data": items, "label-advance.value": False,
              "label-as-of.data": None, "label-revision.data": 0, "label-page.value": 2}
    start = time.perf_counter()
    answer, _ = dash.call("label-written.data", values, "label-key.data")
    assert answer["response"]["label-written"]["data"]["ok"], answer
    dash.call("label-progress.children", {"label-dataset.value": dataset_id,
                                          "label-revision.data": 1}, "label-revision.data")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        make_folder(tmp / "images", args.images)
        print(f"wrote {args.images:,} images in {time.perf_counter() - start:.0f} s")
        settings = Settings(home=tmp / "home", data_roots=(tmp,), tagger="bench")
        app = create_app(settings, resume_scans=False)
        with app.server.app_context():
            services = current_services()
            dataset = register_dataset(services.session_factory, settings.data_roots, "bench",
                                       "directory", str(tmp / "images"))
            start = time.perf_counter()
            scan_dataset(services.session_factory, dataset.id)
            print(f"read {args.images:,} headers in {time.perf_counter() - start:.0f} s")
            with transaction(services.session_factory) as session:
                create_label(session, dataset.id, "rings")
        dash = DashClient(app)
        page_turn(dash, dataset.id, 1)  # warm the process (imports, first queries)
        middle = args.images // TILES // 2
        cold, size, items = page_turn(dash, dataset.id, middle)
        cached = min(page_turn(dash, dataset.id, middle)[0] for _ in range(5))
        labeling = min(label_and_progress(dash, dataset.id, items) for _ in range(3))
    figures = {"page turn, cold": cold, "page turn, cached": cached,
               "label 48 + progress": labeling}
    missed = check_times(figures, GOALS)
    ok = size < MAX_CALLBACK_BYTES
    print(f"page-turn callback response: {size:,} bytes, no image bytes "
          f"(goal < {MAX_CALLBACK_BYTES:,})  {verdict(ok)}")
    return 0 if ok and not missed else 1


if __name__ == "__main__":
    raise SystemExit(main())
