"""The local broker (kombu's filesystem transport, with message files that appear whole):
every message sent while a consumer in another process takes them arrives once and whole."""
from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from kombu import Connection

from settings import Settings
from worker import WholeMessageTransport, broker_options

MESSAGES = 1500
PADDING = 4000


def take_messages(options: dict, expected: int, seconds: float) -> list[int]:
    """In its own process, as the worker: the numbers of the messages taken, until
    ``expected`` came or ``seconds`` passed; a torn message raises here."""
    numbers, deadline = [], time.monotonic() + seconds
    with Connection("filesystem://", transport=WholeMessageTransport,
                    transport_options=options) as connection:
        queue = connection.SimpleQueue("cpu")
        while len(numbers) < expected and time.monotonic() < deadline:
            try:
                message = queue.get(timeout=1)
            except queue.Empty:
                continue
            assert len(message.payload["padding"]) == PADDING, "a torn message"
            numbers.append(message.payload["number"])
            message.ack()
    return numbers


def send_messages(options: dict, count: int) -> None:
    """In its own process, as the web app: ``count`` numbered messages."""
    with Connection("filesystem://", transport=WholeMessageTransport,
                    transport_options=options) as connection:
        queue = connection.SimpleQueue("cpu")
        for number in range(count):
            queue.put({"number": number, "padding": "x" * PADDING})


def test_messages_sent_while_taken_arrive_whole_and_once(tmp_path):
    options = {**broker_options(Settings(home=tmp_path)), "polling_interval": 0.0}
    with Connection("filesystem://", transport=WholeMessageTransport,
                    transport_options=options) as connection:
        connection.SimpleQueue("cpu")  # the exchange table, before two processes race on it
    # both sides in fresh processes, as the web app and the worker (in the full suite,
    # a consumer beside this pytest process's earlier kombu connections took nothing)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as sides:
        # each take lists the whole folder: slow on a loaded machine
        taken = sides.submit(take_messages, options, MESSAGES, 300)
        sides.submit(send_messages, options, MESSAGES).result()
        numbers = taken.result()
    assert sorted(numbers) == list(range(MESSAGES))
    assert not [path for path in (tmp_path / "broker").rglob("*") if path.is_file()
                and path.parent.name in ("queue", "processed")]  # nothing left, none partial
