"""An app (Flask server, no web process) with one folder registered and its header scan
finished, as the scan and thumbnail tests start from."""
from __future__ import annotations

from pathlib import Path

from app import create_server
from data.catalog import register_dataset
from settings import Settings


def scanned_app(tmp_path: Path, folder: Path, scan_workers: int):
    """(server, its services, the data set) for ``folder``, scanned by ``scan_workers``."""
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,),
                        scan_workers=scan_workers)
    server = create_server(settings)
    services = server.extensions["beamlabel"]
    dataset = register_dataset(services.session_factory, settings.data_roots, folder.name,
                               "directory", str(folder))
    services.start_scan(dataset.id).result(timeout=120)
    return server, services, dataset
