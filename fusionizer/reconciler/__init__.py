"""The reconciler: ``reconcile`` resolves the desired functions and lists the platform once,
``diff`` compares them (pure), ``execute`` applies the changes (parallel deploys, then
deletes), ``lock`` and ``state`` keep one apply per plan and its history."""
