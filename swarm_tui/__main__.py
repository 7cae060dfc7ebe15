"""``python -m swarm_tui`` runs the command line."""

import sys

from swarm_tui.cli import main

sys.exit(main())
