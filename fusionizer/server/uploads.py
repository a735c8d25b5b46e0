"""Task uploads (``PUT /{task}``): a zip unpacked safely, then put in the plan's tree.

A zip is refused whole, before anything in the plan's directory changes, when it is
corrupt, holds an entry that would land outside the task directory (absolute paths,
``..``: zip-slip), a symlink or any other special file, more than :data:`MAX_FILES`
entries, more than :data:`MAX_UNPACKED` bytes once unpacked (counted while unpacking, not
trusted from the headers: zip bombs), or no ``function.yaml``. A zip made from outside
the task directory (``zip -r taska.zip taska/``) is accepted too: a single top directory
holding ``function.yaml`` is taken as the task.

Placing it (:class:`Swap`) is a pair of renames: the new directory in, the old one aside,
and back again when the plan refuses the result.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, List, Optional

import yaml

from fusionizer.errors import FusionizerError
from fusionizer.plan.values import DNS_HELP, is_dns_label

FUNCTION_YAML = "function.yaml"
MAX_UPLOAD = 64 * 1024 * 1024  # the zip as sent
MAX_UNPACKED = 256 * 1024 * 1024
MAX_FILES = 10_000
_COPY_CHUNK = 1024 * 1024


class UploadError(FusionizerError):
    """An upload refused; ``status`` is the HTTP answer (4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_task_name(task: str) -> None:
    if not is_dns_label(task):
        raise UploadError(400, f"bad task name '{task}': {DNS_HELP}")


def unpack(archive: IO[bytes], dest: Path) -> None:
    """Unpack ``archive`` into the new directory ``dest`` (which must not exist)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            entries = zf.infolist()
            if len(entries) > MAX_FILES:
                raise UploadError(413, f"the zip holds {len(entries)} entries; at most {MAX_FILES}")
            prefix = _task_prefix([_entry_path(e) for e in entries])
            dest.mkdir(parents=True)
            budget = [MAX_UNPACKED]
            for entry in entries:
                try:
                    _extract(zf, entry, dest, prefix, budget)
                except OSError as exc:  # e.g. an entry twice, or a file where a directory must be
                    raise UploadError(400, f"cannot unpack zip entry '{entry.filename}': {exc.strerror}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError) as exc:
        raise UploadError(400, f"not a readable zip file: {exc}") from None
    if not (dest / FUNCTION_YAML).is_file():
        raise UploadError(422, f"the zip has no {FUNCTION_YAML} at its top (zip the task directory's contents)")


def _entry_path(entry: zipfile.ZipInfo) -> PurePosixPath:
    name = entry.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]) or "\0" in name:
        raise UploadError(400, f"zip entry '{entry.filename}' points outside the task directory")
    kind = stat.S_IFMT(entry.external_attr >> 16)
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        what = "a symlink" if kind == stat.S_IFLNK else "a special file"
        raise UploadError(400, f"zip entry '{entry.filename}' is {what}; only files and directories are accepted")
    return path


def _task_prefix(paths: List[PurePosixPath]) -> Optional[str]:
    """The single top directory to strip, when the zip holds the task directory itself."""
    if any(p.parts == (FUNCTION_YAML,) for p in paths):
        return None
    tops = {p.parts[0] for p in paths if p.parts}
    if len(tops) == 1:
        top = next(iter(tops))
        if any(p.parts == (top, FUNCTION_YAML) for p in paths):
            return top
    return None


def _extract(zf: zipfile.ZipFile, entry: zipfile.ZipInfo, dest: Path, prefix: Optional[str], budget: List[int]) -> None:
    parts = _entry_path(entry).parts
    if prefix is not None:
        parts = parts[1:]
    if not parts:
        return
    target = dest.joinpath(*parts)
    if entry.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(entry) as source, open(target, "xb") as out:
        while True:
            chunk = source.read(_COPY_CHUNK)
            if not chunk:
                break
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise UploadError(413, f"the zip unpacks to more than {MAX_UNPACKED} bytes")
            out.write(chunk)


@dataclass(frozen=True)
class Placement:
    """Where a task's directory goes in the plan's tree."""

    directory: Path
    explicit: bool  # named in spec.tasks (its directory may be replaced, never removed)


def place(plan_file: Path, task: str, current: Optional[Path]) -> Placement:
    """The directory of ``task``: where it is now, else under the plan's first ``taskDirs``."""
    raw = _plan_spec(plan_file)
    explicit = any(isinstance(t, dict) and t.get("name") == task for t in raw.get("tasks") or [])
    if current is not None:
        return Placement(current, explicit)
    dirs = [d for d in raw.get("taskDirs") or [] if isinstance(d, str)]
    if not dirs:
        raise UploadError(409, f"task '{task}' is not in the plan and the plan has no taskDirs to add it to; "
                               f"add it to {plan_file.name} (spec.tasks or spec.taskDirs)")
    root = plan_file.parent.resolve()
    directory = (root / dirs[0] / task).resolve()
    if root not in directory.parents:
        raise UploadError(409, f"spec.taskDirs[0] of {plan_file.name} leaves the plan directory")
    return Placement(directory, explicit)


def _plan_spec(plan_file: Path) -> dict:  # type: ignore[type-arg]
    try:
        raw = yaml.safe_load(plan_file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UploadError(409, f"cannot read the plan {plan_file}: {exc}") from None
    spec = raw.get("spec") if isinstance(raw, dict) else None
    return spec if isinstance(spec, dict) else {}


class Swap:
    """Puts ``new`` (or nothing, for a delete) at ``target``, keeping the old directory
    aside until :meth:`commit` or :meth:`undo`."""

    def __init__(self, target: Path, new: Optional[Path], scratch: Path) -> None:
        self.target = target
        self._new = new
        self._aside = scratch / f"old-{uuid.uuid4().hex[:8]}"
        self._had_old = False

    def apply(self) -> None:
        if self.target.exists():
            shutil.move(os.fspath(self.target), os.fspath(self._aside))
            self._had_old = True
        if self._new is not None:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(os.fspath(self._new), os.fspath(self.target))

    def undo(self) -> None:
        if self.target.exists():
            shutil.rmtree(self.target)
        if self._had_old:
            shutil.move(os.fspath(self._aside), os.fspath(self.target))

    def commit(self) -> None:
        shutil.rmtree(self._aside, ignore_errors=True)
