"""The requests a page of the running app makes, over HTTP keep-alive connections as a
browser keeps them: Dash callbacks (``/_dash-update-component``) and the thumbnail route."""
from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

CONNECTIONS = 6  # Chromium's connections to one host over HTTP/1.1


class Connection:
    """One keep-alive connection to the app."""

    def __init__(self, base: str, timeout: float = 600.0):
        self.http = http.client.HTTPConnection(urlsplit(base).netloc, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.http.request(method, path, body=body, headers=headers)
        answer = self.http.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{method} {path}: {answer.status} {data[:300]!r}")
        return data


class PageRequests:
    """A page as the browser drives it: its layout and Dash's dependencies loaded once,
    then callbacks by their output and the images its answers name."""

    def __init__(self, base: str, page: str, connections: int = CONNECTIONS):
        self.connections = [Connection(base) for _ in range(connections)]
        self.pool = ThreadPoolExecutor(connections)
        main = self.connections[0]
        main.request("GET", page)
        main.request("GET", "/_dash-layout")
        self.callbacks = json.loads(main.request("GET", "/_dash-dependencies"))

    def callback(self, output: str, values: dict, changed: str) -> dict:
        """The answer of the callback whose outputs include ``output`` ("id.property"), its
        inputs and states taken from ``values`` ("id.property" -> value; None if absent),
        as fired by a change of ``changed``."""
        spec = next(c for c in self.callbacks if f"..{output}.." in c["output"]
                    or c["output"] == output)

        def fill(entries):
            return [{**e, "value": values.get(f"{e['id']}.{e['property']}")} for e in entries
                    if not e["id"].startswith("{")]

        outputs = [{"id": part.split(".")[0], "property": part.split(".")[1].split("@")[0]}
                   for part in spec["output"].strip(".").split("...")]
        body = json.dumps({"output": spec["output"],
                           "outputs": outputs if spec["output"].startswith("..") else outputs[0],
                           "inputs": fill(spec["inputs"]), "state": fill(spec["state"]),
                           "changedPropIds": [changed]}).encode()
        return json.loads(self.connections[0].request("POST", "/_dash-update-component", body))

    def fetch_all(self, urls: list[str], prefix: bytes = b"") -> None:
        """Every URL fetched, shared out over the connections; each body must start with
        ``prefix``."""
        count = len(self.connections)

        def fetch(connection: Connection, share: list[str]) -> None:
            for url in share:
                if not connection.request("GET", url).startswith(prefix):
                    raise RuntimeError(f"{url} does not start with {prefix!r}")

        list(self.pool.map(fetch, self.connections, [urls[i::count] for i in range(count)]))

    def close(self) -> None:
        self.pool.shutdown()
        for connection in self.connections:
            connection.http.close()
