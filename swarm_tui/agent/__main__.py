"""``python -m swarm_tui.agent --config '<json>'`` (or the uploaded copy: ``python3 -m <folder>``)."""

import sys

from .program import main

sys.exit(main())
