"""The trigger queue, the injectable time and the backoff: coalescing, timers, debounce."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import List, Tuple

import pytest

from fusionizer.loop.backoff import Backoff, jittered
from fusionizer.loop.timebase import ManualTime
from fusionizer.loop.triggers import FILE, HOOK, POLL, RESYNC, SCHEDULE, WEBHOOK, Trigger, TriggerQueue, describe
from tests.loop.conftest import WAIT


def taker(queue: TriggerQueue) -> Tuple[threading.Thread, List[Tuple[Trigger, ...]]]:
    """A consumer thread that takes ONE batch."""
    batches: List[Tuple[Trigger, ...]] = []
    thread = threading.Thread(target=lambda: batches.append(queue.take()), daemon=True)
    thread.start()
    return thread, batches


def test_everything_pending_is_taken_as_one_batch_in_arrival_order() -> None:
    queue = TriggerQueue(ManualTime())
    for trigger in (Trigger(WEBHOOK, "a"), Trigger(HOOK, "1234"), Trigger(WEBHOOK, "a"), Trigger(POLL)):
        queue.post(trigger)
    assert queue.take() == (Trigger(WEBHOOK, "a"), Trigger(HOOK, "1234"), Trigger(POLL))
    assert queue.pending() == ()


def test_posts_from_other_threads_wake_the_taker() -> None:
    queue = TriggerQueue(ManualTime())
    thread, batches = taker(queue)
    posters = [threading.Thread(target=queue.post, args=(Trigger(WEBHOOK, str(i)),)) for i in range(8)]
    for poster in posters:
        poster.start()
    for poster in posters:
        poster.join(WAIT)
    thread.join(WAIT)
    assert not thread.is_alive()
    # Whatever the interleaving, nothing is lost: the rest is still pending.
    taken = set(batches[0]) | set(queue.pending())
    assert taken == {Trigger(WEBHOOK, str(i)) for i in range(8)}


def test_a_timer_fires_exactly_at_its_due_time_and_not_before() -> None:
    time = ManualTime()
    queue = TriggerQueue(time)
    due = time.now() + timedelta(seconds=40)
    queue.set_timer(SCHEDULE, due, Trigger(SCHEDULE))
    time.advance(39.999)
    queue.post(Trigger(WEBHOOK, "marker"))  # take() fires what is due before it returns
    assert queue.take() == (Trigger(WEBHOOK, "marker"),) and queue.timers() == {SCHEDULE: due}
    thread, batches = taker(queue)
    time.advance(0.001)
    thread.join(WAIT)
    assert batches == [(Trigger(SCHEDULE),)]
    assert queue.timers() == {}


def test_set_timer_none_disarms_and_rearming_replaces() -> None:
    time = ManualTime()
    queue = TriggerQueue(time)
    queue.set_timer(RESYNC, time.now() + timedelta(seconds=5), Trigger(RESYNC))
    queue.set_timer(RESYNC, time.now() + timedelta(seconds=60), Trigger(RESYNC))
    assert queue.timers() == {RESYNC: time.now() + timedelta(seconds=60)}
    queue.set_timer(RESYNC, None, Trigger(RESYNC))
    assert queue.timers() == {}


def test_debounce_waits_for_quiet_and_gathers_every_path() -> None:
    time = ManualTime()
    queue = TriggerQueue(time)
    queue.debounce(FILE, Trigger(FILE, "a.py"), delay=0.15, max_delay=2.0)
    time.advance(0.1)
    queue.debounce(FILE, Trigger(FILE, "b.py"), delay=0.15, max_delay=2.0)
    queue.debounce(FILE, Trigger(FILE, "a.py"), delay=0.15, max_delay=2.0)
    assert queue.timers()[FILE] == time.now() + timedelta(seconds=0.15)
    time.advance(0.15)
    assert queue.take() == (Trigger(FILE, "a.py"), Trigger(FILE, "b.py"))


def test_debounce_never_postpones_past_its_maximum() -> None:
    time = ManualTime()
    queue = TriggerQueue(time)
    start = time.now()
    for i in range(30):  # a save every 0.1 s, for 3 s
        queue.debounce(FILE, Trigger(FILE, f"f{i}"), delay=0.15, max_delay=2.0)
        assert queue.timers()[FILE] <= start + timedelta(seconds=2.0)
        time.advance(0.1)
    assert queue.timers()[FILE] == start + timedelta(seconds=2.0)
    assert queue.take() == tuple(Trigger(FILE, f"f{i}") for i in range(30))


def test_close_releases_the_taker_with_an_empty_batch() -> None:
    queue = TriggerQueue(ManualTime())
    thread, batches = taker(queue)
    queue.close()
    thread.join(WAIT)
    assert batches == [()]
    assert queue.take() == ()


def test_describe_groups_details_by_kind() -> None:
    triggers = [Trigger(FILE, f"tasks/{n}.py") for n in "abcd"] + [Trigger(POLL), Trigger(HOOK, "1a2b3c")]
    assert describe(triggers) == "file (tasks/a.py, tasks/b.py, tasks/c.py +1), poll, hook (1a2b3c)"


@pytest.mark.parametrize("failures, delay", [(0, 0.0), (1, 1.0), (2, 2.0), (5, 16.0), (9, 256.0), (10, 300.0),
                                             (10_000, 300.0)])
def test_backoff_doubles_from_one_second_up_to_five_minutes(failures: int, delay: float) -> None:
    assert Backoff().delay(failures) == delay


def test_jitter_stays_within_its_fraction() -> None:
    assert jittered(30.0, 0.1, rand=lambda: 0.0) == pytest.approx(27.0)
    assert jittered(30.0, 0.1, rand=lambda: 0.5) == pytest.approx(30.0)
    assert jittered(30.0, 0.1, rand=lambda: 0.999999) == pytest.approx(33.0, abs=1e-3)
