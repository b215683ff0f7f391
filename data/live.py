"""Watching a live data set's source for new images: a folder (inotify events through
watchdog, or polling where events are unavailable) or a Tiled container (an incremental
listing of new keys, done at once when the server's subscription says a child was created).

Watchers only say which paths are new and complete, in the order they arrived;
registering them is ``data.live_ingest``'s job. No file is opened here. A folder watcher
takes a file when it is closed after writing or renamed into the tree (writers that
write a temporary name, then rename it); otherwise (polling, or files found by a walk)
when its size and modification time stayed the same between two looks. A Tiled watcher
takes an array a second after a look first listed it (its writer sends the values after
making it; no Tiled field tells when they are all there).
"""
from __future__ import annotations

import functools
import logging
import math
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from data.readers import is_supported
from data.sources.base import Listing, ProblemCallback, SourceError
from data.sources.directory import DirectorySource, confined

log = logging.getLogger(__name__)
# A folder changed this recently may still gain entries within its clock tick (1 s and more
# on some network file systems) without its modification time moving again: list it again.
RECENT_CHANGE_NS = 2_000_000_000

FileState = tuple[int, int]  # size, modification time (ns)
# A file found by looking (no close event) is taken once it kept its size and time this long.
SETTLE_SECONDS = 2.0
# File systems whose files other machines write: inotify reports only local writes there
# ("fuse.sshfs" and the like count by their first part).
NETWORK_FILE_SYSTEMS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs",
                                  "9p", "ceph", "glusterfs", "lustre", "gpfs", "beegfs",
                                  "fuse"})
# Tiled containers followed by a subscription (a websocket each); more are only polled.
SUBSCRIPTION_LIMIT = 64
# How long a subscription may take to connect before its container is only polled.
CONNECT_SECONDS = 10.0
# Waits before subscribing again to a container whose subscription failed or ended: the
# first, doubled after each failure in a row up to the last (a subscription that stayed
# connected that long counts as having worked).
RETRY_SECONDS = (2.0, 120.0)
# A Tiled writer creates an array, then sends its values (until then it reads as zeros): a
# new array is reported once it has been listed this long. Measured on loopback (busy
# machine): values written 0.1-0.25 s after the server told of a new 2048 x 2048 uint16
# array, 0.7-1.2 s for 4096 x 4096; a read at once gave zeros for 3 of 6 at 2048.
WRITE_GRACE_SECONDS = 1.0


def _ignore_problem(_path: str, _message: str) -> None:
    """Problems of files in a live folder show up when their headers are read."""


class FolderWatcher:
    """The new complete image files under ``root``, by path relative to it (posix).

    ``known`` paths (the data set's registered files) are never reported; every other
    image file already there counts as arrived when it is seen settled. Call ``start``,
    then ``poll`` now and then (its interval is the settling time), and ``stop``.
    ``news`` is set when a file event may have brought something for ``poll`` (a caller
    may wait on it rather than poll on a timer; it clears it before polling).
    """

    def __init__(self, root: Path, known: Iterable[str] = (), use_events: bool = True,
                 settle_seconds: float = SETTLE_SECONDS):
        self.root = Path(root).expanduser().resolve()
        self.mode = "events" if use_events else "poll"
        self.settle_seconds = settle_seconds
        self._known = set(known)
        self._lock = threading.Lock()
        self._complete: list[str] = []  # closed or renamed into the tree, in event order
        self._folders_to_walk: list[str] = []  # created or moved into the tree by events
        self._walk_everything = True
        # seen, not yet settled: the state last looked at, and since when it has been so
        self._candidates: dict[str, tuple[Optional[FileState], float]] = {}
        self._folders: dict[Path, tuple[int, int, list[str]]] = {}  # poll: see _look_into
        self._observer = None
        self.news = threading.Event()

    # -- running --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the inotify watch; poll instead on a network file system (inotify sees
        only what this machine writes there) or where the watch cannot start."""
        if self.mode == "events" and (kind := network_file_system(self.root)):
            log.info("%s is on a %s file system: polling it", self.root, kind)
            self.mode = "poll"
        if self.mode == "events":
            try:
                self._observer = _start_inotify(self.root, self)
            except (ImportError, OSError) as error:
                log.warning("no file events for %s (%s); polling instead", self.root, error)
                self.mode = "poll"
        # With events, files already there are looked for once; polling finds them anyway.
        self._walk_everything = self.mode == "events"

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None

    def poll(self) -> list[str]:
        """The files that became complete since the last call, in arrival order."""
        with self._lock:
            complete, self._complete = self._complete, []
            folders, self._folders_to_walk = self._folders_to_walk, []
            walk_everything, self._walk_everything = self._walk_everything, False
        if walk_everything:
            folders = [""]
        for folder in folders:
            self._walk(folder)
        if self.mode == "poll":
            self._look_into_changed_folders()
        arrived = []
        for path in complete + self._settled():
            if path not in self._known:
                self._known.add(path)
                self._candidates.pop(path, None)
                arrived.append(path)
        return arrived

    # -- what file events say (called on watchdog's thread) --------------------------------

    def file_complete(self, absolute: str) -> None:
        relpath = self._relative(absolute)
        if relpath is not None and is_supported(relpath) and self._file_state(relpath):
            with self._lock:
                self._complete.append(relpath)
            self.news.set()

    def folder_arrived(self, absolute: str) -> None:
        """Files inside a folder made or moved in may have been written before the watch
        on it began: they are looked for and taken once settled."""
        relpath = self._relative(absolute)
        if relpath is not None:
            with self._lock:
                self._folders_to_walk.append(relpath)
            self.news.set()

    def events_lost(self) -> None:
        with self._lock:
            self._walk_everything = True
        self.news.set()

    # -- looking at the tree ---------------------------------------------------------------

    def _relative(self, absolute: str) -> Optional[str]:
        """The posix path of ``absolute`` under the root; None outside it or when hidden
        (or empty: the far end of a move out of or into the tree)."""
        if not absolute:
            return None
        relpath = os.path.relpath(absolute, self.root)
        parts = Path(relpath).parts
        if relpath == "." or parts[0] == ".." or any(p.startswith(".") for p in parts):
            return None
        return "/".join(parts)

    def _walk(self, folder: str) -> None:
        """Every image file below ``folder`` (relative) becomes a candidate, through the
        folder source's listing (hidden entries skipped, links confined to the root)."""
        try:
            start = confined(self.root / folder, [self.root], "the live folder")
            listings = DirectorySource(str(start)).list_items(_ignore_problem)
            prefix = f"{folder}/" if folder else ""
            for listing in listings:
                self._consider(prefix + listing.path)
        except (SourceError, OSError) as error:
            log.warning("cannot list %s in %s: %s", folder or "/", self.root, error)

    def _consider(self, relpath: str) -> None:
        if relpath not in self._known:
            self._candidates.setdefault(relpath, (None, time.monotonic()))

    def _look_into_changed_folders(self) -> None:
        """Poll mode: list again only the folders whose modification time moved (an entry
        was added, removed or renamed in them) or moved too recently to tell."""
        stack, visited = [(self.root, "")], set()
        while stack:
            folder, prefix = stack.pop()
            try:
                real = folder.resolve()
                changed = real.stat().st_mtime_ns
            except OSError:
                continue
            if real in visited or confined_or_none(real, self.root) is None:
                continue
            visited.add(real)
            last = self._folders.get(real)
            if last is None or last[0] != changed or last[1] - changed < RECENT_CHANGE_NS:
                last = (changed, time.time_ns(), self._list_folder(folder, prefix))
                self._folders[real] = last
            stack.extend((folder / name, f"{prefix}{name}/") for name in last[2])

    def _list_folder(self, folder: Path, prefix: str) -> list[str]:
        """Note the image files of ``folder``; return its sub-folders' names."""
        subfolders = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir():
                        subfolders.append(entry.name)
                    elif is_supported(entry.name):
                        self._consider(prefix + entry.name)
        except OSError as error:
            log.warning("cannot list %s: %s", folder, error)
        return subfolders

    def _file_state(self, relpath: str) -> Optional[FileState]:
        """Size and modification time of a regular file inside the root (links followed,
        but never out of it); None for anything else."""
        real = confined_or_none(self.root / relpath, self.root)
        try:
            status = os.stat(real) if real is not None else None
        except OSError:
            return None
        if status is None or not stat.S_ISREG(status.st_mode):
            return None
        return status.st_size, status.st_mtime_ns

    def _settled(self) -> list[str]:
        """Candidates whose size (not 0) and time did not change since the last look nor for
        ``settle_seconds``, oldest first; the others are looked at again next time, vanished
        ones forgotten."""
        settled = []
        now = time.monotonic()
        for relpath, (before, since) in list(self._candidates.items()):
            state = self._file_state(relpath)
            if state is None:
                del self._candidates[relpath]
            elif state != before:
                self._candidates[relpath] = (state, now)
            elif state[0] > 0 and now - since >= self.settle_seconds:
                settled.append((state[1], relpath))
        return [relpath for _, relpath in sorted(settled)]


def network_file_system(path: Path, mounts: Optional[str] = None) -> Optional[str]:
    """The type of the network file system ``path`` lies on (``mounts`` as in
    /proc/self/mounts, read when not given), or None for a local one or when unknown."""
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text()
        except OSError:
            return None
    path, best, kind = Path(path), -1, None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        # The kernel writes a space in a mount point as \040.
        point = Path(fields[1].replace("\\040", " "))
        if (point == path or point in path.parents) and len(point.parts) > best:
            best, kind = len(point.parts), fields[2]
    return kind if kind and kind.split(".")[0] in NETWORK_FILE_SYSTEMS else None


def confined_or_none(path: Path, root: Path) -> Optional[Path]:
    try:
        return confined(path, [root], "the live folder")
    except SourceError:
        return None


def _start_inotify(root: Path, watcher: FolderWatcher):
    """A running inotify observer that tells ``watcher`` about closed, renamed and new
    files and folders (ImportError where inotify is missing, OSError at its limits)."""
    from watchdog.events import (DirCreatedEvent, DirMovedEvent, EventsLostEvent,
                                 FileClosedEvent, FileMovedEvent, FileSystemEventHandler)
    from watchdog.observers.inotify import InotifyObserver

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            if isinstance(event, FileClosedEvent):
                watcher.file_complete(event.src_path)
            elif isinstance(event, FileMovedEvent):
                watcher.file_complete(event.dest_path)
            elif isinstance(event, DirMovedEvent):
                watcher.folder_arrived(event.dest_path)
            elif isinstance(event, DirCreatedEvent):
                watcher.folder_arrived(event.src_path)
            elif isinstance(event, EventsLostEvent):
                watcher.events_lost()

    # Full events: a file renamed in from outside the tree is a move, not a bare creation.
    observer = InotifyObserver(generate_full_events=True)
    observer.schedule(Handler(), str(root), recursive=True)
    try:
        observer.start()
    except BaseException:
        observer.stop()
        raise
    return observer


class TiledPoller:
    """The new arrays under a Tiled container, in the order the server created them.

    Each ``poll`` asks every container seen so far for its entries past the ones already
    listed (``TiledSource.new_entries``); ``known`` keys are never reported again.
    """

    def __init__(self, source, known: Iterable[str] = ()):
        self.source = source
        self._known = set(known)
        self._offsets: dict[str, int] = {"": 0}  # container path -> entries listed

    def poll(self, on_problem: ProblemCallback = _ignore_problem) -> list[Listing]:
        arrived: list[Listing] = []
        pending = list(self._offsets)
        while pending:
            prefix = pending.pop(0)
            images, containers, self._offsets[prefix] = self.source.new_entries(
                prefix, self._offsets[prefix], on_problem)
            for path in containers:
                if path not in self._offsets:
                    self._offsets[path] = 0
                    pending.append(path)
            for listing in images:
                if listing.path not in self._known:
                    self._known.add(listing.path)
                    arrived.append(listing)
        return arrived

    @property
    def containers(self) -> list[str]:
        """The paths of the containers seen so far ('' is the top), in the order seen."""
        return list(self._offsets)


class TiledWatcher:
    """The new arrays under a Tiled container (``TiledPoller``), with ``news`` set as soon
    as the server says that it, or a sub-container seen so far, gained a child.

    The subscriptions only say when to look: ``poll`` is still what finds the arrays, in
    order, so a message missed (or a container beyond ``max_subscriptions``, or a server
    without streaming) costs only the time to the caller's next timed look. A subscription
    that fails or ends is tried again later (see RETRY_SECONDS). A new array is reported
    ``write_grace_seconds`` after the look that first listed it (``news`` is set then).
    Call ``start``, then ``poll`` now and then, and ``stop``.
    """

    def __init__(self, source, known: Iterable[str] = (),
                 max_subscriptions: int = SUBSCRIPTION_LIMIT,
                 connect_seconds: float = CONNECT_SECONDS,
                 write_grace_seconds: float = WRITE_GRACE_SECONDS):
        self.source = source
        self.poller = TiledPoller(source, known)
        self.news = threading.Event()
        self._written = _Settling(write_grace_seconds, self.news)
        self.max_subscriptions = max_subscriptions
        self.connect_seconds = connect_seconds
        self._streams: dict[str, _ContainerStream] = {}
        self._ending: list[_ContainerStream] = []  # disconnected, their threads not done
        self._retries: dict[str, _Retry] = {}
        self._looked = False
        # Containers created while watched: their subscription starts at their first
        # message, so what they gained before it connected is told too.
        self._new_containers: set[str] = set()

    def start(self) -> None:
        self._follow_containers()

    def poll(self, on_problem: ProblemCallback = _ignore_problem) -> list[Listing]:
        before = set(self.poller.containers)
        arrived = self._written.settled(self.poller.poll(on_problem))
        if self._looked:
            self._new_containers.update(set(self.poller.containers) - before)
        self._looked = True
        self._follow_containers()
        return arrived

    def stop(self, wait_seconds: float = 5.0) -> None:
        """Disconnect every subscription and wait (``wait_seconds`` in all: one may be in
        Tiled's wait between two tries to connect) for their threads to end."""
        self._written.stop()
        streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            stream.disconnect()
        deadline = time.monotonic() + wait_seconds
        for stream in streams + self._ending:
            stream.join(max(0.0, deadline - time.monotonic()))
        self._ending = [stream for stream in self._ending if stream.alive]

    @property
    def subscribed(self) -> list[str]:
        """The containers whose subscription is connected now."""
        return [path for path, stream in self._streams.items() if stream.connected]

    def _follow_containers(self) -> None:
        """Subscribe to the containers seen so far that have none (up to the limit, and
        not before a failed one's retry time); drop the subscriptions that ended or did
        not connect in time."""
        now = time.monotonic()
        self._ending = [stream for stream in self._ending if stream.alive]
        for path, stream in list(self._streams.items()):
            if stream.connected or (stream.alive and now - stream.began < self.connect_seconds):
                continue
            if stream.alive:
                log.info("the Tiled subscription to %s did not connect in %.0f s; polling it",
                         path or "/", self.connect_seconds)
                stream.disconnect()
                self._ending.append(stream)
            del self._streams[path]
            worked = now - stream.connected_at >= RETRY_SECONDS[1]
            self._retries.setdefault(path, _Retry()).failed(now, worked)
        for path in self.poller.containers[:self.max_subscriptions]:
            retry = self._retries.get(path)
            if path in self._streams or (retry is not None and now < retry.at):
                continue
            stream = self._subscribe(path)
            if stream is not None:
                self._streams[path] = stream
            else:
                self._retries.setdefault(path, _Retry()).failed(now, worked=False)

    def _subscribe(self, path: str) -> Optional["_ContainerStream"]:
        try:
            container = self.source.container(path)
            return _ContainerStream(container, path, self.news,
                                    replay=path in self._new_containers)
        except Exception as error:  # noqa: BLE001 - polling goes on without it
            log.info("cannot subscribe to %s on the Tiled server (%s); polling it",
                     path or "/", type(error).__name__)
            return None


class _Settling:
    """Listings held, in order, until ``seconds`` after they were first given; ``news`` is
    set when the first of those held is due."""

    def __init__(self, seconds: float, news: threading.Event):
        self.seconds = seconds
        self._news = news
        self._held: list[tuple[float, Listing]] = []  # since when, what
        self._timer: Optional[threading.Timer] = None

    def settled(self, new: list[Listing]) -> list[Listing]:
        """The listings held long enough (a prefix: arrival order is kept), after
        holding ``new`` too."""
        now = time.monotonic()
        self._held += [(now, listing) for listing in new]
        due = 0
        while due < len(self._held) and now - self._held[due][0] >= self.seconds:
            due += 1
        settled = [listing for _, listing in self._held[:due]]
        del self._held[:due]
        if self._timer is not None:
            self._timer.cancel()
        if self._held:
            self._timer = threading.Timer(self._held[0][0] + self.seconds - now,
                                          self._news.set)
            self._timer.daemon = True
            self._timer.start()
        return settled

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()


@dataclass
class _Retry:
    """When to subscribe to a container again: soon after a subscription that worked
    ended, later after each one in a row that did not."""
    at: float = 0.0
    failures: int = 0

    def failed(self, now: float, worked: bool) -> None:
        self.failures = 0 if worked else self.failures + 1
        first, longest = RETRY_SECONDS
        self.at = now + min(longest, first * 2 ** self.failures)


class _ContainerStream:
    """One container's subscription, run on a daemon thread of its own: Tiled's
    ``start_in_thread`` would wait without end for a connection that never comes."""

    def __init__(self, container, path: str, news: threading.Event, replay: bool):
        self.path = path
        self.began = time.monotonic()
        self.connected_at = math.inf  # when it connected (last)
        self._news = news
        self._subscription = _subscription_class()(
            container.context, container.path_parts, structure_clients=container.structure_clients,
            on_connected=self._connected)
        # The registry holds its callbacks weakly: this bound method lives as long as self.
        self._subscription.child_created.add_callback(self._child_created)
        self._thread = threading.Thread(target=self._run, args=(1 if replay else None,),
                                        daemon=True, name=f"tiled-subscription {path or '/'}")
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def connected(self) -> bool:
        """Connected once and still running (Tiled reconnects on its own meanwhile)."""
        return self.alive and self.connected_at < math.inf

    def disconnect(self) -> None:
        try:
            self._subscription.disconnect()
        except Exception as error:  # noqa: BLE001 - a connection half made; ends anyway
            log.debug("disconnecting from %s: %s", self.path or "/", error)

    def join(self, seconds: float) -> None:
        self._thread.join(seconds)
        if self._thread.is_alive():
            log.warning("the Tiled subscription to %s is still ending", self.path or "/")

    def _run(self, start: Optional[int]) -> None:
        try:
            self._subscription.start(start)  # returns once disconnected
        except Exception as error:  # noqa: BLE001 - e.g. a server without streaming (404)
            log.info("the Tiled subscription to %s ended: %s: %s", self.path or "/",
                     type(error).__name__, error)

    def _connected(self) -> None:
        # What was created before the (re)connection was not told: look now.
        self.connected_at = time.monotonic()
        self._news.set()

    def _child_created(self, _update) -> None:
        self._news.set()


@functools.cache
def _subscription_class():
    """Tiled's container subscription, calling ``on_connected`` after each (re)connection
    (imported on first use: tiled is heavy)."""
    from tiled.client.stream import ContainerSubscription

    class Subscription(ContainerSubscription):
        def __init__(self, *args, on_connected: Callable[[], None], **kwargs):
            super().__init__(*args, **kwargs)
            self._on_connected = on_connected

        def _connect(self, *args, **kwargs) -> None:
            super()._connect(*args, **kwargs)  # with Tiled's retries
            self._on_connected()

    return Subscription
