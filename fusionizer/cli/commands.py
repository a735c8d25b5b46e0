"""The table of commands: one line each (name, where it lives, its one-line help).

A command's module is imported only when that command runs (or its own ``--help`` is
asked for), so ``fusionizer --help`` and the start of every command pay only for what they
use: the heavy libraries (jsonschema, GitPython, PyYAML, requests, watchdog) stay unloaded
until a command needs them. Adding a command is adding its line here.
"""

from __future__ import annotations

from typing import Dict, NamedTuple


class Entry(NamedTuple):
    target: str  # "module:attribute" of the click command
    help: str  # shown by `fusionizer --help` without importing the module


COMMANDS: Dict[str, Entry] = {
    "validate": Entry("fusionizer.cli.validate:validate", "Check the plan and report every problem at once."),
    "plan": Entry("fusionizer.cli.plan:plan", "Show what apply would change, function by function."),
    "apply": Entry("fusionizer.cli.apply:apply", "Reconcile the platform to the plan, once."),
    "status": Entry("fusionizer.cli.status:status", "The plan's functions, their state and recent runs."),
    "invoke": Entry("fusionizer.cli.invoke:invoke", "Call a task wherever it lives; print its answer."),
    "logs": Entry("fusionizer.cli.logs:logs", "Print the log of a function, or of one task in it."),
    "destroy": Entry("fusionizer.cli.destroy:destroy", "Delete every function of the plan."),
    "watch": Entry("fusionizer.cli.watch:watch", "Reconcile continuously on saves, pushes, schedule, drift."),
    "serve": Entry("fusionizer.cli.serve:serve", "The Fusionizer server: the original HTTP API, the gateway and the watch loop."),
    "hook": Entry("fusionizer.cli.hook:hook", "Git hooks: reconcile on `git push` to a repository you host."),
    "traces": Entry("fusionizer.cli.traces:traces", "Calls between the plan's tasks: count, share, p50/p95."),
    "suggest": Entry("fusionizer.cli.suggest:suggest", "The optimizer's proposal from call traces, as a plan diff."),
    "completion": Entry("fusionizer.cli.completion:completion", "Print the shell completion script for bash, zsh or fish."),
}
