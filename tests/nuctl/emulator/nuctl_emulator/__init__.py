"""An emulator of the ``nuctl`` 1.14.1 CLI for tests (facts: /work/shared/reference/nuclio.md).

It accepts the real flags and prints the real output shapes, and it really runs functions
the way Nuclio 1.14.1's Python image does (``image``, ``wrapper``): a deploy builds the
image as a virtualenv holding only msgpack 1.0.8 and nuclio-sdk 0.5.13 (cached), runs the
function's ``build.commands`` in a copy of it (offline, from a cached wheelhouse), copies the
``--path`` dir into its store with the emulated wrapper beside it, and starts that wrapper with
the image's interpreter, ``PYTHONPATH`` the code and another working directory, in place of
a container. Nothing of the test environment's packages or variables reaches the function.

What it reproduces:
- global flags ``--platform`` (auto|local|kube), ``-n/--namespace``, ``-k/--kubeconfig``,
  ``-v/--verbose``, ``--concurrency``, ``--mask-sensitive-fields``; ``auto`` picks kube when
  a kubeconfig resolves (flag, ``$KUBECONFIG``, ``~/.kube/config``), like nuctl;
- commands ``version``, ``deploy``, ``get function(s)|fn|fu``, ``get project(s)``,
  ``delete function(s)|fn|fu`` (alias ``del``), ``invoke``, ``create project``;
- exit codes 0/1; log lines on stdout (``YY.MM.DD HH:MM:SS.mmm nuctl (I) msg {...}``, the
  level tag ANSI-coloured even off a TTY); errors on stderr in nuclio/errors'
  ``PrintErrorStack`` format; a bare not-found error on stdout without a newline;
- ``get -o json``: tab-indented, one object for one function, an array for several,
  ``No functions found`` otherwise; yaml (sorted keys), text and wide tables;
- deploy rules: the project must exist (``default`` is created on every command), the
  runtime must be given and be python 3.9/3.10/3.11 (``python`` = ``python:3.9``), the
  namespace always comes from nuctl, flags override the file, ``-e`` appends to
  ``spec.env``, one replica bound sets the other, ``skip-build``/``skip-deploy``
  annotations are dropped; a local redeploy removes the old "container" before starting
  the new one (kube rolls); a failed deploy leaves ``status.state: error`` with local's or
  kube's readiness message.

Deviations (a process is not a container): functions listen on 127.0.0.1 and report
``internalInvocationUrls: ["127.0.0.1:PORT"]`` (kube: the cluster DNS name) and
``externalInvocationUrls: ["0.0.0.0:PORT"]`` (kube NodePort: ``127.0.0.1:PORT``);
a function that fails readiness is stopped; the Python of a ``python:3.X`` runtime is this
machine's ``python3.X`` when there is one, else the emulator's own (a warning says so).

Environment: ``NUCTL_EMULATOR_HOME`` (required: the store), ``NUCTL_EMULATOR_PYTHON``
(interpreter the images are made from when the runtime's own is missing, default this one),
``NUCTL_EMULATOR_IMAGE_CACHE`` (image virtualenvs, wheelhouse, build layers; default
``~/.cache/nuclio-fusionizer/nuctl-emulator``), plus nuctl's own ``NUCTL_PLATFORM``,
``NUCTL_NAMESPACE``, ``NUCTL_REGISTRY``, ``NUCTL_RUN_REGISTRY``,
``NUCTL_DEFAULT_SERVICE_TYPE``, ``NUCTL_EXTERNAL_IP_ADDRESSES``, ``KUBECONFIG``.

Store (``$NUCTL_EMULATOR_HOME``)::

    calls.jsonl                 one "start" and one "end" line per call (argv, exit, times)
    processes.jsonl             every function process ever started (pid, start time)
    <platform>/<namespace>/projects/<name>.json
    <platform>/<namespace>/functions/<name>.json    the record ``get`` prints
    <platform>/<namespace>/processes/<name>.json    the running process of a function
    <platform>/<namespace>/code/<name>/             the deployed copy of --path (+ _nuclio_wrapper.py)
    <platform>/<namespace>/work/<name>/             the function process's working directory
    <platform>/<namespace>/logs/<name>.log          the function's stdout+stderr

Run it as ``tests/nuctl/emulator/nuctl ARGS...`` (the executable next to this package); the
tests' ``nuctl_emulator`` fixture (tests/nuctl/conftest.py) puts it on PATH.
"""

VERSION = "1.14.1"
