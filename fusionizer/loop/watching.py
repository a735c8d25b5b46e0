"""File-system triggers for the loop, through one watchdog observer (inotify on Linux).

* the plan directory (``watch -f``): every relevant change posts a debounced ``file``
  trigger. Irrelevant paths are dropped here, before they cost a run: what the directory
  digest ignores (VCS dirs, ``__pycache__``, editor temp files: ``sources.is_ignored``),
  the fusionizer's own state dir when it lives inside the watched tree, and events that
  change nothing (opened, closed without writing: reading the tree for its digest must
  not trigger the next run).
* the hook notifications (``watch --git``): the post-receive hook's trigger file for this
  repository posts a ``hook`` trigger with the pushed sha (:mod:`~fusionizer.loop.notifications`).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Iterator, Optional, Type

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from fusionizer import paths
from fusionizer.errors import FusionizerError
from fusionizer.loop import notifications
from fusionizer.loop.triggers import HOOK
from fusionizer.sources import is_ignored

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

    def watch_directory(self, root: Path, on_change: Callable[[str], None]) -> None:
        """Call ``on_change(relative path)`` for each relevant change under ``root``."""
        root = Path(os.path.realpath(root))
        home = Path(os.path.realpath(paths.home()))
        # A plan kept inside the state dir: nothing of ours is below it to ignore.
        state = None if _inside(root, home) else home

        def changed(event: FileSystemEvent) -> None:
            if event.is_directory and event.event_type in ("modified", "closed"):
                return  # a directory's mtime moves with every child event, reported on its own
            for rel in _relevant(root, state, event):
                on_change(rel)

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


def _relevant(root: Path, state: Optional[Path], event: FileSystemEvent) -> Iterator[str]:
    for path in _event_paths(event):
        absolute = Path(path)
        if state is not None and _inside(absolute, state):
            continue  # our own builds, history and locks
        try:
            rel = absolute.relative_to(root)
        except ValueError:
            continue
        if rel.parts and not is_ignored(rel):
            yield rel.as_posix()


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.relative_to(directory)
    except ValueError:
        return False
    return True
