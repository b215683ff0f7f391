"""48 thumbnails of 512x512 16-bit TIFFs with log + percentile, through the route.

Cold (rendered from the files) under 1.0 s, cached under 100 ms, measured server side with
the Flask test client of the real server and its local thumbnail cache. Exits non-zero on a
miss.

    python benchmarks/bench_thumbs.py [--size 128] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_server  # noqa: E402
from benchmarks.goals import check_times  # noqa: E402
from data.catalog import scan_dataset  # noqa: E402
from data.demo import generate_demo  # noqa: E402
from data.catalog import register_dataset  # noqa: E402
from db.store import items_page  # noqa: E402
from services import current_services  # noqa: E402
from settings import Settings  # noqa: E402

TILES = 48
GOALS = {"cold": 1.0, "cached": 0.100}


def fetch_page(client, item_ids, size: int) -> float:
    start = time.perf_counter()
    for item_id in item_ids:
        response = client.get(f"/thumbs/{item_id}.png?size={size}&log=1&pmin=1&pmax=99")
        assert response.status_code == 200 and response.data[:4] == b"\x89PNG"
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_demo(tmp / "images", n_images=TILES, size=512, seed=1)
        settings = Settings(home=tmp / "home", data_roots=(tmp,))
        server = create_server(settings)
        with server.app_context():
            services = current_services()
            dataset = register_dataset(services.session_factory, settings.data_roots, "bench",
                                       "directory", str(tmp / "images"))
            scan_dataset(services.session_factory, dataset.id)
            with services.session_factory() as session:
                item_ids = [row.id for row in items_page(session, dataset.id, limit=TILES)]
        client = server.test_client()
        figures = {"cold": fetch_page(client, item_ids, args.size),
                   "cached": min(fetch_page(client, item_ids, args.size) for _ in range(5))}
    missed = check_times(figures, GOALS, f"{TILES} thumbnails ({args.size} px, log + 1-99 %) ")
    if args.json:
        args.json.write_text(json.dumps({"figures": {f"{name}_s": seconds for name, seconds
                                                     in figures.items()},
                                         "goals_s": GOALS, "missed": missed}, indent=2))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
