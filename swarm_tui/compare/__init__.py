"""``swarm-tui compare``: one workload through every topology and every rollout strategy, over
seeds, with intervals and the significance of each difference.

* :mod:`.experiment`: the units of a comparison (topology x seed, rollout x version x seed) and
  one unit run in isolation;
* :mod:`.recorder`: a run's figures, computed from its event stream;
* :mod:`.runner`: the units in parallel worker processes, interruptible;
* :mod:`.stats`: medians with bootstrap intervals, Mann-Whitney U, Holm, Cliff's delta;
* :mod:`.claims`: the replaced system's hand-written table and recommendations, as data;
* :mod:`.report`: the report (pure data); :mod:`.writers` and :mod:`.html`: its formats;
* :mod:`.workload_file`: a workload by name or from a TOML file.

Nothing is imported here: worker processes import :mod:`.experiment` alone, without the
statistics and plotting libraries.
"""
