"""``fusionizer serve``: the original Fusionizer HTTP API, operations and the gateway, in one
process with the reconcile loop (``main`` assembles it; ``app`` is the HTTP side, ``control``
the loop's side, ``uploads`` task zips, ``webhooks`` and ``metrics`` operations)."""
