"""Code that runs INSIDE a deployed function: the dispatcher, call interception, the
keep-alive connection pool, the Nuclio-style output conversion and the local processor.
Depends only on the standard library and ``nuclio-sdk`` (what Nuclio's Python image holds);
``session`` alone needs ``requests`` and is imported only for tasks that take a
``requests_session``. Uses relative imports only, because the builder copies this package
into every fused function as ``_fusionizer_runtime``.
"""
