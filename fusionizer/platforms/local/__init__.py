"""The embedded local platform: each function a process running the local processor on
127.0.0.1 (``platform``, ``processes``), a store per namespace (``store``) and a gateway that
routes calls between functions (``gateway``, ``gateway_control``)."""
