"""The platform layer: the ``Platform`` protocol (``base``), its implementations ``local``
(embedded, processes on 127.0.0.1) and ``nuctl`` (real Nuclio), and the ``factory`` that picks one."""
