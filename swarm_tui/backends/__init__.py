"""Sandbox backends: mock (in-process), local (processes), e2b (cloud).

Each implements the engine's sandbox interface (:class:`swarm_tui.engine.sandbox.Backend`) and is
registered by name as an entry point of the group ``swarm_tui.backends`` in pyproject.toml;
:func:`swarm_tui.engine.sandbox.create_backend` finds it there. A plug-in backend registers the
same way from its own package.
"""
