"""Topologies wire agents by their rule; the router enforces links and applies network faults."""

from __future__ import annotations

import pytest

from swarm_tui.engine.clock import Clock, VirtualTimeLoop
from swarm_tui.engine.router import CTL, MessageRouter
from swarm_tui.engine.topology import Topology


def build(kind: str, n: int, hubs: int = 0) -> Topology:
    t = Topology(kind)
    for i in range(hubs):
        t.add(f"h{i}", "hub")
    for i in range(n):
        t.add(f"a{i}", "worker")
    return t


def test_mesh_links_everyone() -> None:
    t = build("mesh", 5)
    assert all(t.degree(n) == 4 for n in t.nodes)
    assert len(t.edges()) == 10
    assert t.linked("a0", "a4") and not t.linked("a0", "a0")


def test_ring_links_neighbours_and_knows_direction() -> None:
    t = build("ring", 4)
    assert all(t.degree(n) == 2 for n in t.nodes)
    assert t.links("a0") == ["a3", "a1"]
    assert t.successor("a3") == "a0"
    assert not t.linked("a0", "a2")
    assert len(t.edges()) == 4


def test_star_and_hierarchy_link_spokes_only_to_hubs() -> None:
    for kind in ("star", "hierarchical"):
        t = build(kind, 6, hubs=1)
        assert t.degree("h0") == 6
        assert all(t.degree(f"a{i}") == 1 for i in range(6))
        assert not t.linked("a0", "a1")


def test_replace_keeps_place_and_links_remove_rewires() -> None:
    t = build("ring", 4)
    t.replace("a1", "b1")
    assert t.nodes == ["a0", "b1", "a2", "a3"]
    assert t.linked("a0", "b1") and t.linked("b1", "a2")
    t.remove("a2")
    assert t.linked("b1", "a3")
    with pytest.raises(ValueError):
        Topology("blob")


def test_a_large_mesh_costs_no_memory_per_link() -> None:
    t = build("mesh", 10_000)
    assert t.degree("a9999") == 9_999
    assert t.linked("a1", "a9000")


def _router(kind: str = "mesh", n: int = 4):
    loop = VirtualTimeLoop()
    clock = Clock(loop)
    router = MessageRouter(build(kind, n), clock, seed=1)
    delivered: list[tuple[float, str, str]] = []
    router.connect(
        lambda s, d, m: delivered.append((clock.now(), s, d)), lambda s, d, m: delivered.append((clock.now(), s, d))
    )
    return loop, clock, router, delivered


def test_router_enforces_links_and_counts_edges() -> None:
    loop, _clock, router, _delivered = _router("ring", 4)
    assert router.send("a0", "a1", {"type": "tick"})
    assert not router.send("a0", "a2", {"type": "tick"})  # not linked in a ring
    assert router.send(CTL, "a2", {"type": "task"})  # the control plane reaches everyone
    assert router.counts[("a0", "a1")] == 1
    assert router.dropped["no-link"] == 1
    assert router.between({"a0", "a1", "a2", "a3"}) == 1
    loop.close()


def test_partition_splits_agents_but_not_the_control_plane() -> None:
    loop, _clock, router, _delivered = _router()
    router.set_partition([["a0", "a1"], ["a2", "a3"]])
    assert not router.send("a0", "a2", {"type": "ping"})
    assert router.send("a0", "a1", {"type": "ping"})
    assert router.send(CTL, "a3", {"type": "task"})
    router.set_partition(None)
    assert router.send("a0", "a2", {"type": "ping"})
    loop.close()


def test_loss_and_delay_act_on_the_faulty_agent() -> None:
    loop, clock, router, delivered = _router()
    router.set_loss("a1", 1.0)
    assert not router.send(CTL, "a1", {"type": "task"})
    router.set_loss("a1", None)
    router.set_delay("a2", 0.25)

    async def main():
        router.send(CTL, "a2", {"type": "task"})
        router.send(CTL, "a3", {"type": "task"})
        await clock.sleep(1.0)

    loop.run_until_complete(main())
    loop.close()
    times = {d: t for t, s, d in delivered}
    assert times["a3"] == 0.0 and times["a2"] == pytest.approx(0.25)
