"""The reconciler: ``revision`` loads a source's revision (the one way every command and the
watch loop read a plan), ``reconcile`` resolves the desired functions and lists the platform
once, ``diff`` compares them (pure), ``execute`` applies the changes (parallel deploys, then
deletes), ``lock`` and ``state`` keep one apply per plan and its history.

Two things every layer passes along are each decided in one place:

* **The plan's namespace** is decided by :class:`~fusionizer.reconciler.revision.Platforms`
  when :func:`~fusionizer.reconciler.revision.load_revision` makes the platform: the plan's
  ``spec.platform.namespace`` (the file's claim, read leniently, for a refused revision),
  on ``--platform`` / ``$FUSIONIZER_PLATFORM`` / ``spec.platform.kind``. From then on it is
  ``platform.namespace`` and nothing else: the plan's state dir (lock, history, schedule
  anchor), the local platform's store, nuctl's ``-n``.
* **A task's path**: the CLI's ``-f PLAN`` or ``--git URL --plan-path P`` names the source;
  a snapshot fixes the tree (a git checkout of one commit, or the directory);
  :mod:`fusionizer.plan.tasks` resolves each task's directory relative to the plan file
  (``Task.path``), and that is the only place it is decided. The fuser copies those files
  to ``tasks/<task>/`` of the build directory (``runtime.layout.TASKS_DIR``, named in the
  manifest the function reads), and the platform deploys the build directory as a whole.
"""
