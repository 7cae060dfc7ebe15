"""The run session: what the command line and the dashboard share around the engine.

Run id, backend creation and teardown, journals, exports, exit codes and signals
(:mod:`~swarm_tui.session.run`, :mod:`~swarm_tui.session.shutdown`); a scenario running live for
the dashboard (:mod:`~swarm_tui.session.live`) or played back from its journal
(:mod:`~swarm_tui.session.replay`); what killed runs left behind (:mod:`~swarm_tui.session.cleanup`).
"""
