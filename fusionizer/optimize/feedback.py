"""The feedback optimizer: fuse what calls synchronously, keep concurrent calls apart.

After Fusionize/Fusionize++ (Schirmer et al.): a synchronous call to a task in another
function pays a hop (gateway, HTTP, the callee's processor) on the caller's critical path;
in-process it costs next to nothing. A call the caller does not wait for on its own
invocation (a fan-out on threads, a fire-and-forget) gains nothing from sharing a process
and loses the callee's own workers, so it stays apart.

From the current setup and the observed :class:`~fusionizer.optimize.api.CallStats`:

1. **Judge** each caller -> callee edge with at least ``minCalls`` calls: *concurrent* when
   most of its calls were made off the caller's invocation, else *synchronous*. Colder edges
   are not judged: what they join or keep apart stays as it is.
2. **Split**: a task called concurrently by a task of its own group leaves the group.
   A group that breaks a constraint (``maxTasks``, ``maxMemory``) falls apart into its tasks.
3. **Fuse**, hottest first (calls x saving per call): a synchronous edge joins the groups of
   its two tasks unless that would put a concurrent pair together, or break a constraint
   (same runtime, no env or build setting with two values, ``maxTasks`` tasks, ``maxMemory``
   of declared memory in all), or save nothing. The saving per call is what the traces
   measure: the edge's remote p50 minus its in-process p50 or else the callee's own handler
   p50 (the hop); where they cannot tell, the median hop measured, else ``hopMs``.

Every split, fusion and refusal comes with its reason. Groups keep the name of the current
group they share most tasks with, so functions are not renamed needlessly. Linear in the
edges after one sort: 1,000 tasks and 10,000 edges take well under a second.

Options (``spec.optimizer.options``): ``minCalls`` (default 10), ``maxTasks``, ``maxMemory``
(a quantity such as ``1Gi``), ``hopMs`` (default 1).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Set, Tuple, Union

from fusionizer.build.merging import quantity
from fusionizer.errors import FusionizerError
from fusionizer.optimize.api import EdgeStats, OptimizerInput, Proposal, Reason
from fusionizer.optimize.constraints import Profile, combine, combine_all, profile
from fusionizer.plan.model import Group


class OptionError(FusionizerError):
    """An optimizer option is unknown or has a value it cannot use."""


@dataclass(frozen=True)
class Settings:
    min_calls: int = 10
    max_tasks: Optional[int] = None
    max_memory: Optional[float] = None  # bytes
    hop_s: float = 0.001


_OPTIONS = ("minCalls", "maxTasks", "maxMemory", "hopMs")


def settings(options: Dict[str, Any]) -> Settings:
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise OptionError(f"unknown option(s) {', '.join(unknown)}; FeedbackOptimizer takes {', '.join(_OPTIONS)}")
    hop = options.get("hopMs", 1.0)
    if isinstance(hop, bool) or not isinstance(hop, (int, float)) or hop <= 0:
        raise OptionError(f"hopMs must be a positive number of milliseconds, got {hop!r}")
    return Settings(
        min_calls=_positive_int(options, "minCalls") if "minCalls" in options else Settings.min_calls,
        max_tasks=_positive_int(options, "maxTasks") if options.get("maxTasks") is not None else None,
        max_memory=_memory(options["maxMemory"]) if options.get("maxMemory") is not None else None,
        hop_s=hop / 1000,
    )


def _positive_int(options: Dict[str, Any], key: str) -> int:
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionError(f"{key} must be a whole number >= 1, got {value!r}")
    return value


def _memory(value: Any) -> float:
    amount = quantity(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else 0.0
    if amount <= 0:
        raise OptionError(f"maxMemory must be a memory quantity such as 512Mi or 2Gi, got {value!r}")
    return amount


class FeedbackOptimizer:
    """Options as keyword arguments, named as in the plan (``minCalls=20``)."""

    def __init__(self, **options: Any) -> None:
        self.settings = settings(options)

    def propose(self, given: OptimizerInput) -> Proposal:
        return _Run(self.settings, given).proposal()


@dataclass(frozen=True)
class _Judged:
    edge: EdgeStats
    saving_s: float  # per synchronous call, if the two were fused

    @property
    def gain_s(self) -> float:
        return self.edge.sync * self.saving_s


class _Clusters:
    """Union-find over tasks, each root holding its members and their profile."""

    def __init__(self, profiles: Dict[str, Profile]) -> None:
        self.parent = {task: task for task in profiles}
        self.members: Dict[str, List[str]] = {task: [task] for task in profiles}
        self.profiles = dict(profiles)

    def find(self, task: str) -> str:
        root = task
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[task] != root:
            self.parent[task], task = root, self.parent[task]
        return root

    def union(self, a: str, b: str, joined: Profile) -> None:
        if len(self.members[a]) < len(self.members[b]):
            a, b = b, a
        self.parent[b] = a
        self.members[a].extend(self.members.pop(b))
        self.profiles[a] = joined
        del self.profiles[b]


class _Run:
    def __init__(self, config: Settings, given: OptimizerInput) -> None:
        self.config = config
        self.given = given
        self.tasks = given.tasks
        self.reasons: List[Reason] = []
        self.judged: List[_Judged] = []
        self.apart: Dict[str, Set[str]] = {}  # task -> tasks it must not share a function with
        self.concurrent: List[EdgeStats] = []

    def proposal(self) -> Proposal:
        self._judge()
        clusters = _Clusters({name: profile(task) for name, task in self.tasks.items()})
        for members in self._split(self.given.current):
            for other in members[1:]:
                a, b = clusters.find(members[0]), clusters.find(other)
                joined = combine(clusters.profiles[a], clusters.profiles[b])
                assert not isinstance(joined, str), "_split keeps only groups without conflicts"
                clusters.union(a, b, joined)
        for judged in sorted(self.judged, key=lambda j: (-j.gain_s, j.edge.caller, j.edge.callee)):
            self._fuse(clusters, judged)
        groups = self._named([sorted(m) for m in clusters.members.values()])
        return Proposal(tuple(groups), tuple(self.reasons))

    # -- 1. judge ------------------------------------------------------------------------

    def _judge(self) -> None:
        edges = [e for e in self.given.stats.edges if e.caller != e.callee]
        known = [e for e in edges if e.caller in self.tasks and e.callee in self.tasks]
        hot = [e for e in known if e.count >= self.config.min_calls]
        measured = [s for s in (self._measured(e) for e in hot) if s is not None]
        hop = statistics.median(measured) if measured else self.config.hop_s
        for edge in hot:
            if edge.concurrent > edge.sync:
                self.concurrent.append(edge)
                self.apart.setdefault(edge.caller, set()).add(edge.callee)
                self.apart.setdefault(edge.callee, set()).add(edge.caller)
                continue
            saving = self._measured(edge)
            self.judged.append(_Judged(edge, hop if saving is None else saving))
        if len(known) < len(edges):
            self.reasons.append(Reason((), f"{len(edges) - len(known)} edge(s) name tasks the plan does not "
                                           f"define (traces of an older plan?): not judged"))
        if len(hot) < len(known):
            self.reasons.append(Reason((), f"{len(known) - len(hot)} edge(s) with fewer than "
                                           f"{self.config.min_calls} calls (minCalls): not judged"))

    def _measured(self, edge: EdgeStats) -> Optional[float]:
        """The hop this edge's traces show: remote p50 minus in-process p50 or the callee's own."""
        if edge.remote_p50_s is None:
            return None
        if edge.local_p50_s is not None:
            return edge.remote_p50_s - edge.local_p50_s
        served = self.given.stats.served.get(edge.callee)
        return edge.remote_p50_s - served.p50_s if served is not None else None

    # -- 2. split ------------------------------------------------------------------------

    def _split(self, current: Tuple[Group, ...]) -> List[List[str]]:
        """The current groups, minus concurrent callees and groups that break a constraint."""
        group_of = {task: group for group in current for task in group.tasks}
        leaving: Set[str] = set()
        for edge in self.concurrent:
            group = group_of.get(edge.caller)
            if group is not None and group is group_of.get(edge.callee) and edge.callee not in leaving:
                leaving.add(edge.callee)
                self.reasons.append(Reason((edge.caller, edge.callee), (
                    f"split {edge.callee} from {_label(group)}: {_concurrency(edge)}, so it runs apart, "
                    f"in its own function's workers")))
        kept: List[List[str]] = []
        for group in current:
            members = [t for t in group.tasks if t in self.tasks]
            broken = self._broken(members)
            if broken:
                self.reasons.append(Reason(tuple(members), f"split {_label(group)}: {broken}"))
                continue
            kept.append([t for t in members if t not in leaving])
        return [members for members in kept if members]

    def _broken(self, members: List[str]) -> Optional[str]:
        limit = self.config.max_tasks
        if limit is not None and len(members) > limit:
            return f"{len(members)} tasks, more than maxTasks ({limit})"
        joined = combine_all(profile(self.tasks[task]) for task in members) if members else None
        if isinstance(joined, str):
            return joined
        if joined is not None and self.config.max_memory is not None and joined.memory > self.config.max_memory:
            return f"{_mib(joined.memory)} of declared memory, more than maxMemory ({_mib(self.config.max_memory)})"
        return None

    # -- 3. fuse -------------------------------------------------------------------------

    def _fuse(self, clusters: _Clusters, judged: _Judged) -> None:
        edge = judged.edge
        a, b = clusters.find(edge.caller), clusters.find(edge.callee)
        if a == b:
            return
        pair = (edge.caller, edge.callee)
        why = self._refusal(clusters, a, b, judged)
        if isinstance(why, str):
            self.reasons.append(Reason(pair, f"not fused {edge.caller} -> {edge.callee}: {why}"))
            return
        clusters.union(a, b, why)
        self.reasons.append(Reason(pair, (
            f"fuse {edge.caller} -> {edge.callee}: {edge.sync} of {edge.count} calls synchronous; "
            f"in-process saves ~{_ms(judged.saving_s)} per call ({_ms(judged.gain_s)} in all)"
            f"{_p50s(edge)}")))

    def _refusal(self, clusters: _Clusters, a: str, b: str, judged: _Judged) -> Union[Profile, str]:
        if judged.saving_s <= 0:
            return (f"in-process would save nothing (a call between functions took {_ms(judged.edge.p50_s)} p50, "
                    f"no more than the callee's own time)")
        small, large = sorted((a, b), key=lambda root: len(clusters.members[root]))
        for task in clusters.members[small]:
            for other in self.apart.get(task, ()):
                if clusters.find(other) == large:
                    return f"it would put {task} with {other}, which run apart (concurrent calls)"
        joined = combine(clusters.profiles[a], clusters.profiles[b])
        if isinstance(joined, str):
            return joined
        limit = self.config.max_tasks
        if limit is not None and joined.size > limit:
            return f"the function would hold {joined.size} tasks, more than maxTasks ({limit})"
        memory = self.config.max_memory
        if memory is not None and joined.memory > memory:
            return f"the function would declare {_mib(joined.memory)}, more than maxMemory ({_mib(memory)})"
        return joined

    # -- names ---------------------------------------------------------------------------

    def _named(self, clusters: List[List[str]]) -> List[Group]:
        """Each cluster as a group named after the current group it overlaps most (once each)."""
        named = [g for g in self.given.current if g.name]
        overlaps = sorted(
            ((len(set(members) & set(g.tasks)), i, g.name) for i, members in enumerate(clusters) for g in named),
            key=lambda o: (-o[0], o[1], o[2] or ""),
        )
        names: Dict[int, str] = {}
        used: Set[str] = set()
        for shared, index, name in overlaps:
            if shared and name and index not in names and name not in used:
                names[index] = name
                used.add(name)
        return [Group(tuple(members), names.get(i)) for i, members in enumerate(clusters)]


def _label(group: Group) -> str:
    return f"group {group.name}" if group.name else "[" + ", ".join(group.tasks) + "]"


def _concurrency(edge: EdgeStats) -> str:
    return (f"{edge.caller} calls it concurrently in {edge.concurrent} of {edge.count} calls "
            f"(a fan-out or fire-and-forget)")


def _p50s(edge: EdgeStats) -> str:
    parts = []
    if edge.remote_p50_s is not None:
        parts.append(f"remote p50 {_ms(edge.remote_p50_s)}")
    if edge.local_p50_s is not None:
        parts.append(f"in-process p50 {_ms(edge.local_p50_s)}")
    return f" [{', '.join(parts)}]" if parts else ""


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _mib(amount: float) -> str:
    return f"{amount / 2**20:.0f}Mi"
