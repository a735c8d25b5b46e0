"""Code that runs INSIDE a deployed function: the dispatcher, call interception, the
Nuclio-style output conversion and the local processor. Depends only on the standard
library, ``requests`` and ``nuclio-sdk``; uses relative imports only, because the builder
copies this package into every fused function as ``_fusionizer_runtime``.
"""
