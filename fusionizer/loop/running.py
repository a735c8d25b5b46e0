"""Running the loop as a long-lived process: connect the source's file-system triggers,
run the loop on its own thread, and stop cleanly on Ctrl-C (exit 130) or SIGTERM (exit 0):
the run in progress finishes, the observer is stopped and joined, no traceback. A second
signal while waiting quits at once (a deploy cut short converges on the next apply: the
platform is crash-safe). Called by ``fusionizer watch``.

The signal handler does only what is safe at any instant of the main thread: it writes the
signal's number to a pipe. The main thread blocks reading that pipe (the loop thread writes
to it too when it ends) and does the logging and the stopping itself, so a signal can never
land inside a lock the handler needs, nor raise in the middle of a log line.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Callable, Dict, Iterator, Optional

from fusionizer.loop.looping import LOG, Loop
from fusionizer.loop.watching import Watchers
from fusionizer.sources.base import Source
from fusionizer.sources.directory import DirectorySource
from fusionizer.sources.gitsource import GitSource

EXIT_CODES: Dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 0}
_LOOP_ENDED = 0  # written to the pipe by the loop thread; no signal has number 0


class _Signals:
    """SIGINT/SIGTERM, and the end of the loop thread, as bytes in one pipe that the main
    thread reads in order (:meth:`events`)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)

    def handle(self, signum: int, frame: Optional[FrameType]) -> None:
        self.post(signum)

    def post(self, event: int) -> None:
        try:
            os.write(self._write, bytes([event]))
        except OSError:  # the pipe is full: the main thread has plenty to wake up for
            pass

    def events(self) -> Iterator[int]:
        while True:
            yield from os.read(self._read, 64)

    def install(self) -> Callable[[], None]:
        """Install the handlers; returns what puts the previous ones back and closes the pipe."""
        previous = {}
        if threading.current_thread() is threading.main_thread():  # tests run us in threads
            previous = {signum: signal.getsignal(signum) for signum in EXIT_CODES}
            for signum in EXIT_CODES:
                signal.signal(signum, self.handle)

        def restore() -> None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            os.close(self._read)
            os.close(self._write)

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
    signals = _Signals()
    restore = signals.install()
    try:
        with watchers:
            received = _run_loop_thread(loop, signals, log)
    finally:
        restore()
    if received is None:
        log.error("the reconcile loop stopped unexpectedly; see the messages above")
        return 1
    log.info("stopped")
    return EXIT_CODES.get(received, 0)


def _run_loop_thread(loop: Loop, signals: _Signals, log: logging.Logger) -> Optional[int]:
    """Run the loop on its thread until it ends; the first signal stops it after the run in
    progress, a second one quits now. Returns the first signal received (None: none)."""

    def run() -> None:
        try:
            loop.run_forever()
        finally:
            signals.post(_LOOP_ENDED)

    threading.Thread(target=run, name="fusionizer-loop", daemon=True).start()
    received: Optional[int] = None
    for event in signals.events():
        if event == _LOOP_ENDED:
            return received
        if received is None:
            received = event
            # Only an interactive Ctrl-C can be repeated; a service manager's SIGTERM cannot.
            again = " (Ctrl-C again to quit now)" if event == signal.SIGINT else ""
            log.info(f"stopping ({signal.Signals(event).name}): the run in progress finishes first{again}")
            loop.stop()
            continue
        log.warning("quitting without waiting for the run in progress")
        logging.shutdown()
        # Deploy worker threads would keep the interpreter alive until they finish.
        os._exit(EXIT_CODES.get(received, 130))
    return received
