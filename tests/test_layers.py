"""The architecture as a checked rule: every module imports only its own layer or layers below.

cli, server -> loop -> reconciler -> plan, build, sources, optimize -> platforms -> gateway -> runtime; the
shared bottom (errors, paths, enums, the ignore rule, the package root) is importable from everywhere. The runtime,
which is copied into every deployed function, imports nothing of the package but itself.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fusionizer"
RANK: Dict[str, int] = {
    "__main__": 7,
    "cli": 6, "server": 6,
    "loop": 5,
    "reconciler": 4,
    "plan": 3, "build": 3, "sources": 3, "optimize": 3,
    "platforms": 2,
    "gateway": 1,
    "runtime": 0,
}
SHARED = frozenset({"errors", "paths", "ignore", "enums", ""})  # "" is the package root (__version__)
# Within the middle layer: build reads the plan model, a directory source reads which files a
# plan builds from, optimizers read the plan and weigh tasks as the build merges them; plan
# and sources know nothing of builds or optimizers.
# At the top: the `serve` command starts the server (lazily); the server knows nothing of the CLI.
ALLOWED_SIDEWAYS = frozenset({("build", "plan"), ("sources", "plan"), ("optimize", "plan"), ("optimize", "build"),
                              ("cli", "server")})


def layer_of(module: Path) -> str:
    parts = module.relative_to(PACKAGE).with_suffix("").parts
    return parts[0] if parts[0] != "__init__" else ""


def imports(module: Path) -> Iterator[Tuple[int, str]]:
    tree = ast.parse(module.read_text(), str(module))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module + "." + alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name == "fusionizer" or name.startswith("fusionizer."):
                yield node.lineno, name


def target_layer(name: str) -> str:
    """``fusionizer.plan.loader`` -> ``plan``; a name from the package root (``__version__``) -> ""."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and (parts[1] in RANK or parts[1] in SHARED) else ""


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(module: Path) -> None:
    own = layer_of(module)
    violations: List[str] = []
    for line, name in imports(module):
        other = target_layer(name)
        if own == "runtime":
            violations.append(f"line {line}: the runtime imports {name} (use relative imports only)")
        elif other in SHARED or other == own or (own, other) in ALLOWED_SIDEWAYS:
            continue
        elif own in SHARED or RANK[other] >= RANK[own]:
            violations.append(f"line {line}: {own or 'package root'} imports {name}, a layer not below it")
    assert not violations, "\n".join(violations)
