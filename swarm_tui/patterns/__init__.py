"""The scenario catalogue: one module per deployment pattern, each listing its scenarios.

Nothing registers itself on import: :func:`swarm_tui.patterns.catalogue.load_catalogue` reads each
pattern module's ``SCENARIOS`` when asked.
"""
