"""The arrivals graph's reading of a live data set: each arrival's minute in the window,
worked out by the database (SQLite and PostgreSQL, fixture ``session_factory``)."""
from datetime import timedelta

from sqlalchemy import select

from data.catalog import insert_items
from data.sources.base import Listing
from db.models import Item, utcnow
from db.session import transaction
from callbacks.label_follow import WINDOW_MINUTES, arrivals_since
from tests.databases import make_dataset


def test_arrivals_are_counted_in_the_minute_they_came(session_factory):
    dataset_id, _ids, _labels = make_dataset(session_factory, 5)  # files, not arrivals
    start = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=WINDOW_MINUTES - 1)
    came = {"before.tif": -timedelta(seconds=30), "first.tif": timedelta(seconds=10),
            "later.tif": timedelta(minutes=7, seconds=59), "last.tif": timedelta(minutes=58)}
    with transaction(session_factory) as session:
        for number, (name, after) in enumerate(came.items()):
            insert_items(session, dataset_id, [Listing(name)], first_file_index=10 + number,
                         arrived_at=start + after)
    with session_factory() as session:
        item_ids, minutes = arrivals_since(session, dataset_id, start)
        names = dict(session.execute(select(Item.id, Item.uri)
                                     .where(Item.dataset_id == dataset_id)).all())
    assert sorted(zip((names[i] for i in item_ids.tolist()), minutes.tolist())) == [
        ("first.tif", 0), ("last.tif", 58), ("later.tif", 7)]
