"""The GitOps loop: reconcile continuously on file saves, git pushes, schedule boundaries
and drift (``fusionizer watch``), and the post-receive hook (``fusionizer hook install``).

- :mod:`~fusionizer.loop.triggers`: why a run happens; the one thread-safe, coalescing queue
  with named timers that every trigger goes through (``Loop.trigger`` for webhooks).
- :mod:`~fusionizer.loop.reconciling`: one run and the failure rules (refuse an invalid
  revision, keep the last good state serving, record it, back off).
- :mod:`~fusionizer.loop.looping`: the loop thread: take, run, log one line, re-arm timers.
- :mod:`~fusionizer.loop.watching` / :mod:`~fusionizer.loop.running`: watchdog and the
  process around the loop (signals, clean stop).
- :mod:`~fusionizer.loop.notifications` / :mod:`~fusionizer.loop.posthook`: hook -> watch.
- :mod:`~fusionizer.loop.timebase` / :mod:`~fusionizer.loop.backoff`: injectable time, retry delays.

Nothing is imported here: the post-receive hook imports :mod:`~fusionizer.loop.posthook`
on every push and should not pay for watchdog or the reconciler.
"""
