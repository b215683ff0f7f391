"""Watching a live data set's source for new images: a folder (inotify events through
watchdog, or polling where events are unavailable) or a Tiled container (an incremental
listing of new keys).

Watchers only say which paths are new and complete, in the order they arrived;
registering them is ``data.live_ingest``'s job. No file is opened here. A folder watcher
takes a file when it is closed after writing or renamed into the tree (writers that
write a temporary name, then rename it); otherwise (polling, or files found by a walk)
when its size and modification time stayed the same between two looks.
"""
from __future__ import annotations

import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import Iterable, Optional

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


def _ignore_problem(_path: str, _message: str) -> None:
    """Problems of files in a live folder show up when their headers are read."""


class FolderWatcher:
    """The new complete image files under ``root``, by path relative to it (posix).

    ``known`` paths (the data set's registered files) are never reported; every other
    image file already there counts as arrived when it is seen settled. Call ``start``,
    then ``poll`` now and then (its interval is the settling time), and ``stop``.
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

    def folder_arrived(self, absolute: str) -> None:
        """Files inside a folder made or moved in may have been written before the watch
        on it began: they are looked for and taken once settled."""
        relpath = self._relative(absolute)
        if relpath is not None:
            with self._lock:
                self._folders_to_walk.append(relpath)

    def events_lost(self) -> None:
        with self._lock:
            self._walk_everything = True

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
