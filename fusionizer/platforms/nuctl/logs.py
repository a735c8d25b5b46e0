"""A Nuclio function's log, read where Nuclio keeps it: ``kubectl logs`` of the function's
pods on Kubernetes, ``docker logs nuclio-<namespace>-<name>`` on nuctl's local (docker)
platform. nuctl itself has no command for it. ``auto`` is decided as nuctl decides it: kube
when a kubeconfig resolves (the plan's ``kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, List, Optional

from fusionizer.errors import PlatformError
from fusionizer.platforms.nuctl.options import NuctlOptions
from fusionizer.platforms.nuctl.runner import strip_ansi

_TAIL_ON_ERROR = 5


def log_command(name: str, namespace: str, options: NuctlOptions, since: Optional[datetime], follow: bool) -> List[str]:
    """The command that prints the function's log (without resolving the binary)."""
    stamp = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if since else None
    if _is_kube(options):
        argv = ["kubectl", "logs", "-n", namespace, "-l", f"nuclio.io/function-name={name}", "--tail=-1"]
        argv += ["--kubeconfig", options.kubeconfig] if options.kubeconfig else []
        argv += [f"--since-time={stamp}"] if stamp else []
    else:
        argv = ["docker", "logs"] + (["--since", stamp] if stamp else [])
        argv.append(f"nuclio-{namespace}-{name}")
    return argv + (["-f"] if follow else [])


def read_logs(name: str, namespace: str, options: NuctlOptions, since: Optional[datetime],
              follow: bool) -> Iterator[str]:
    argv = log_command(name, namespace, options, since, follow)
    binary = shutil.which(argv[0])
    if binary is None:
        raise PlatformError(
            f"cannot show the log of {name}: {argv[0]} is not on PATH; nuctl has no command for function "
            f"logs, so the fusionizer reads them with `{' '.join(argv)}` (install {argv[0]}, or run it where it is)"
        )
    return _stream([binary, *argv[1:]], name)


def _stream(argv: List[str], name: str) -> Iterator[str]:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace")
    assert proc.stdout is not None
    last: List[str] = []
    try:
        for raw in proc.stdout:
            line = strip_ansi(raw.rstrip("\n"))
            last = (last + [line])[-_TAIL_ON_ERROR:]
            yield line
        code = proc.wait()
    finally:
        if proc.poll() is None:  # the caller stopped reading (Ctrl-C, a closed pipe)
            proc.terminate()
            proc.wait()
        proc.stdout.close()
    if code != 0:
        raise PlatformError(f"cannot show the log of {name}: `{' '.join(argv)}` exited {code}", "\n".join(last))


def _is_kube(options: NuctlOptions) -> bool:
    if options.platform != "auto":
        return options.platform == "kube"
    config = options.kubeconfig or os.environ.get("KUBECONFIG") or ""
    return bool(config) or (Path.home() / ".kube" / "config").is_file()
