"""The one way nuctl is run: a subprocess with stdin closed, stdout streamed line by line,
a hard timeout that kills nuctl's whole process group, and a result that renders the
command, exit code, stdout and stderr when something goes wrong.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from typing import IO, Callable, List, Optional, Sequence, Tuple

from fusionizer.errors import FusionizerError
from fusionizer.runtime.trust import ENV_SECRET

ENV_NUCTL = "FUSIONIZER_NUCTL"

# CSI sequences (colours, cursor moves): nuctl colours its log level tags even off a TTY.
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

INSTALL_HINT = (
    "Install nuctl 1.14.x from https://github.com/nuclio/nuclio/releases, for example:\n"
    "    curl -sSL -o /usr/local/bin/nuctl "
    "https://github.com/nuclio/nuclio/releases/download/1.14.1/nuctl-1.14.1-linux-amd64\n"
    "    chmod +x /usr/local/bin/nuctl\n"
    f"or point the fusionizer at it: spec.platform.nuctlPath in the plan, or ${ENV_NUCTL}."
)

LineSink = Callable[[str], None]


def strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text)


def resolve_binary(configured: Optional[str]) -> str:
    """The nuctl executable: $FUSIONIZER_NUCTL, else the plan's nuctlPath, else `nuctl` on PATH."""
    candidate = os.environ.get(ENV_NUCTL) or configured or "nuctl"
    found = shutil.which(os.path.expanduser(candidate))
    if found is None:
        where = "on PATH" if os.sep not in candidate else "at that path"
        raise FusionizerError(f"nuctl not found: no executable {candidate!r} {where}.\n{INSTALL_HINT}")
    return found


@dataclass(frozen=True)
class Completed:
    """What one nuctl run produced. ``timed_out`` means it was killed after ``timeout`` s."""

    argv: Tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False
    timeout: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def command(self) -> str:
        """The command line as shown to users: the server's secret is masked."""
        return shlex.join(_masked(arg) for arg in self.argv)

    def exit_status(self) -> str:
        if self.timed_out:
            return f"killed after the {self.timeout:g}s timeout"
        return str(self.returncode)

    def render(self, max_lines: int = 60) -> str:
        """command, exit code, stdout and stderr (ANSI stripped), one block each."""
        return "\n".join(
            [
                f"command: {self.command()}",
                f"exit code: {self.exit_status()}",
                _block("stdout", self.stdout, max_lines),
                _block("stderr", self.stderr, max_lines),
            ]
        )


def _block(title: str, text: str, max_lines: int) -> str:
    lines = strip_ansi(text).rstrip("\n").splitlines()
    if not lines:
        return f"{title}: (empty)"
    omitted = len(lines) - max_lines
    if omitted > 0:
        lines = [f"... ({omitted} earlier lines omitted)"] + lines[-max_lines:]
    return f"{title}:\n" + "\n".join("    " + line for line in lines)


class NuctlRunner:
    """Runs ``nuctl HEAD... GLOBAL-FLAGS... TAIL...``; the binary is resolved on first use so
    that building a platform object never fails just because nuctl is not installed yet."""

    def __init__(self, configured_binary: Optional[str], global_args: Sequence[str]) -> None:
        self._configured = configured_binary
        self._global_args = tuple(global_args)
        self._binary: Optional[str] = None

    def binary(self) -> str:
        if self._binary is None:
            self._binary = resolve_binary(self._configured)
        return self._binary

    def argv(self, head: Sequence[str], tail: Sequence[str] = ()) -> List[str]:
        return [self.binary(), *head, *self._global_args, *tail]

    def run(
        self, head: Sequence[str], tail: Sequence[str] = (), *, timeout: float, on_line: Optional[LineSink] = None
    ) -> Completed:
        return run_process(self.argv(head, tail), timeout=timeout, on_line=on_line)


def run_process(argv: Sequence[str], *, timeout: float, on_line: Optional[LineSink] = None) -> Completed:
    """Run ``argv`` with stdin = /dev/null (nuctl invoke would otherwise read it), passing each
    stdout line (ANSI stripped) to ``on_line`` in the calling thread as it arrives."""
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            # Own process group: a timeout kills nuctl and the docker/helper processes it spawned.
            start_new_session=True,
        )
    except OSError as exc:
        raise FusionizerError(f"cannot run {argv[0]}: {exc}\n{INSTALL_HINT}") from exc
    with proc:
        return _communicate(proc, tuple(argv), timeout, on_line)


def _communicate(
    proc: "subprocess.Popen[str]", argv: Tuple[str, ...], timeout: float, on_line: Optional[LineSink]
) -> Completed:
    assert proc.stdout is not None and proc.stderr is not None
    fired = threading.Event()
    killer = threading.Timer(timeout, _kill_on_timeout, args=(proc, fired))
    killer.daemon = True
    err_parts: List[str] = []
    err_reader = threading.Thread(target=_drain, args=(proc.stderr, err_parts), daemon=True)
    out_lines: List[str] = []
    killer.start()
    err_reader.start()
    try:
        for line in proc.stdout:
            out_lines.append(line)
            if on_line is not None:
                on_line(strip_ansi(line.rstrip("\r\n")))
        proc.wait()
    finally:
        killer.cancel()
        if proc.poll() is None:  # on_line raised: do not leave nuctl running behind us
            _kill_group(proc)
            proc.wait()
        err_reader.join()
    return Completed(argv, proc.returncode, "".join(out_lines), "".join(err_parts), fired.is_set(), timeout)


def _drain(stream: IO[str], parts: List[str]) -> None:
    parts.append(stream.read())


def _kill_on_timeout(proc: "subprocess.Popen[str]", fired: threading.Event) -> None:
    if proc.poll() is None:
        fired.set()
        _kill_group(proc)


def _kill_group(proc: "subprocess.Popen[str]") -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _masked(arg: str) -> str:
    name, sep, _ = arg.partition("=")
    return f"{name}=***" if sep and name == ENV_SECRET else arg
