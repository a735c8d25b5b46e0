"""One vocabulary: a constant the runtime cannot import keeps its own copy, equal to the
package's (the runtime is copied into every function and imports nothing of the package)."""

from __future__ import annotations

import json

from fusionizer.platforms.base import DEFAULT_NAMESPACE
from fusionizer.reconciler.execute import ChangeStatus
from fusionizer.reconciler.state import RunResult
from fusionizer.runtime import processor


def test_the_local_processor_defaults_to_the_platforms_namespace() -> None:
    assert processor.parse_args(["function-dir", "--ready-file", "ready.json"]).namespace == DEFAULT_NAMESPACE


def test_statuses_read_and_serialise_as_their_words() -> None:
    assert json.dumps({"result": RunResult.IN_SYNC, "status": ChangeStatus.KEPT}) == \
        '{"result": "in-sync", "status": "kept"}'
    assert f"{RunResult.FAILED}: x" == "failed: x" and str(ChangeStatus.DONE) == "done"
    assert RunResult("unreachable") is RunResult.UNREACHABLE and RunResult.OK == "ok"
