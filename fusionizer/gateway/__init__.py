"""The one HTTP gateway: routes ``/{task}`` to the function serving it (the layer below platforms).

``routes`` (the table), ``upstream`` (pooled keep-alive connections to functions), ``app``
(the ASGI app: hop limit, header trust, caps, forwarding) and ``serving`` (uvicorn,
hardened). The local platform runs it as a process per namespace; ``serve`` mounts it.
"""
