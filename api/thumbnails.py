"""The thumbnail route: ``/thumbs/<item_id>.png?size=&log=&pmin=&pmax=&cmap=`` (or ``.webp``).

Thumbnails are rendered from raw values on the server, kept in the flask-caching cache
and sent with long-lived HTTP cache headers, so a page of tiles costs the browser only
image requests it can cache, never image bytes inside callback responses.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Optional

from flask import Blueprint, Response, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy import select

from data.catalog import mark_unreadable
from data.sources import SourceError, UnreadableImage
from data.sources.base import TooLargeForPreview
from data.thumbnails import render_thumbnail, render_unreadable
from data.transforms import Transform
from db.models import MAX_ROW_ID, Dataset, Item
from db.session import transaction
from services import THUMBNAIL_CACHE_SECONDS, current_services

log = logging.getLogger(__name__)
blueprint = Blueprint("thumbs", __name__)
FORMATS = {"png": "image/png", "webp": "image/webp"}
# The sizes the pages ask for: a fixed set, so that other values cannot fill the cache
# with renders of the same image nor force new decodes.
SIZES = (32, 48, 64, 96, 128, 192, 256, 512, 1024)


class BadThumbnailRequest(ValueError):
    pass


class NoSuchItem(LookupError):
    pass


def thumbnail_params(args) -> tuple[int, Transform, str]:
    """Size, transform and colour map from the query string, or BadThumbnailRequest."""
    try:
        size = int(args.get("size", 128))
        transform = Transform(log=args.get("log", "0").lower() in ("1", "true", "yes"),
                              pmin=float(args.get("pmin", 1.0)), pmax=float(args.get("pmax", 99.0)))
    except ValueError as error:
        raise BadThumbnailRequest(f"bad thumbnail parameter: {error}") from error
    if size not in SIZES:
        raise BadThumbnailRequest(f"size must be one of {', '.join(map(str, SIZES))} pixels")
    return size, transform, args.get("cmap", "gray")


def _render(item_id: int, fmt: str, size: int, transform: Transform, cmap: str) -> bytes:
    services = current_services()
    with services.session_factory() as session:
        row = session.execute(select(Item, Dataset).join(Dataset, Dataset.id == Item.dataset_id)
                              .where(Item.id == item_id)).first() \
            if item_id <= MAX_ROW_ID else None
    if row is None:
        raise NoSuchItem(f"item {item_id} does not exist")
    item, dataset = row
    if item.status == "unreadable":
        return render_unreadable(size, fmt)
    try:
        raw = services.source(dataset).read(item.path, item.frame, max_size=size)
    except TooLargeForPreview:
        return render_unreadable(size, fmt)  # the item itself is fine: nothing to mark
    except UnreadableImage as error:
        with transaction(services.session_factory) as session:
            mark_unreadable(session, session.get(Item, item_id), str(error))
        return render_unreadable(size, fmt)
    # A SourceError (Tiled server down, folder unmounted) is not the item's fault: it
    # propagates as a 503 and nothing is cached or marked.
    return render_thumbnail(raw, size, transform, cmap, fmt)


def _cached(key: str) -> Optional[bytes]:
    """The cached thumbnail, or None; a cache that is down (Redis stopped) only costs a
    render, so its error is logged, not sent."""
    try:
        return current_services().cache.get(key)
    except (RedisError, OSError) as error:
        log.warning("thumbnail cache unavailable, rendering without it: %s", error)
        return None


def _keep(key: str, body: bytes) -> None:
    try:
        current_services().cache.set(key, body)
    except (RedisError, OSError) as error:
        log.warning("thumbnail cache unavailable, not keeping the render: %s", error)


@blueprint.get("/thumbs/<int:item_id>.<fmt>")
def thumbnail(item_id: int, fmt: str) -> Response:
    if fmt not in FORMATS:
        return jsonify(error=f"format '{fmt}' is not one of {', '.join(FORMATS)}"), 404
    try:
        size, transform, cmap = thumbnail_params(request.args)
        key = f"thumb:{item_id}:{fmt}:{size}:{transform.log:d}:{transform.pmin:g}:" \
              f"{transform.pmax:g}:{cmap}"
        etag = hashlib.sha1(key.encode()).hexdigest()
        if etag in request.if_none_match:
            return Response(status=304, headers={"ETag": f'"{etag}"'})
        body = _cached(key)
        if body is None:
            body = _render(item_id, fmt, size, transform, cmap)
            _keep(key, body)
    except BadThumbnailRequest as error:
        return jsonify(error=str(error)), 400
    except NoSuchItem as error:
        return jsonify(error=str(error), field="item_id"), 404
    except SourceError as error:
        return jsonify(error=f"{error} (try again when the source is back)"), 503
    except ValueError as error:  # unknown colour map
        return jsonify(error=str(error), field="cmap"), 400
    response = Response(body, mimetype=FORMATS[fmt])
    response.headers["Cache-Control"] = f"public, max-age={THUMBNAIL_CACHE_SECONDS}"
    response.set_etag(etag)
    return response
