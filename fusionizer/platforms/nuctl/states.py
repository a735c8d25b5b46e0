"""How to read a Nuclio function's ``status.state`` (reference/nuclio.md §3).

Nuclio has five final ("provisioned") states and six in-progress ones. The reconciler
needs one question answered per function: does it serve requests right now?

========================  ===========  =====================================================
state                     phase        what a reconcile should do
========================  ===========  =====================================================
ready, scaledToZero       serving      nothing, if its spec-hash matches (scaled-to-zero
                                       functions wake on the first request)
error, unhealthy          broken       redeploy it (``nuctl deploy`` of an existing name
                                       is an update); never count it as serving a task
imported                  not-deployed deploy it: the config exists, nothing runs
waitingForBuild, building, in-progress not serving; a deploy is running, or one died
waitingFor..., configur...             mid-way (a killed apply). Redeploying converges
(empty: CR not seen yet)               either way
========================  ===========  =====================================================

``FunctionRecord.serving`` (base.py) is exactly ``phase(state) == Phase.SERVING``. On the local
(docker) platform nuctl never re-checks containers: the state is the one stored at deploy
time, so a crashed container still reads ``ready`` until the next deploy.
"""

from __future__ import annotations

from typing import Dict

from fusionizer.enums import StrEnum
from fusionizer.platforms.base import STATE_ERROR, STATE_IMPORTED, STATE_READY, STATE_SCALED_TO_ZERO, STATE_UNHEALTHY


class Phase(StrEnum):
    """Does a function serve requests right now (see the table above)?"""

    SERVING = "serving"
    BROKEN = "broken"  # provisioned, but not serving: error or unhealthy
    NOT_DEPLOYED = "not-deployed"
    IN_PROGRESS = "in-progress"


IN_PROGRESS_STATES = frozenset(
    {
        "waitingForBuild",
        "building",
        "waitingForResourceConfiguration",
        "waitingForScaleResourceFromZero",
        "waitingForScaleResourceToZero",
        "configuringResources",
    }
)

_PHASES: Dict[str, Phase] = {
    STATE_READY: Phase.SERVING,
    STATE_SCALED_TO_ZERO: Phase.SERVING,
    STATE_ERROR: Phase.BROKEN,
    STATE_UNHEALTHY: Phase.BROKEN,
    STATE_IMPORTED: Phase.NOT_DEPLOYED,
    # A kube CR the controller has not picked up yet has no status at all.
    "": Phase.IN_PROGRESS,
    **{state: Phase.IN_PROGRESS for state in IN_PROGRESS_STATES},
}


def phase(state: str) -> Phase:
    """The phase of a Nuclio state; states newer than 1.14 count as broken (not serving)."""
    return _PHASES.get(state, Phase.BROKEN)
