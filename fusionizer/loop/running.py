"""Running the loop as a long-lived process: connect the source's file-system triggers,
run the loop on its own thread, and stop cleanly on Ctrl-C (exit 130) or SIGTERM (exit 0):
the run in progress finishes, the observer is stopped and joined, no traceback. A second
signal while waiting quits at once (a deploy cut short converges on the next apply: the
platform is crash-safe). Called by ``fusionizer watch``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Callable, Dict, Optional

from fusionizer.loop.looping import LOG, Loop
from fusionizer.loop.watching import Watchers
from fusionizer.sources.base import Source
from fusionizer.sources.directory import DirectorySource
from fusionizer.sources.gitsource import GitSource

EXIT_CODES: Dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 0}


class _QuitNow(Exception):
    """A second signal while the run in progress was being waited for."""


class _Signals:
    """SIGINT/SIGTERM handlers for the main thread. The first signal asks the loop to stop;
    a second one while waiting quits now; once the loop has ended, more are ignored (so a
    signal repeated by a supervisor or a process group cannot break the clean exit)."""

    def __init__(self, loop: Loop, log: logging.Logger) -> None:
        self.loop = loop
        self.log = log
        self.received: Optional[int] = None
        self.waiting = False  # True only while the loop thread is joined (where _QuitNow is caught)

    def handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.received is None:
            self.received = signum
            self.log.info("stopping: the run in progress finishes first (Ctrl-C again to quit now)")
            self.loop.stop()
        elif self.waiting:
            raise _QuitNow()

    def install(self) -> Callable[[], None]:
        """Install the handlers; returns what puts the previous ones back."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None  # only the main thread may install handlers (tests run us in threads)
        previous = {signum: signal.getsignal(signum) for signum in EXIT_CODES}
        for signum in EXIT_CODES:
            signal.signal(signum, self.handle)

        def restore() -> None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        return restore


def attach(loop: Loop, watchers: Watchers, source: Source) -> str:
    """Wire the source's push-style triggers to the loop; returns what is watched."""
    if isinstance(source, DirectorySource):
        watchers.watch_directory(source, loop.file_changed, loop.file_ignored)
        return f"file changes under {source.root}"
    if isinstance(source, GitSource):
        path = watchers.watch_notifications(source.url, loop.trigger)
        return f"post-receive notifications ({path})"
    return "nothing (timers only)"


def run(loop: Loop, watchers: Watchers, log: logging.Logger = LOG) -> int:
    """Run until a signal; the exit status for the process."""
    signals = _Signals(loop, log)
    restore = signals.install()
    try:
        with watchers:
            _run_loop_thread(loop, signals, log)
    finally:
        restore()
    if signals.received is None:
        log.error("the reconcile loop stopped unexpectedly; see the messages above")
        return 1
    log.info("stopped")
    return EXIT_CODES.get(signals.received, 0)


def _run_loop_thread(loop: Loop, signals: _Signals, log: logging.Logger) -> None:
    """Start the loop's thread and wait for it; a second signal meanwhile quits now."""
    thread = threading.Thread(target=loop.run_forever, name="fusionizer-loop", daemon=True)
    try:
        signals.waiting = True
        thread.start()
        thread.join()  # interruptible: signal handlers run in this (the main) thread
        signals.waiting = False
    except _QuitNow:
        log.warning("quitting without waiting for the run in progress")
        logging.shutdown()
        # Deploy worker threads would keep the interpreter alive until they finish.
        os._exit(EXIT_CODES.get(signals.received or signal.SIGINT, 130))
