"""``python -m fusionizer`` runs the CLI."""

from fusionizer.cli import main

raise SystemExit(main())
