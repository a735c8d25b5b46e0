"""What Nuclio 1.14.1's Python image holds, as virtualenvs: the build side of a deploy.

Nuclio's onbuild image installs ``msgpack==1.0.8`` and ``nuclio-sdk==0.5.13`` on the base
Python and nothing else; a function's ``spec.build.commands`` then run on top of it (shell
``RUN`` lines). Emulated here (reference/nuclio.md §6):

- **base**: one virtualenv per Python version holding only those two packages (and pip),
  made once and kept in the cache between tests and runs;
- **wheelhouse**: next to it, downloaded once (msgpack, nuclio-sdk, requests and its
  dependencies), so that build commands run offline and fast: ``PIP_FIND_LINKS`` points at
  it, ``PIP_NO_INDEX=1``, and the machine's pip configuration is ignored. A build command
  asking for a package that is not there fails, as a missing package fails a real build;
- **layers**: per distinct list of build commands, a copy of the base in which they ran
  (Docker's layer cache in spirit: an unchanged list never runs again);
- the interpreter for ``python:3.X`` is ``python3.X`` when this machine has one (on PATH or
  under pyenv), else the emulator's own (``image_python`` says which was taken).

Creation is serialised by a file lock per Python version (tests run in parallel) and marked
complete only at the end: a creation that was killed half-way is redone.

Cache: ``$NUCTL_EMULATOR_IMAGE_CACHE``, default ``~/.cache/nuclio-fusionizer/nuctl-emulator``.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

IMAGE_PACKAGES = ("msgpack==1.0.8", "nuclio-sdk==0.5.13")
WHEELHOUSE_EXTRA = ("requests>=2.28,<3",)  # what the fuser's build command installs
_COMPLETE = ".complete"
_versions: Dict[str, Optional[str]] = {}


class ImageUnavailable(Exception):
    """The base image could not be made (e.g. no index to download the wheelhouse from)."""


class BuildFailed(Exception):
    def __init__(self, command: str, code: int, output: str) -> None:
        super().__init__(f"build command exited with {code}: {command}")
        self.command = command
        self.code = code
        self.output = output


@dataclass(frozen=True)
class Image:
    """A function's image: the virtualenv to run it in."""

    root: Path  # the virtualenv
    version: str  # "3.11"
    emulated: bool  # the runtime asked for another Python version than this one
    cached: bool = False  # the build commands ran in an earlier deploy

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def environment(self, extra: Dict[str, str]) -> Dict[str, str]:
        """A container-like environment: the image's PATH, nothing of the emulator's."""
        env = {
            "PATH": os.pathsep.join([str(self.root / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "VIRTUAL_ENV": str(self.root),
        }
        env.update(extra)
        return env


def cache_root() -> Path:
    configured = os.environ.get("NUCTL_EMULATOR_IMAGE_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nuclio-fusionizer" / "nuctl-emulator"


def _version_of(python: str) -> Optional[str]:
    if python not in _versions:
        try:
            done = subprocess.run(
                [python, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=30,
            )
            _versions[python] = done.stdout.strip() if done.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            _versions[python] = None
    return _versions[python]


def image_python(runtime: str) -> Tuple[str, str, bool]:
    """(interpreter, its version, emulated?) for a runtime such as ``python:3.9``; the
    answer is remembered in the cache (finding it runs interpreters: ~0.2-0.5 s)."""
    wanted = runtime.partition(":")[2] or "3.9"
    default = os.environ.get("NUCTL_EMULATOR_PYTHON") or sys.executable
    remembered = cache_root() / "interpreters.json"
    try:
        known: Dict[str, List[Any]] = json.loads(remembered.read_text())
    except (OSError, ValueError):
        known = {}
    key = f"{wanted} {default}"
    if key in known and Path(known[key][0]).exists():
        return str(known[key][0]), str(known[key][1]), bool(known[key][2])
    found = _find_python(wanted, default)
    known[key] = list(found)
    remembered.parent.mkdir(parents=True, exist_ok=True)
    tmp = remembered.with_name(f".{remembered.name}.{os.getpid()}")
    tmp.write_text(json.dumps(known))
    os.replace(tmp, remembered)
    return found


def _find_python(wanted: str, default: str) -> Tuple[str, str, bool]:
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [default, shutil.which(f"python{wanted}") or ""]
    candidates += sorted(glob.glob(str(pyenv / "versions" / f"{wanted}.*" / "bin" / f"python{wanted}")), reverse=True)
    for candidate in candidates:
        if candidate and _version_of(candidate) == wanted:
            return candidate, wanted, False
    return default, _version_of(default) or "", True


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(argv: List[str], env: Optional[Dict[str, str]] = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise ImageUnavailable(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def _offline(wheelhouse: Path) -> Dict[str, str]:
    return {
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_NO_INDEX": "1",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def _base(python: str, version: str) -> Tuple[Path, Path]:
    """(the base virtualenv, the wheelhouse) for this Python version, made once."""
    root = cache_root() / f"py{version}"
    base, wheelhouse = root / "base", root / "wheelhouse"
    if (base / _COMPLETE).exists():
        return base, wheelhouse
    with _locked(root / ".lock"):
        if (base / _COMPLETE).exists():
            return base, wheelhouse
        shutil.rmtree(base, ignore_errors=True)
        _run([python, "-m", "venv", str(base)])
        pip = [str(base / "bin" / "python"), "-m", "pip"]
        if not (wheelhouse / _COMPLETE).exists():
            # The only network access: the machine's own pip configuration and index.
            _run(pip + ["download", "-q", "-d", str(wheelhouse), *IMAGE_PACKAGES, *WHEELHOUSE_EXTRA])
            (wheelhouse / _COMPLETE).write_text("")
        _run(pip + ["install", "-q", *IMAGE_PACKAGES], env={**os.environ, **_offline(wheelhouse)})
        (base / _COMPLETE).write_text("")
    return base, wheelhouse


def _copy(base: Path, target: Path) -> None:
    """A copy of a virtualenv that is its own: scripts point at the copy's interpreter."""
    shutil.copytree(base, target, symlinks=True)
    (target / _COMPLETE).unlink(missing_ok=True)
    old, new = f"#!{base}/", f"#!{target}/"
    for script in (target / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        text = script.read_bytes()
        if text.startswith(old.encode()):
            script.write_bytes(new.encode() + text[len(old):])


def prepare(runtime: str, commands: List[str], log: Callable[[str], None]) -> Image:
    """The image for ``runtime`` with ``commands`` run in it (BuildFailed if one fails)."""
    python, version, emulated = image_python(runtime)
    base, wheelhouse = _base(python, version)
    if not commands:
        return Image(base, version, emulated)
    key = hashlib.sha256("\n".join(commands).encode()).hexdigest()[:16]
    target = cache_root() / f"py{version}" / "layers" / key
    with _locked(target.with_name(f"{key}.lock")):
        if (target / _COMPLETE).exists():
            return Image(target, version, emulated, cached=True)
        shutil.rmtree(target, ignore_errors=True)
        _copy(base, target)
        image = Image(target, version, emulated)
        env = image.environment(_offline(wheelhouse))
        for command in commands:
            log(command)
            done = subprocess.run(["/bin/sh", "-c", command], cwd=target, env=env, capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                shutil.rmtree(target, ignore_errors=True)
                raise BuildFailed(command, done.returncode, (done.stdout + done.stderr).strip())
        (target / _COMPLETE).write_text("\n".join(commands))
    return image
