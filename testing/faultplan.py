"""A small plan whose every apply has work to do, for fault injection (tests/faults, benches).

Three tasks: ``a`` calls ``c`` through the gateway (they never share a function), ``b`` has a
build command. :meth:`FaultPlan.write` sets a version (in every answer and in the build
command, so every function is redeployed and its build command runs) and one of two
groupings, whose functions differ: going from one to the other creates two functions and
deletes two. So an apply deploys, builds, switches, retires and deletes, and a test can kill
it at any of those steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

SHAPES: Tuple[Tuple[Tuple[str, ...], ...], ...] = ((("a", "b"), ("c",)), (("a",), ("b", "c")))
TASKS = ("a", "b", "c")

_A = '''
def handler(context, event, requests_session):
    response = requests_session.post(f"http://{{event.headers['Fusionizer-Server-Address']}}:8000/c", data=b"")
    response.raise_for_status()
    return "a{version}+" + response.text
'''
_PLAIN = '''
def handler(context, event):
    return "{task}{version}"
'''


class FaultPlan:
    def __init__(self, root: Path, name: str = "fz") -> None:
        self.root = root
        self.name = name
        self.file = root / "fusionizer.yaml"

    def write(self, version: int, shape: int) -> None:
        groups = ", ".join("[" + ", ".join(group) + "]" for group in SHAPES[shape])
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.file.write_text(
            f"apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata:\n  name: {self.name}\n"
            f"spec:\n  taskDirs: [tasks]\n  fusion:\n    groups: [{groups}]\n")
        for task in TASKS:
            folder = self.root / "tasks" / task
            folder.mkdir(parents=True, exist_ok=True)
            build = f"  build:\n    commands: ['echo building {task} v{version}']\n" if task == "b" else ""
            (folder / "function.yaml").write_text(
                f"metadata:\n  name: {task}\nspec:\n  runtime: python:3.9\n  handler: main:handler\n{build}")
            body = _A if task == "a" else _PLAIN
            (folder / "main.py").write_text(body.format(task=task, version=version))

    def functions(self, shape: int) -> List[str]:
        return sorted(f"{self.name}-{'-'.join(group)}" for group in SHAPES[shape])

    @staticmethod
    def answers(version: int) -> Dict[str, str]:
        """What each task answers at ``version``."""
        return {"a": f"a{version}+c{version}", "b": f"b{version}", "c": f"c{version}"}
