"""The thumbnail route: ``/thumbs/<item_id>.png?size=&log=&pmin=&pmax=&cmap=`` (or ``.webp``).

Thumbnails are rendered from raw values on the server, kept in the flask-caching cache
and sent with long-lived HTTP cache headers, so a page of tiles costs the browser only
image requests it can cache, never image bytes inside callback responses.
"""
from __future__ import annotations

import hashlib
import logging
import re
from typing import Optional, Sequence
from urllib.parse import parse_qsl, urlsplit

from flask import Blueprint, Response, current_app, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy import select

from api.thumbnail_renders import RendersBusy, ThumbnailRenders, renders_of
from data.catalog import mark_unreadable
from data.sources import SourceError, UnreadableImage
from data.thumbnail_cache import THUMBNAIL_CACHE_SECONDS
from data.thumbnails import Thumbnail, colormap_lut, render_unreadable
from data.transforms import Transform
from db.models import MAX_ROW_ID, Dataset, Item
from db.session import transaction
from services import current_services

log = logging.getLogger(__name__)
blueprint = Blueprint("thumbs", __name__)
FORMATS = {"png": "image/png", "webp": "image/webp"}
# The sizes the pages ask for: a fixed set, so that other values cannot fill the cache
# with renders of the same image nor force new decodes.
SIZES = (32, 48, 64, 96, 128, 192, 256, 512, 1024)
THUMBNAIL_PATH = re.compile(r"/thumbs/(\d+)\.(\w+)")


class BadThumbnailRequest(ValueError):
    pass


class NoSuchItem(LookupError):
    pass


def thumbnail_params(args, fmt: str = "png") -> Thumbnail:
    """The rendering the query string asks for, or BadThumbnailRequest."""
    try:
        size = int(args.get("size", 128))
        transform = Transform(log=args.get("log", "0").lower() in ("1", "true", "yes"),
                              pmin=float(args.get("pmin", 1.0)), pmax=float(args.get("pmax", 99.0)))
    except ValueError as error:
        raise BadThumbnailRequest(f"bad thumbnail parameter: {error}") from error
    if size not in SIZES:
        raise BadThumbnailRequest(f"size must be one of {', '.join(map(str, SIZES))} pixels")
    colormap = args.get("cmap", "gray")
    colormap_lut(colormap)  # ValueError for an unknown one, before any render is asked
    return Thumbnail(size, transform, colormap, fmt)


def _render(item_id: int, thumbnail: Thumbnail, key: str, renders: ThumbnailRenders) -> bytes:
    """The thumbnail of an item looked up here: rendered by the workers where they run,
    else in this thread; either way kept in the cache."""
    services = current_services()
    with services.session_factory() as session:
        row = session.execute(select(Item, Dataset).join(Dataset, Dataset.id == Item.dataset_id)
                              .where(Item.id == item_id)).first() \
            if item_id <= MAX_ROW_ID else None
    if row is None:
        raise NoSuchItem(f"item {item_id} does not exist")
    item, dataset = row
    if item.status == "unreadable":
        body = render_unreadable(thumbnail.size, thumbnail.fmt)
        renders.kept.set(key, body)
        return body
    source = services.source(dataset)
    future = renders.submit(source, key, item.path, item.frame, thumbnail)
    body = renders.result(future) if future is not None else None
    if body is None:  # no workers, or the render's worker died
        body = thumbnail.render(source, item.path, item.frame)
        renders.kept.set(key, body)
    return body


def _body(item_id: int, thumbnail: Thumbnail, key: str) -> bytes:
    """The thumbnail: the render in flight for it (a page's, started by ``prefetch``) or
    just done, else the cached one, else a new render. A file that cannot be read is marked
    unreadable and gets the unreadable tile. A SourceError (Tiled server down, folder
    unmounted) is not the item's fault: it propagates as a 503 and nothing is cached or
    marked."""
    renders = renders_of(current_app)
    try:
        future = renders.in_flight(key)
        body = renders.result(future) if future is not None else renders.recent(key)
        if body is None:
            body = _cached(key)
        return body if body is not None else _render(item_id, thumbnail, key, renders)
    except UnreadableImage as error:
        with transaction(current_services().session_factory) as session:
            item = session.get(Item, item_id)
            if item is not None:
                mark_unreadable(session, item, str(error))
        body = render_unreadable(thumbnail.size, thumbnail.fmt)
        renders.kept.set(key, body)
        return body


def _cached(key: str) -> Optional[bytes]:
    """The cached thumbnail, or None; a cache that is down (Redis stopped) only costs a
    render, so its error is logged, not sent."""
    try:
        return current_services().cache.get(key)
    except (RedisError, OSError) as error:
        log.warning("thumbnail cache unavailable, rendering without it: %s", error)
        return None


def _is_cached(key: str) -> bool:
    try:
        return current_services().cache.has(key)
    except (RedisError, OSError):
        return False


def prefetch(dataset_id: int, urls: Sequence[str]) -> None:
    """Start the renders of the thumbnails at ``urls`` (a page's tiles, as its answer
    names them) that are neither cached nor in flight, their items looked up in one
    query; the route's requests for them then wait on these renders instead of each
    looking up and rendering its own."""
    renders = renders_of(current_app)
    wanted: dict[int, tuple[Thumbnail, str]] = {}
    for url in urls:
        parts = urlsplit(url)
        match = THUMBNAIL_PATH.fullmatch(parts.path)
        if match is None or match[2] not in FORMATS:
            continue
        try:
            thumbnail = thumbnail_params(dict(parse_qsl(parts.query)), match[2])
        except ValueError:  # the route answers it with a 400
            continue
        key = thumbnail.cache_key(int(match[1]))
        if renders.in_flight(key) is None and renders.recent(key) is None \
                and not _is_cached(key):
            wanted[int(match[1])] = (thumbnail, key)
    if not wanted:
        return
    services = current_services()
    with services.session_factory() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None or dataset.source_kind != "directory":
            return  # a Tiled server's arrays are read by the route, in the web process
        files = {item_id: (path, frame) for item_id, path, frame in session.execute(
            select(Item.id, Item.path, Item.frame).where(
                Item.dataset_id == dataset_id, Item.id.in_(wanted),
                Item.status != "unreadable"))}
        source = services.source(dataset)
    for item_id, (thumbnail, key) in wanted.items():  # in the page's order
        if item_id in files:
            renders.submit(source, key, *files[item_id], thumbnail)


@blueprint.get("/thumbs/<int:item_id>.<fmt>")
def thumbnail(item_id: int, fmt: str) -> Response:
    if fmt not in FORMATS:
        return jsonify(error=f"format '{fmt}' is not one of {', '.join(FORMATS)}"), 404
    try:
        thumbnail = thumbnail_params(request.args, fmt)
        key = thumbnail.cache_key(item_id)
        etag = hashlib.sha1(key.encode()).hexdigest()
        if etag in request.if_none_match:
            return Response(status=304, headers={"ETag": f'"{etag}"'})
        body = _body(item_id, thumbnail, key)
    except BadThumbnailRequest as error:
        return jsonify(error=str(error)), 400
    except NoSuchItem as error:
        return jsonify(error=str(error), field="item_id"), 404
    except SourceError as error:
        return jsonify(error=f"{error} (try again when the source is back)"), 503
    except RendersBusy as error:
        return jsonify(error=str(error)), 503
    except ValueError as error:  # unknown colour map
        return jsonify(error=str(error), field="cmap"), 400
    response = Response(body, mimetype=FORMATS[fmt])
    response.headers["Cache-Control"] = f"public, max-age={THUMBNAIL_CACHE_SECONDS}"
    response.set_etag(etag)
    return response
