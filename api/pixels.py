"""Raw pixel values of one item, for the full-resolution viewer's read-out: the image may
be shown downscaled and colour-mapped, but the value under the pointer is read here, at
full resolution, in the file's own units."""
from __future__ import annotations

from api.blueprints import resource_blueprint
from api.datasets import ITEMS
from api.error_answers import error_response, responses
from api.models_pixels import ItemPath, PixelBlockOut, PixelQuery
from data.pixel_block import read_block
from data.sources import SourceError, UnreadableImage
from db.lookups import item_with_label
from db.models import MAX_ROW_ID
from errors import DomainError
from services import current_services

blueprint = resource_blueprint("pixels")


@blueprint.get("/items/<int:item_id>/pixels", tags=[ITEMS],
               summary="Raw values of a block of pixels of one item (at most 128 x 128)",
               description="x and y name the block's top-left pixel (column, row, from 0); "
                           "the block is cut at the image's edges.",
               responses=responses(200, PixelBlockOut, 400, 404, 409, 503))
def item_pixels(path: ItemPath, query: PixelQuery):
    services = current_services()
    with services.session_factory() as session:
        row = item_with_label(session, path.item_id) if path.item_id <= MAX_ROW_ID else None
    if row is None:
        raise DomainError(f"item {path.item_id} does not exist", "item_id", status=404)
    item, dataset, _label = row
    try:
        raw = services.source(dataset).read(item.path, item.frame)
    except UnreadableImage as error:
        raise DomainError(f"item {item.id} cannot be read: {error}", "item_id",
                          status=409) from error
    except SourceError as error:
        return error_response(503, f"{error} (try again when the source is back)")
    block = read_block(raw, query.x, query.y, query.width, query.height)
    return PixelBlockOut(item_id=item.id, x=block.x, y=block.y, image_width=raw.shape[1],
                         image_height=raw.shape[0], dtype=str(raw.dtype),
                         values=block.values).model_dump(mode="json")
