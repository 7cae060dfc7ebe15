"""The replaced system's hand-written table and recommendations, kept as data to measure against.

None of these numbers is used to compute anything: they are what was *claimed*, printed beside
what ``swarm-tui compare`` measured. Each row says which measured figure stands beside it, or
that there is no like-for-like measurement.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClaimedRow:
    """One row of the old table: the pattern, its claimed latency and reliability, and which
    measurement of the comparison stands beside it (``family`` topology/rollout, or none)."""

    pattern: str
    latency: str
    reliability: str
    family: str | None
    arm: str | None
    no_match: str = ""


CLAIMED_TABLE: tuple[ClaimedRow, ...] = (
    ClaimedRow("Ring", "680 ms", "85 %", "topology", "ring"),
    ClaimedRow("Hierarchical", "720 ms", "90 %", "topology", "hierarchical"),
    ClaimedRow("Star", "750 ms", "75 %", "topology", "star"),
    ClaimedRow(
        "Multi-strategy",
        "800 ms",
        "95 %",
        None,
        None,
        "no like-for-like: multi-strategy allocates capital between strategies, it is neither a topology nor "
        "a rollout (its own scenarios: swarm-tui run --pattern multi-strategy)",
    ),
    ClaimedRow("Mesh", "850 ms", "98 %", "topology", "mesh"),
    ClaimedRow("Canary", "850 ms", "85 %", "rollout", "canary"),
    ClaimedRow("Blue-green", "900 ms", "88 %", "rollout", "blue-green"),
    ClaimedRow(
        "Auto-scaling",
        '"variable"',
        "94 %",
        None,
        None,
        "no like-for-like: auto-scaling changes the swarm's size, not its wiring (its own scenarios: "
        "swarm-tui run --pattern autoscaling)",
    ),
)


@dataclass(frozen=True)
class Criterion:
    """A measured figure that decides a recommendation: a metric of a family, and which way is better."""

    family: str  # topology | rollout
    metric: str
    label: str


@dataclass(frozen=True)
class UseCase:
    """A claimed recommendation, and the measured figures that can confirm or contradict it."""

    name: str
    claim: str
    claimed: dict[str, tuple[str, ...]]  # family -> the arms the claim names
    criteria: tuple[Criterion, ...]
    unmeasured: str = ""


P95 = Criterion("topology", "latency_p95_ms", "p95 decision latency")
SATURATION = Criterion("topology", "saturation_per_s", "saturation point")
AVAILABILITY = Criterion("topology", "availability", "availability during the fault")
RECOVERY = Criterion("topology", "recovery_s", "recovery time")
BAD_ERRORS = Criterion("rollout", "defective.errors", "errors spent on a defective version")
BAD_DETECT = Criterion("rollout", "defective.detect_s", "time to detect a defective version")
GOOD_ROLLOUT = Criterion("rollout", "sound.full_rollout_s", "time to a full rollout of a sound version")

USE_CASES: tuple[UseCase, ...] = (
    UseCase(
        "high-frequency trading", "ring or hierarchical", {"topology": ("ring", "hierarchical")}, (P95, SATURATION)
    ),
    UseCase(
        "algorithmic trading",
        "hierarchical + auto-scaling",
        {"topology": ("hierarchical",)},
        (SATURATION, P95),
        unmeasured="auto-scaling (not a topology: see the autoscaling scenarios)",
    ),
    UseCase(
        "portfolio management",
        "multi-strategy + blue-green",
        {"rollout": ("blue-green",)},
        (BAD_ERRORS, GOOD_ROLLOUT),
        unmeasured="multi-strategy (capital allocation, not a topology or a rollout)",
    ),
    UseCase(
        "risk-averse",
        "mesh + canary",
        {"topology": ("mesh",), "rollout": ("canary",)},
        (AVAILABILITY, RECOVERY, BAD_ERRORS, BAD_DETECT),
    ),
)
