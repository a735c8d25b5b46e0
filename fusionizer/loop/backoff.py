"""How long the loop waits before retrying, and how it spreads its polls.

Retries of failed runs use capped exponential backoff (1 s, 2 s, 4 s ... 5 min by default),
reset by a success or a new revision; polls are jittered (±10 % by default) so that many
watchers of one repository do not poll it in lockstep. Both are pure values/functions;
:mod:`fusionizer.loop.looping` applies them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

# 2 ** 64 seconds is far past any cap; bounding the exponent keeps float math finite.
_MAX_EXPONENT = 64


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff: ``initial * factor ** (failures - 1)``, at most ``cap``."""

    initial: float = 1.0  # seconds after the first failure
    factor: float = 2.0
    cap: float = 300.0  # five minutes, like Argo CD's self-heal cap

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures (0 -> no wait)."""
        if failures <= 0:
            return 0.0
        exponent = min(failures - 1, _MAX_EXPONENT)
        return min(self.cap, self.initial * self.factor**exponent)


def jittered(seconds: float, fraction: float, rand: Callable[[], float] = random.random) -> float:
    """``seconds`` moved by up to ``fraction`` of itself either way (uniformly)."""
    return seconds * (1.0 + fraction * (2.0 * rand() - 1.0))
