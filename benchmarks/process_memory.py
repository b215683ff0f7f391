"""Peak resident memory of the app's processes, while a benchmark drives it.

The launcher (``python -m app``) is the web process; its child running Celery is the local
worker (with the worker's own children); its other children are the header scan's worker
processes. Every half second the tree is looked at again. A group's peak is the largest
sum of its processes' proportional set sizes (PSS: pages shared by forked processes counted
once) seen at one look; a process's own peak is its kernel high-water mark (``VmHWM`` in
/proc/<pid>/status; the largest resident size seen where the kernel does not say), which
for the web process also catches a peak between two looks.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import psutil

GROUPS = ("web", "worker", "scan")


def launched_child(port: int) -> psutil.Process:
    """This process's child that is the app launched on ``port`` (tests.browser.launched_app
    starts it as ``python -m app --port PORT``)."""
    for child in psutil.Process(os.getpid()).children():
        command = child.cmdline()
        if "app" in command and str(port) in command:
            return child
    raise RuntimeError(f"no app process of this benchmark listens on port {port}")


def high_water_mark(process: psutil.Process) -> int:
    """The kernel's peak resident bytes of ``process`` (0 where it does not say)."""
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class PeakMemory:
    """Watches the app's process tree in a thread from ``start()`` to ``stop()``."""

    def __init__(self, launcher: psutil.Process, every_s: float = 0.5):
        self.launcher, self.every_s = launcher, every_s
        self.group_peaks = dict.fromkeys(GROUPS, 0)  # the largest PSS sum seen per group
        self.process_peaks: dict[int, tuple[str, int]] = {}  # pid -> (group, VmHWM)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> PeakMemory:
        self._thread.start()
        return self

    def stop(self) -> dict[str, int]:
        """Peak bytes: ``web`` (the web process's high-water mark), and per group
        (``web``, ``worker``, ``scan``) ``<group> pss`` (the largest sum seen) and
        ``<group> largest process`` (the largest high-water mark of one of its processes)."""
        self._stopped.set()
        self._thread.join()
        self.look()
        peaks = {"web": self.process_peaks.get(self.launcher.pid, ("web", 0))[1]}
        for group in GROUPS:
            peaks[f"{group} pss"] = self.group_peaks[group]
            peaks[f"{group} largest process"] = max(
                [peak for kind, peak in self.process_peaks.values() if kind == group],
                default=0)
        return peaks

    def _watch(self) -> None:
        while not self._stopped.wait(self.every_s):
            self.look()

    def look(self) -> None:
        try:
            members = [(self.launcher, "web")]
            for child in self.launcher.children():
                group = "worker" if any("celery" in part for part in child.cmdline()) \
                    else "scan"
                members += [(child, group)] + [(p, group) for p in child.children(True)]
        except psutil.Error:  # the launcher has ended
            return
        sums = dict.fromkeys(GROUPS, 0)
        for process, group in members:
            try:
                memory = process.memory_full_info()
            except psutil.Error:  # ended since it was listed
                continue
            sums[group] += getattr(memory, "pss", memory.rss)
            peak = max(memory.rss, high_water_mark(process))
            seen = self.process_peaks.get(process.pid, (group, 0))[1]
            self.process_peaks[process.pid] = (group, max(seen, peak))
        for group, total in sums.items():
            self.group_peaks[group] = max(self.group_peaks[group], total)
