"""The build layer: the fuser turns one fusion group into one deployable Nuclio function
directory (``fuser``), with a stable name (``naming``), a merged config (``merging``) and a
content hash that changes exactly when behaviour can (``hashing``)."""
