"""nuclio-fusionizer: a declarative GitOps reconciler for task fusion on Nuclio.

Layers, top to bottom (a layer imports only layers below it): ``cli``/``server`` ->
``loop`` -> ``reconciler`` -> ``plan``, ``build``, ``sources`` -> ``platforms``.
``runtime`` runs inside deployed functions and imports nothing from the layers above.
"""

__version__ = "0.1.0"
