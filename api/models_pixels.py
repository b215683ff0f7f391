"""Request and response shapes of the pixel read-out route (``api.pixels``)."""
from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, Field

from api.models import RowId
from data.pixel_block import MAX_BLOCK, NON_FINITE


class ItemPath(BaseModel):
    item_id: RowId = Field(description="id of the item (one image or frame)")


class PixelQuery(BaseModel):
    x: int = Field(ge=0, le=2**31 - 1, description="column of the block's top-left pixel")
    y: int = Field(ge=0, le=2**31 - 1, description="row of the block's top-left pixel")
    width: int = Field(1, ge=1, le=MAX_BLOCK, description="columns (cut at the image's edge)")
    height: int = Field(1, ge=1, le=MAX_BLOCK, description="rows (cut at the image's edge)")


class PixelBlockOut(BaseModel):
    item_id: int
    x: int = Field(description="column of values[0][0]")
    y: int = Field(description="row of values[0][0]")
    image_width: int
    image_height: int
    dtype: str = Field(description="the raw values' type, as the file stores them")
    values: list[list[Union[int, float, Literal[tuple(NON_FINITE.values())]]]] = Field(
        description="raw values, one list per row; not-a-number and infinities as "
                    "'NaN', 'Infinity', '-Infinity'")
