"""The nuctl platform: functions deployed to real Nuclio (docker or Kubernetes) through the
``nuctl`` CLI. See :mod:`fusionizer.platforms.nuctl.platform` for how nuctl is driven and
:mod:`fusionizer.platforms.nuctl.states` for how to read a function's state.
"""

from fusionizer.platforms.nuctl.options import NuctlOptions
from fusionizer.platforms.nuctl.platform import NuctlPlatform
from fusionizer.platforms.nuctl.runner import ENV_NUCTL, Completed, resolve_binary
from fusionizer.platforms.nuctl.states import phase

__all__ = ["ENV_NUCTL", "Completed", "NuctlOptions", "NuctlPlatform", "phase", "resolve_binary"]
