"""File-system triggers for the loop, through one watchdog observer (inotify on Linux).

* the plan directory (``watch -f``): a change to what the plan builds from posts a
  debounced ``file`` trigger. Everything else is told apart here, before it costs a run:
  paths the directory source says cannot change its revision
  (:meth:`~fusionizer.sources.DirectorySource.ignored`: outside the plan's scope, or left
  out by the ignore rule) post an ``ignored`` trigger, which the loop only logs; events
  that change nothing (opened, closed without writing: reading the tree for its digest
  must not trigger the next run) are dropped.
* the hook notifications (``watch --git``): the post-receive hook's trigger file for this
  repository posts a ``hook`` trigger with the pushed sha (:mod:`~fusionizer.loop.notifications`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Iterator, Optional, Type

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from fusionizer.errors import FusionizerError
from fusionizer.loop import notifications
from fusionizer.loop.triggers import HOOK
from fusionizer.sources import DirectorySource

LOG = logging.getLogger("fusionizer.loop")

# Event types that can change content; watchdog >= 4 also reports "opened",
# "closed_no_write" and "attrib" (atime), which must not wake the loop.
_CHANGES = frozenset({"created", "deleted", "modified", "moved", "closed"})


class _Handler(FileSystemEventHandler):
    def __init__(self, callback: Callable[[FileSystemEvent], None]) -> None:
        super().__init__()
        self._callback = callback

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _CHANGES:
            self._callback(event)


class Watchers:
    """Owns the observer; ``start()``/``stop()`` (or ``with``). Callbacks run on the
    observer's thread and only post into the loop's thread-safe queue."""

    def __init__(self) -> None:
        self._observer: Any = Observer()
        self._started = False

    def watch_directory(self, source: DirectorySource, on_change: Callable[[str], None],
                        on_ignored: Callable[[str], None]) -> None:
        """Call ``on_change(relative path)`` for each change that can change the source's
        revision, ``on_ignored(ignored part)`` for any other. The plan directory holds all
        it builds from: the plan refuses a task directory that leads out of it."""
        root = Path(os.path.realpath(source.root))

        def changed(event: FileSystemEvent) -> None:
            if event.is_directory and event.event_type in ("modified", "closed"):
                return  # a directory's mtime moves with every child event, reported on its own
            try:
                found = [(rel, source.ignored(rel, event.is_directory)) for rel in _under(root, event)]
            except Exception:  # noqa: BLE001
                # The observer's thread must never die (it would hear nothing more), and a
                # file that vanished mid-check (`sed -i`'s temp file) may still matter:
                # let a run decide by the revision. Logged, so a bug here is not silent.
                LOG.debug(f"cannot tell whether {event.src_path!r} matters; reconciling to be sure", exc_info=True)
                found = [("", None)]
            for rel, ignored in found:
                if ignored is None:
                    on_change(rel)
                else:
                    on_ignored(ignored)

        self._observer.schedule(_Handler(changed), str(root), recursive=True)

    def watch_notifications(self, url: str, on_push: Callable[[str, str], None]) -> Path:
        """Call ``on_push(HOOK, sha)`` whenever the post-receive hook notifies ``url``."""
        target = notifications.trigger_file(url)
        target.parent.mkdir(parents=True, exist_ok=True)

        def notified(event: FileSystemEvent) -> None:
            if any(Path(p).name == target.name for p in _event_paths(event)):
                on_push(HOOK, notifications.read_revision(target)[:12])

        self._observer.schedule(_Handler(notified), str(target.parent), recursive=False)
        return target

    def start(self) -> None:
        try:
            self._observer.start()
        except OSError as e:  # typically ENOSPC: the inotify watch limit of a large tree
            raise FusionizerError(
                f"cannot watch for file changes: {e}; raise fs.inotify.max_user_watches or watch a smaller tree"
            ) from e
        self._started = True

    def stop(self) -> None:
        if self._started:
            self._observer.stop()
            self._observer.join()
            self._started = False

    def __enter__(self) -> "Watchers":
        self.start()
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.stop()


def _event_paths(event: FileSystemEvent) -> Iterator[str]:
    for raw in (event.src_path, getattr(event, "dest_path", "")):
        if raw:
            yield os.fsdecode(raw)


def _under(root: Path, event: FileSystemEvent) -> Iterator[str]:
    """The event's paths relative to the plan directory ``root``, the directory itself left out."""
    for path in _event_paths(event):
        try:
            rel = Path(path).relative_to(root).as_posix()
        except ValueError:
            continue
        if rel != ".":
            yield rel
