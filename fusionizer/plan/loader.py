"""Loading ``fusionizer.yaml`` into the immutable :class:`~fusionizer.plan.model.Plan`.

One run reports every problem it can find, not just the first: a YAML syntax error stops
the run (nothing else can be read), but schema violations, task problems and setup
conflicts are all collected. :func:`check_plan` returns them (``fusionizer validate``);
:func:`load_plan` raises :class:`~fusionizer.errors.PlanError` carrying them (everything
that builds or deploys). Nothing here imports user code or touches a platform.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlparse

from fusionizer import ignore
from fusionizer.errors import Diagnostic, PlanError
from fusionizer.filecache import Listing
from fusionizer.paths import DEFAULT_PLAN_FILE
from fusionizer.plan.documents import Document, DocumentError, JsonPath, as_dict, as_list, as_str, load_text
from fusionizer.plan.model import Group, OptimizerSpec, Plan, PlatformSettings, ScheduleEntry
from fusionizer.plan.schema import check_schema
from fusionizer.plan.setups import SetupCheck, parse_groups
from fusionizer.plan.tasks import Paths, TaskTable, collect_tasks
from fusionizer.plan.boundary import Boundary, BoundaryError, Limits
from fusionizer.plan.values import DURATION_HELP, TIME_HELP, parse_duration, parse_time, time_problem
from fusionizer.platforms.base import DEFAULT_NAMESPACE
from fusionizer.platforms.factory import DEFAULT_KIND

_PLATFORM_KEYS = ("kind", "namespace")  # everything else under spec.platform is an option


def load_plan(
    path: Path, strict: bool = False, shown_as: Optional[Path] = None, tree: Optional[Path] = None
) -> Plan:
    """The validated plan at ``path``; raises PlanError with every diagnostic of the run.

    With ``strict``, warnings (e.g. a group naming an undefined task) are errors.
    A valid plan keeps its warnings in ``Plan.warnings``. ``shown_as`` is how diagnostics
    name the plan file (default: ``path`` as given); task files are shown relative to it,
    e.g. ``fusionizer.yaml`` of a git checkout rather than its cache path. ``tree`` is the
    directory nothing may be read outside of (default: the plan file's; for a git source,
    pass the checkout).
    """
    plan, diagnostics = check_plan(path, strict, shown_as, tree)
    if plan is None:
        raise PlanError(diagnostics)
    return plan


def check_plan(
    path: Path, strict: bool = False, shown_as: Optional[Path] = None, tree: Optional[Path] = None,
    listing: Optional[Listing] = None,
) -> Tuple[Optional[Plan], List[Diagnostic]]:
    """``(plan, diagnostics)``: the plan is None exactly when a diagnostic is an error.

    Diagnostics are ordered plan file first, then by file and position. Arguments as for
    :func:`load_plan`; ``listing``: the files of the snapshot the plan is read from (a
    directory source's), kept in the plan for its build to read instead of walking again.
    """
    path = Path(path)
    shown = Path(shown_as) if shown_as is not None else path
    diagnostics: List[Diagnostic] = []
    paths = _paths(path, shown, tree, diagnostics, listing)
    doc = _read(path, shown, paths.boundary, diagnostics) if paths is not None else None
    plan = _Builder(doc, path, paths, diagnostics).build() if doc is not None and paths is not None else None
    if strict:
        diagnostics = [_as_error(d) for d in diagnostics]
    diagnostics = _ordered(diagnostics, str(shown))
    if any(d.severity == "error" for d in diagnostics):
        return None, diagnostics
    assert plan is not None  # no errors means the builder got through
    return _with_warnings(plan, diagnostics), diagnostics


def _paths(path: Path, shown: Path, tree: Optional[Path], out: List[Diagnostic],
           listing: Optional[Listing]) -> Optional[Paths]:
    """Where the plan's paths lead and what bounds them; None (reported) for a bad setting."""
    file = Path(os.path.normpath(path.absolute()))
    try:
        limits = Limits.from_env(os.environ)
    except BoundaryError as e:
        out.append(Diagnostic(str(e)))
        return None
    return Paths(root=file.parent, shown_root=shown.parent, boundary=Boundary.at(tree or file.parent),
                 rules=ignore.Tree(file.parent), limits=limits, listing=listing)


def _read(path: Path, shown_path: Path, boundary: Boundary, out: List[Diagnostic]) -> Optional[Document]:
    shown = str(shown_path)
    if path.is_dir():
        out.append(Diagnostic(
            f"{shown} is a directory; pass the plan file itself, e.g. -f {shown_path / DEFAULT_PLAN_FILE}", shown
        ))
        return None
    try:
        text = boundary.read_text(path, shown)
    except FileNotFoundError:
        out.append(Diagnostic(
            f"no plan file at {shown}; run where {DEFAULT_PLAN_FILE} is, or pass its path with -f PATH", shown
        ))
        return None
    except BoundaryError as e:
        out.append(Diagnostic(str(e), shown))
        return None
    except (OSError, UnicodeDecodeError) as e:
        out.append(Diagnostic(f"cannot read the plan file: {e}; make it a readable UTF-8 file", shown))
        return None
    try:
        doc = load_text(text, shown)
    except DocumentError as e:
        out.append(e.diagnostic)
        return None
    if doc.data is None:
        out.append(Diagnostic(
            "the plan file is empty; start with `apiVersion: fusionizer.io/v1` and `kind: FusionPlan`",
            shown, 1, 1,
        ))
        return None
    return doc


class _Builder:
    """Runs the schema and the semantic checks over one plan document, then builds the model."""

    def __init__(self, doc: Document, path: Path, paths: Paths, out: List[Diagnostic]) -> None:
        self.doc = doc
        self.out = out
        self.file = Path(os.path.normpath(path.absolute()))
        self.paths = paths

    def build(self) -> Optional[Plan]:
        self.out.extend(check_schema(self.doc))
        name = as_str(self.doc.get(("metadata", "name"))) or ""
        tasks = collect_tasks(self.doc, self.paths, self.out)
        self._check_not_empty(tasks)
        setups = SetupCheck(self.doc, name, tasks, self.out)
        groups = setups.run(parse_groups(self.doc, ("spec", "fusion", "groups")))
        schedule = self._schedule(setups)
        platform = self._platform()
        optimizer = self._optimizer()
        if any(d.severity == "error" for d in self.out):
            return None
        return Plan(
            name=name,
            file=self.file,
            tasks={n: s.task for n, s in tasks.sources.items()},
            groups=groups,
            schedule=schedule,
            platform=platform,
            optimizer=optimizer,
            listing=self.paths.listing,
        )

    def _check_not_empty(self, tasks: TaskTable) -> None:
        # Applying a plan without tasks would delete every function it owns: say so.
        spec = self.doc.get(("spec",))
        if isinstance(spec, dict) and not tasks.defined and not any(k in spec for k in ("tasks", "taskDirs")):
            self.out.append(self.doc.diagnostic(("spec",), (
                "the plan defines no tasks; list them under spec.tasks or discover them with "
                "spec.taskDirs (applying it would remove every function of the plan)"
            ), severity="warning", key=True))

    def _schedule(self, setups: SetupCheck) -> Tuple[ScheduleEntry, ...]:
        entries: List[ScheduleEntry] = []
        for i, raw in enumerate(as_list(self.doc.get(("spec", "fusion", "schedule")))):
            at: JsonPath = ("spec", "fusion", "schedule", i)
            if not isinstance(raw, dict):
                continue  # the schema reported it
            groups = setups.run(parse_groups(self.doc, at + ("groups",)))
            entry = self._when(at, raw, groups)
            if entry is not None:
                entries.append(entry)
        return tuple(entries)

    def _when(self, at: JsonPath, raw: Dict[str, Any], groups: Tuple[Group, ...]) -> Optional[ScheduleEntry]:
        """The entry with its parsed ``after`` or ``at``; exactly one of them must be given."""
        if "after" in raw and "at" in raw:
            self.out.append(self.doc.diagnostic(at + ("at",), (
                "a schedule entry takes either after (a duration) or at (a time), not both; remove one"
            ), key=True))
            return None
        if "after" not in raw and "at" not in raw:
            self.out.append(self.doc.diagnostic(at, (
                f"a schedule entry needs after (a duration: {DURATION_HELP}) or at (an RFC 3339 "
                f"time, e.g. 2030-01-01T00:00:00Z); add one"
            )))
            return None
        if "after" in raw:
            return self._after(at, raw["after"], groups)
        return self._at(at, raw["at"], groups)

    def _after(self, at: JsonPath, raw: Any, groups: Tuple[Group, ...]) -> Optional[ScheduleEntry]:
        try:
            after = parse_duration(raw) if isinstance(raw, str) else None
        except ValueError as e:
            self.out.append(self.doc.diagnostic(at + ("after",), str(e)))
            return None
        # A malformed duration fails the schema's pattern, which already reported it.
        return ScheduleEntry(groups, after=after) if after is not None else None

    def _at(self, at: JsonPath, raw: Any, groups: Tuple[Group, ...]) -> Optional[ScheduleEntry]:
        if not isinstance(raw, str):
            return None  # the schema reported the type
        when = parse_time(raw)
        if when is None:
            problem = time_problem(raw) or f"{raw!r} is not an RFC 3339 time; {TIME_HELP}"
            self.out.append(self.doc.diagnostic(at + ("at",), problem))
            return None
        return ScheduleEntry(groups, at=when)

    def _platform(self) -> PlatformSettings:
        raw = as_dict(self.doc.get(("spec", "platform")))
        self._check_server_url(raw.get("serverUrl"))
        options = {k: v for k, v in raw.items() if k not in _PLATFORM_KEYS}
        return PlatformSettings(
            kind=as_str(raw.get("kind")) or DEFAULT_KIND,
            namespace=as_str(raw.get("namespace")) or DEFAULT_NAMESPACE,
            options=options,
        )

    def _check_server_url(self, url: Any) -> None:
        if not isinstance(url, str):
            return
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            self.out.append(self.doc.diagnostic(("spec", "platform", "serverUrl"), (
                f"serverUrl {url!r} is not an http(s) URL; write e.g. http://10.0.0.5:8000"
            )))

    def _optimizer(self) -> Optional[OptimizerSpec]:
        raw = self.doc.get(("spec", "optimizer"))
        if not isinstance(raw, dict) or not isinstance(raw.get("class"), str):
            return None
        return OptimizerSpec(raw["class"], as_dict(raw.get("options")))


def _as_error(d: Diagnostic) -> Diagnostic:
    if d.severity != "warning":
        return d
    return Diagnostic(d.message, d.file, d.line, d.col, d.path, "error")


def _ordered(diagnostics: List[Diagnostic], plan_file: str) -> List[Diagnostic]:
    """Plan file first, then other files by name; by position within a file; no duplicates."""
    unique = list(dict.fromkeys(diagnostics))
    return sorted(unique, key=lambda d: (d.file != plan_file, d.file, d.line, d.col))


def _with_warnings(plan: Plan, diagnostics: List[Diagnostic]) -> Plan:
    return replace(plan, warnings=tuple(d for d in diagnostics if d.severity == "warning"))
