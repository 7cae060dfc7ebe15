"""The topology widget: the swarm as a graph (Line API), or a heatmap for large swarms.

Graph: mesh and ring on a circle (the ring with arrows showing the direction of flow), star with
its hub(s) in the middle, hierarchical as a layered tree. A node is a glyph for its state
(readable without color) and a label colored by its version; agent-to-agent messages travel along
the edges as dots; partitioned links and links behind an open breaker are drawn broken. Above
``HEATMAP_ABOVE`` agents it becomes a heatmap: one half-cell per agent (two per character),
grouped by role and version, which stays cheap with 10,000 agents.

Every frame is computed once per change (snapshot, size, selection, theme) and kept as strips;
``render_line`` only hands them out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.events import Click, Resize
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from swarm_tui.engine.projection import TopologyView
from swarm_tui.engine.topology import HUB_ROLES

HEATMAP_ABOVE = 150
MESH_ALL_UP_TO = 4  # a mesh this small draws every link; above, the selected agent's and busy ones
MESH_BUSY_UP_TO = 40  # up to this many agents, links that carried a message just now are drawn
LABELS_UP_TO = 40
TRAVEL_S = 0.6  # how long a message dot takes along an edge

STATE_GLYPH = {
    "healthy": "●",
    "starting": "◐",
    "degraded": "▲",
    "draining": "◌",
    "failed": "✖",
    "stopped": "○",
}
STATES = tuple(STATE_GLYPH)
# The worst state wins when several agents share a heatmap cell.
LOUD = ("failed", "degraded")  # states the heatmap draws as glyphs, so one in 10,000 stands out
SEVERITY = {"failed": 5, "degraded": 4, "draining": 3, "starting": 2, "stopped": 1, "healthy": 0}


# Braille dot bits by (column, row) inside a character cell.
BRAILLE_BITS = {
    (0, 0): 0x01,
    (0, 1): 0x02,
    (0, 2): 0x04,
    (1, 0): 0x08,
    (1, 1): 0x10,
    (1, 2): 0x20,
    (0, 3): 0x40,
    (1, 3): 0x80,
}


def _arrow(dx: float, dy: float) -> str:
    angle = math.atan2(dy * 2.0, dx)
    arrows = "→↘↓↙←↖↑↗"
    return arrows[round(angle / (math.pi / 4)) % 8]


def _line(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """Cells of a straight line (Bresenham), both ends included."""
    cells = []
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        cells.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return cells
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


class Canvas:
    """A character grid with a style key per cell, turned into strips."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.chars = [[" "] * width for _ in range(height)]
        self.keys: list[list[str | None]] = [[None] * width for _ in range(height)]

    def put(self, x: int, y: int, char: str, key: str | None) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.chars[y][x] = char
            self.keys[y][x] = key

    def text(self, x: int, y: int, text: str, key: str | None) -> None:
        for i, ch in enumerate(text):
            self.put(x + i, y, ch, key)

    def strips(self, styles: dict[str | None, Style]) -> list[Strip]:
        out = []
        base = styles[None]
        for y in range(self.height):
            segments = []
            chars, keys = self.chars[y], self.keys[y]
            run_key = keys[0] if keys else None
            start = 0
            for x in range(1, self.width + 1):
                if x == self.width or keys[x] != run_key:
                    segments.append(Segment("".join(chars[start:x]), styles.get(run_key, base)))
                    if x < self.width:
                        run_key, start = keys[x], x
            out.append(Strip(segments, self.width))
        return out


LEGEND_STATES = STATES
VERSIONS = ("stable", "blue", "green", "canary")


def legend_lines() -> Text:
    """The legend as text (the help shows it; the topology draws the same on its canvas)."""
    text = Text()
    for state in LEGEND_STATES:
        text.append(f"{STATE_GLYPH[state]} {state}  ")
    text.append("\nversions (label color): " + " ".join(VERSIONS))
    text.append("\nlinks: ⠒⠒ link · bright: carried a message in the last second · ⣿ the selected agent's")
    text.append("\n       ╌×╌ broken (partition, open breaker) · • a message on its way · ring: → direction")
    return text


class TopologyWidget(Widget, can_focus=True):
    """The swarm's topology: graph or heatmap, with a legend (``l`` toggles it)."""

    COMPONENT_CLASSES = {
        *(f"topology--{s}" for s in STATES),
        *(f"topology--{v}" for v in VERSIONS),
        "topology--edge",
        "topology--active",
        "topology--linked",
        "topology--broken",
        "topology--message",
        "topology--selected",
        "topology--title",
        "topology--arrow",
        "topology--legend",
    }
    DEFAULT_CSS = """
    TopologyWidget { height: 1fr; min-height: 8; }
    TopologyWidget > .topology--healthy { color: $state-healthy; }
    TopologyWidget > .topology--starting { color: $state-starting; }
    TopologyWidget > .topology--degraded { color: $state-degraded; text-style: bold; }
    TopologyWidget > .topology--draining { color: $state-draining; }
    TopologyWidget > .topology--failed { color: $state-failed; text-style: bold; }
    TopologyWidget > .topology--stopped { color: $state-stopped; }
    TopologyWidget > .topology--stable { color: $version-stable; }
    TopologyWidget > .topology--blue { color: $version-blue; }
    TopologyWidget > .topology--green { color: $version-green; }
    TopologyWidget > .topology--canary { color: $version-canary; text-style: bold; }
    TopologyWidget > .topology--edge { color: $link; }
    TopologyWidget > .topology--active { color: $link-active; }
    TopologyWidget > .topology--linked { color: $accent; text-style: bold; }
    TopologyWidget > .topology--arrow { color: $link-active; text-style: bold; }
    TopologyWidget > .topology--broken { color: $state-failed; text-style: bold; }
    TopologyWidget > .topology--message { color: $message; text-style: bold; }
    TopologyWidget > .topology--selected { text-style: reverse bold; }
    TopologyWidget > .topology--title { color: $text-muted; }
    TopologyWidget > .topology--legend { color: $text-muted; }
    """

    selected: reactive[str | None] = reactive(None, layout=False)

    class NodeSelected(Message):
        """A node was clicked."""

        def __init__(self, agent_id: str) -> None:
            super().__init__()
            self.agent_id = agent_id

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.view: TopologyView | None = None
        self._strips: list[Strip] = []
        self._dirty = True
        self._positions: dict[str, tuple[int, int]] = {}
        self._cells: dict[tuple[int, int], str] = {}
        self.mode = "graph"
        self.frames = 0
        self.legend = True
        self.edges_drawn: list[tuple[str, str, str]] = []  # (a, b, style): what the last frame drew

    # -- inputs ----------------------------------------------------------------------------------
    def show(self, view: TopologyView | None) -> None:
        if view == self.view:
            return
        self.view = view
        self._dirty = True
        self.refresh()

    def toggle_legend(self) -> bool:
        """Show or hide the legend; returns whether it is shown now."""
        self.legend = not self.legend
        self._dirty = True
        self.refresh()
        return self.legend

    def watch_selected(self, old: str | None, new: str | None) -> None:
        self._dirty = True
        self.refresh()

    def on_resize(self, event: Resize) -> None:
        self._dirty = True

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._dirty = True

    # -- rendering --------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        if self._dirty or len(self._strips) != self.size.height:
            self.render_frame()
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width)

    def _styles(self) -> dict[str | None, Style]:
        styles: dict[str | None, Style] = {None: self.rich_style}
        base = self.rich_style
        for name in self.COMPONENT_CLASSES:
            key = name.split("--", 1)[1]
            styles[key] = base + self.get_component_rich_style(name, partial=True)
        return styles

    def render_frame(self) -> list[Strip]:
        """Compute the whole frame (called once per change, not per line)."""
        width, height = self.size.width, self.size.height
        self._dirty = False
        self.frames += 1
        self._positions, self._cells = {}, {}
        self.edges_drawn = []
        if width <= 0 or height <= 0:
            self._strips = []
            return self._strips
        styles = self._styles()
        view = self.view
        if view is None or not view.nodes:
            canvas = Canvas(width, height)
            canvas.text(1, 0, "no agents yet: pick a scenario (o) and start it (s)", "title")
            self._strips = canvas.strips(styles)
            return self._strips
        if len(view.nodes) > HEATMAP_ABOVE:
            self.mode = "heatmap"
            self._strips = self._heatmap(view, width, height, styles)
        else:
            self.mode = "graph"
            canvas = Canvas(width, height)
            top = self._legend(canvas) if self.legend and height >= 12 else 0
            self._graph(view, canvas, top)
            self._strips = canvas.strips(styles)
        return self._strips

    def _legend(self, canvas: Canvas) -> int:
        """Draw the legend on the top lines; returns how many lines it took."""
        x = 0
        for state in LEGEND_STATES:
            canvas.put(x, 0, STATE_GLYPH[state], state)
            canvas.text(x + 1, 0, f" {state}  ", "legend")
            x += len(state) + 4
        x = 0
        canvas.text(x, 1, "version ", "legend")
        x += 8
        for version in VERSIONS:
            canvas.text(x, 1, version, version)
            x += len(version) + 1
        canvas.text(x, 1, "· ", "legend")
        x += 2
        for sample, style, meaning in (
            ("⠒⠒", "edge", " link "),
            ("⠒⠒", "active", " busy "),
            ("⣿⣿", "linked", " selected's "),
            ("╌×", "broken", " broken "),
            ("•", "message", " message"),
        ):
            canvas.text(x, 1, sample, style)
            canvas.text(x + len(sample), 1, meaning, "legend")
            x += len(sample) + len(meaning)
        canvas.text(max(0, canvas.width - 9), 0, " l hides", "legend")
        return 2

    # -- graph -----------------------------------------------------------------------------------------
    def _layout(self, view: TopologyView, width: int, height: int) -> dict[str, tuple[int, int]]:
        nodes, roles = view.nodes, view.roles
        n = len(nodes)
        label = 0 if n > LABELS_UP_TO else min(16, max(len(x) for x in nodes) + 2)
        cx, cy = (width - label) / 2.0, (height - 1) / 2.0 + 0.5
        rx, ry = max(1.0, cx - 2), max(1.0, cy - 1.5)
        pos: dict[str, tuple[int, int]] = {}

        def circle(items: list[str], phase: float = -math.pi / 2) -> None:
            for i, node in enumerate(items):
                angle = phase + 2 * math.pi * i / max(1, len(items))
                pos[node] = (round(cx + rx * math.cos(angle)), round(cy + ry * math.sin(angle)))

        hubs = [x for x, r in zip(nodes, roles, strict=True) if r in HUB_ROLES]
        others = [x for x in nodes if x not in hubs]
        if view.kind in ("mesh", "ring") or not hubs:
            circle(list(nodes))
        elif view.kind == "star":
            for i, hub in enumerate(hubs):
                offset = (i - (len(hubs) - 1) / 2) * max(6, label)
                pos[hub] = (round(cx + offset), round(cy))
            circle(others)
        else:  # hierarchical: coordinators on top, workers in rows below
            top = 1
            for i, hub in enumerate(hubs):
                pos[hub] = (round((i + 1) * width / (len(hubs) + 1)) - label // 2, top)
            per_row = max(1, (width - 2) // max(4, label + 2))
            rows = math.ceil(len(others) / per_row) if others else 0
            span = max(1, height - 3)
            for i, node in enumerate(others):
                row, col = divmod(i, per_row)
                in_row = min(per_row, len(others) - row * per_row)
                x = round((col + 0.5) * (width - label) / in_row)
                y = top + 3 + round(row * (span - 3) / max(1, rows)) if rows > 1 else height - 2
                pos[node] = (max(0, x), min(height - 1, y))
        return pos

    def _edges(self, view: TopologyView, busy: set[frozenset[str]]) -> Iterable[tuple[str, str]]:
        """The links to draw. A mesh of more than MESH_ALL_UP_TO agents draws only the selected
        agent's links and those that carried a message just now: every link would be a hairball."""
        nodes = view.nodes
        n = len(nodes)
        if view.kind == "mesh":
            if n <= MESH_ALL_UP_TO:
                yield from ((a, b) for i, a in enumerate(nodes) for b in nodes[i + 1 :])
                return
            drawn: set[frozenset[str]] = set()
            if self.selected in nodes:
                for b in nodes:
                    if b != self.selected:
                        drawn.add(frozenset((self.selected, b)))
                        yield self.selected, b
            if n <= MESH_BUSY_UP_TO:
                for pair in busy:
                    if pair not in drawn and len(pair) == 2:
                        a, b = sorted(pair)
                        yield a, b
            for a, b in view.broken:
                if frozenset((a, b)) not in drawn and a in nodes and b in nodes:
                    yield a, b
        elif view.kind == "ring":
            if n == 2:
                yield nodes[0], nodes[1]
            elif n > 2:
                yield from ((nodes[i], nodes[(i + 1) % n]) for i in range(n))
        else:
            hubs = [x for x, r in zip(nodes, view.roles, strict=True) if r in HUB_ROLES]
            for i, h in enumerate(hubs):
                yield from ((h, x) for x in nodes if x not in hubs)
                yield from ((h, g) for g in hubs[i + 1 :])

    def _broken(self, view: TopologyView, a: str, b: str) -> bool:
        if (a, b) in view.broken or (b, a) in view.broken:
            return True
        if view.groups:
            ga = next((i for i, g in enumerate(view.groups) if a in g), None)
            gb = next((i for i, g in enumerate(view.groups) if b in g), None)
            return ga is not None and gb is not None and ga != gb
        return False

    def _graph(self, view: TopologyView, canvas: Canvas, top: int = 0) -> None:
        width, height = canvas.width, canvas.height
        pos = {k: (x, y + top) for k, (x, y) in self._layout(view, width, height - 1 - top).items()}
        self._positions = pos
        show_labels = len(view.nodes) <= LABELS_UP_TO
        # Cells that links keep clear of: every node, its label and a cell either side, so no
        # link pokes through a label or trails past a node.
        labels: dict[str, tuple[int, str]] = {}
        reserved: set[tuple[int, int]] = set()
        for node in view.nodes:
            x, y = pos[node]
            reserved.add((x, y))
            if show_labels or node == self.selected:
                text = f" {node}"
                lx = x + 1 if x + 1 + len(text) <= width else max(0, x - len(text))
                labels[node] = (lx, text)
                reserved.update((cx, y) for cx in range(lx - 1, lx + len(text) + 1))
        busy = {frozenset((src, dst)) for src, dst, _age in view.messages if src in pos and dst in pos}
        # Links on a braille canvas: 2x4 dots per cell, so lines look straight at any angle.
        rank = {"edge": 0, "active": 1, "linked": 2, "broken": 3}
        dots: dict[tuple[int, int], int] = {}
        dot_keys: dict[tuple[int, int], str] = {}
        arrows: list[tuple[int, int, str, str]] = []
        for a, b in self._edges(view, busy):
            (x0, y0), (x1, y1) = pos[a], pos[b]
            broken = self._broken(view, a, b)
            if broken:
                style = "broken"
            elif self.selected in (a, b):
                style = "linked"
            elif frozenset((a, b)) in busy:
                style = "active"
            else:
                style = "edge"
            self.edges_drawn.append((a, b, style))
            sub = _line(2 * x0 + 1, 4 * y0 + 2, 2 * x1 + 1, 4 * y1 + 2)
            for i, (sx, sy) in enumerate(sub):
                if broken and (i // 3) % 2:
                    continue  # a dashed line for a broken link
                cell = (sx // 2, sy // 4)
                if cell in reserved:
                    continue
                dots[cell] = dots.get(cell, 0) | BRAILLE_BITS[(sx % 2, sy % 4)]
                if rank[style] >= rank.get(dot_keys.get(cell, "edge"), 0):
                    dot_keys[cell] = style
            mx, my = (x0 + x1) // 2, (y0 + y1) // 2
            if broken:
                arrows.append((mx, my, "×", "broken"))
            elif view.kind == "ring":
                arrows.append((mx, my, _arrow(x1 - x0, y1 - y0), "linked" if style == "linked" else "arrow"))
        for (cx, cy), bits in dots.items():
            canvas.put(cx, cy, chr(0x2800 + bits), dot_keys[(cx, cy)])
        for x, y, char, style in arrows:
            if (x, y) not in reserved:
                canvas.put(x, y, char, style)
        for src, dst, age in view.messages:
            if src not in pos or dst not in pos or age > TRAVEL_S:
                continue
            (x0, y0), (x1, y1) = pos[src], pos[dst]
            cells = _line(x0, y0, x1, y1)
            x, y = cells[min(len(cells) - 1, max(0, round(age / TRAVEL_S * (len(cells) - 1))))]
            if (x, y) not in reserved:
                canvas.put(x, y, "•", "message")
        for node, state, pool in zip(view.nodes, view.states, view.pools, strict=True):
            x, y = pos[node]
            selected = node == self.selected
            canvas.put(x, y, STATE_GLYPH.get(state, "?"), "selected" if selected else state)
            self._cells[(x, y)] = node
            if node in labels:
                lx, text = labels[node]
                canvas.text(lx, y, text, "selected" if selected else (pool if pool in VERSIONS else "stable"))
                for i in range(len(text)):
                    self._cells[(lx + i, y)] = node
        title = f" {view.kind} · {len(view.nodes)} agents"
        if view.kind == "mesh" and len(view.nodes) > MESH_ALL_UP_TO:
            title += " · every agent linked to every other: drawn are the selected agent's links and the busy ones"
        if view.groups:
            title += " · PARTITIONED " + " | ".join(str(len(g)) for g in view.groups)
        canvas.text(0, height - 1, title[:width], "title")

    # -- heatmap ---------------------------------------------------------------------------------------
    def _heatmap(self, view: TopologyView, width: int, height: int, styles: dict[str | None, Style]) -> list[Strip]:
        groups: dict[tuple[str, str], list[int]] = {}
        for i, (role, pool) in enumerate(zip(view.roles, view.pools, strict=True)):
            groups.setdefault((role, pool), []).append(i)
        n = len(view.nodes)
        legend = 1 if self.legend and height >= 12 else 0
        lines_for_cells = max(1, height - 1 - legend - len(groups))
        capacity = lines_for_cells * width * 2
        per_cell = max(1, math.ceil(n / capacity))
        while (
            per_cell > 1
            and sum(math.ceil(math.ceil(len(v) / per_cell) / (2 * width)) for v in groups.values()) > lines_for_cells
        ):
            per_cell += 1
        colors = {s: styles.get(s, styles[None]).color for s in STATES}
        base = styles[None]
        pair_styles: dict[tuple[str | None, str | None], Style] = {}

        def pair(top: str | None, bottom: str | None) -> Style:
            key = (top, bottom)
            style = pair_styles.get(key)
            if style is None:
                style = base + Style(
                    color=colors.get(top) if top else None, bgcolor=colors.get(bottom) if bottom else None
                )
                pair_styles[key] = style
            return style

        states = view.states
        selected_index = view.nodes.index(self.selected) if self.selected in view.nodes else -1
        strips: list[Strip] = []
        title = f" heatmap · {n} agents" + (f" · 1 cell = {per_cell} agents" if per_cell > 1 else "")
        counts: dict[str, int] = {}
        for s in states:
            counts[s] = counts.get(s, 0) + 1
        title += " · " + " ".join(f"{STATE_GLYPH[s]} {counts[s]:,} {s}" for s in STATES if counts.get(s))
        y = 0
        if legend:
            line = Text(" ▀ = 2 agents, top and bottom, colored by state · ", style=styles.get("legend", base))
            for state in STATES:
                line.append(STATE_GLYPH[state], style=styles.get(state, base))
                line.append(f" {state} ", style=styles.get("legend", base))
            line.append(
                "· failed and degraded agents are drawn as their glyph · l hides", style=styles.get("legend", base)
            )
            line.truncate(width, pad=True)
            strips.append(Strip(list(line.render(self.app.console)), width))
            y += 1
        for (role, pool), members in groups.items():
            if y >= height - 1:
                break
            unwell = [i for i in members if states[i] in LOUD]
            label = f" {role} · {pool} · {len(members):,} agents"
            if unwell:
                names = ", ".join(f"{view.nodes[i]} {states[i]}" for i in unwell[:3])
                label += f" · {len(unwell)} unwell: {names}{' …' if len(unwell) > 3 else ''}"
            label_style = styles.get("failed" if unwell else "title", base)
            strips.append(Strip([Segment(label[:width].ljust(width), label_style)], width))
            y += 1
            cells = [members[i : i + per_cell] for i in range(0, len(members), per_cell)]
            for row_start in range(0, len(cells), 2 * width):
                if y >= height - 1:
                    break
                chunk = cells[row_start : row_start + 2 * width]
                segments: list[Segment] = []
                run_style: Style | None = None
                run: list[str] = []
                for col in range(width):
                    top = chunk[col] if col < len(chunk) else None
                    bottom = chunk[col + width] if col + width < len(chunk) else None
                    top_state = max((states[i] for i in top), key=SEVERITY.__getitem__) if top else None
                    bottom_state = max((states[i] for i in bottom), key=SEVERITY.__getitem__) if bottom else None
                    if top:
                        self._cells[(col, y)] = view.nodes[top[0]]
                    holds_selected = selected_index >= 0 and (
                        (top is not None and selected_index in top) or (bottom is not None and selected_index in bottom)
                    )
                    loud = top_state if top_state in LOUD else (bottom_state if bottom_state in LOUD else None)
                    if holds_selected:
                        char, style = "◆", styles.get("selected", base)
                    elif loud is not None:
                        # One unwell agent among thousands must be found: its glyph, bold, not a
                        # half cell of color.
                        char, style = STATE_GLYPH[loud], styles.get(loud, base)
                    elif top is None:
                        char, style = " ", base
                    else:
                        char, style = "▀", pair(top_state, bottom_state)
                    if style is not run_style and run:
                        segments.append(Segment("".join(run), run_style))
                        run = []
                    run_style = style
                    run.append(char)
                if run:
                    segments.append(Segment("".join(run), run_style))
                strips.append(Strip(segments, width))
                y += 1
        while len(strips) < height - 1:
            strips.append(Strip.blank(width, base))
        strips.append(Strip([Segment(title[:width].ljust(width), styles.get("title", base))], width))
        return strips[:height]

    # -- mouse --------------------------------------------------------------------------------------
    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return  # the border
        x, y = offset.x, offset.y
        node = self._cells.get((x, y))
        if node is None and self._positions:
            best = min(self._positions.items(), key=lambda kv: (kv[1][0] - x) ** 2 + (2 * (kv[1][1] - y)) ** 2)
            (bx, by) = best[1]
            if (bx - x) ** 2 + (2 * (by - y)) ** 2 <= 9:
                node = best[0]
        if node is not None:
            self.post_message(self.NodeSelected(node))
