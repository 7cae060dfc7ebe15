"""swarm-tui: watch, test and break swarms of trading agents in sandboxes."""

__version__ = "0.1.0"
