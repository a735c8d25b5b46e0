"""Start-up: `fusionizer --help`, and completing a command's name, list every command
without importing any of them, so none of the heavy libraries is loaded; a command imports
only what it uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import List

from fusionizer.cli.commands import COMMANDS

HEAVY = ("jsonschema", "git", "yaml", "requests", "watchdog", "rich", "uvicorn", "starlette", "prometheus_client")


def loaded_after(argv: List[str]) -> List[str]:
    """The top-level modules a fresh interpreter holds after running the CLI with ``argv``."""
    code = ("import json, sys\nfrom fusionizer.cli import main\nmain(json.loads(sys.argv[1]))\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(argv)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_help_lists_every_command_and_imports_no_heavy_library() -> None:
    done = subprocess.run([sys.executable, "-m", "fusionizer", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for name, entry in COMMANDS.items():
        assert f"  {name}" in done.stdout and entry.help[:30] in done.stdout
    modules = loaded_after(["--help"])
    assert [m for m in HEAVY if m in modules] == []


def test_a_command_loads_only_its_own_module() -> None:
    modules = loaded_after(["completion", "bash"])
    assert [m for m in HEAVY if m in modules] == []


def test_completing_a_command_name_offers_every_command_and_imports_no_heavy_library() -> None:
    code = ("import atexit, json, sys\n"
            "atexit.register(lambda: print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr))\n"
            "from fusionizer.cli import main\nmain()")
    env = {**os.environ, "_FUSIONIZER_COMPLETE": "zsh_complete", "COMP_WORDS": "fusionizer ", "COMP_CWORD": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for name, entry in COMMANDS.items():  # zsh reads each item as type, value, help lines
        assert f"plain\n{name}\n{entry.help}\n" in done.stdout
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    assert [m for m in HEAVY if m in modules] == []
