"""Market data: a seeded simulator with regimes and a volatility index, or a user's CSV replayed.

The simulator draws correlated returns for SPY, QQQ, AAPL and TSLA from one market factor, in
regimes (calm, normal, volatile) that switch by a Markov chain. The VIX follows the regime with
mean reversion, or a scripted path (keyframes) when a scenario needs a spike. A second venue
quotes each symbol with small noise and rare dislocations, for arbitrage.

CSV format (replay): a header row, then one row per symbol and time:

    time,symbol,price[,venue_b][,vix]

``time`` is a number (seconds or any increasing index); rows with the same time form one tick;
symbols missing from a tick keep their last price. ``venue_b`` defaults to ``price``; ``vix``,
when present on any row of a tick, sets that tick's VIX.
"""

from __future__ import annotations

import csv
import itertools
import math
import random
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SYMBOLS: tuple[str, ...] = ("SPY", "QQQ", "AAPL", "TSLA")
BASE_PRICES = {"SPY": 450.0, "QQQ": 380.0, "AAPL": 190.0, "TSLA": 250.0}
# Per-tick volatility in the "normal" regime, and loading on the market factor.
VOL = {"SPY": 0.004, "QQQ": 0.005, "AAPL": 0.007, "TSLA": 0.012}
BETA = {"SPY": 1.0, "QQQ": 0.95, "AAPL": 0.7, "TSLA": 0.5}

REGIMES = ("calm", "normal", "volatile")
REGIME_VOL = {"calm": 0.6, "normal": 1.0, "volatile": 2.0}
REGIME_VIX = {"calm": 13.0, "normal": 18.0, "volatile": 34.0}
REGIME_STAY = 0.97  # chance to stay in the regime each tick


class MarketDataError(ValueError):
    """Bad market input (a CSV file): the message names the file and the line."""


def _brief(text: str, limit: int = 60) -> str:
    """A cell for a one-line message: quoted, and cut short when it is long."""
    text = repr(text)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


@dataclass(slots=True)
class Tick:
    """One moment of the market."""

    index: int
    prices: dict[str, float]
    venue_b: dict[str, float]
    vix: float
    regime: str = "normal"


@dataclass
class VixPath:
    """A scripted VIX: piecewise-linear keyframes (time, level) plus a little seeded noise."""

    keyframes: list[tuple[float, float]]
    noise: float = 0.4

    def level(self, t: float) -> float:
        frames = self.keyframes
        if t <= frames[0][0]:
            return frames[0][1]
        for (t0, v0), (t1, v1) in itertools.pairwise(frames):
            if t <= t1:
                if t1 == t0:
                    return v1
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        return frames[-1][1]

    def crossing(self, threshold: float) -> float | None:
        """The first time the noiseless path rises through ``threshold``."""
        for (t0, v0), (t1, v1) in zip(self.keyframes, self.keyframes[1:], strict=False):
            if v0 < threshold <= v1:
                return t0 + (threshold - v0) * (t1 - t0) / (v1 - v0)
        return None


HISTORY_KEEP = 2048  # ticks a market keeps (strategies look at far fewer)


def _latest(history: deque[Tick], n: int) -> list[Tick]:
    """The last ``n`` ticks, oldest first."""
    if n <= 0:
        return []
    return list(itertools.islice(history, max(0, len(history) - n), None))


@dataclass
class MarketSimulator:
    """A seeded market: ``next_tick()`` gives the next moment; ``history`` keeps the last
    ``HISTORY_KEEP`` of them (a long run must not grow without bound), ``count`` how many there were."""

    seed: int = 0
    symbols: Sequence[str] = SYMBOLS
    regime: str = "normal"
    vix_path: VixPath | None = None
    tick_seconds: float = 1.0
    dislocation_rate: float = 0.06
    vix_origin: int = 0  # the tick at which a scripted VIX path starts
    history: deque[Tick] = field(default_factory=lambda: deque(maxlen=HISTORY_KEEP))

    def __post_init__(self) -> None:
        self._rng = random.Random(f"market:{self.seed}")
        self._prices = {s: BASE_PRICES.get(s, 100.0) for s in self.symbols}
        self._vix = REGIME_VIX[self.regime]
        self._index = 0

    def next_tick(self) -> Tick:
        rng = self._rng
        if rng.random() > REGIME_STAY:
            self.regime = rng.choice([r for r in REGIMES if r != self.regime])
        scale = REGIME_VOL[self.regime]
        factor = rng.gauss(0.0, 1.0)
        prices: dict[str, float] = {}
        venue_b: dict[str, float] = {}
        for s in self.symbols:
            vol = VOL.get(s, 0.006) * scale
            beta = BETA.get(s, 0.6)
            shock = beta * factor + math.sqrt(max(0.0, 1 - beta * beta)) * rng.gauss(0.0, 1.0)
            ret = vol * shock - 0.5 * vol * vol
            self._prices[s] *= math.exp(ret)
            prices[s] = round(self._prices[s], 4)
            gap = rng.gauss(0.0, 3e-4)
            if rng.random() < self.dislocation_rate:
                gap += rng.choice((-1.0, 1.0)) * rng.uniform(1.5e-3, 3e-3)
            venue_b[s] = round(self._prices[s] * (1.0 + gap), 4)
        t = (self._index - self.vix_origin) * self.tick_seconds
        if self.vix_path is not None:
            self._vix = self.vix_path.level(t) + rng.gauss(0.0, self.vix_path.noise)
        else:
            target = REGIME_VIX[self.regime]
            self._vix += 0.1 * (target - self._vix) + rng.gauss(0.0, 0.5)
        tick = Tick(self._index, prices, venue_b, round(max(5.0, self._vix), 3), self.regime)
        self._index += 1
        self.history.append(tick)
        return tick

    @property
    def count(self) -> int:
        """Ticks made so far (``history`` keeps only the latest)."""
        return self._index

    def warm_up(self, n: int) -> None:
        """Generate ``n`` ticks of history before a scenario starts (strategies need a window)."""
        for _ in range(n):
            self.next_tick()

    def window(self, symbol: str, n: int) -> list[float]:
        """The last ``n`` prices of a symbol."""
        return [t.prices[symbol] for t in _latest(self.history, n)]

    def window_b(self, symbol: str, n: int) -> list[float]:
        return [t.venue_b[symbol] for t in _latest(self.history, n)]

    @property
    def last(self) -> Tick:
        return self.history[-1]


class CsvMarket:
    """Replays a user's CSV file tick by tick (see the module docstring for the format).

    The whole file is validated on load, so a bad row is reported before anything runs.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.ticks = self._load()
        if not self.ticks:
            raise MarketDataError(f"{self.path}: no data rows")
        self.history: deque[Tick] = deque(maxlen=HISTORY_KEEP)
        self.count = 0
        self._iter: Iterator[Tick] = iter(self.ticks)
        self.symbols = tuple(self.ticks[0].prices)
        self.regime = "replay"

    def _load(self) -> list[Tick]:
        try:
            handle = self.path.open(newline="", encoding="utf-8")
        except OSError as exc:
            raise MarketDataError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        with handle:
            try:
                return self._parse(handle)
            except UnicodeDecodeError:
                raise MarketDataError(f"{self.path}: not a UTF-8 text file") from None
            except csv.Error as exc:
                raise MarketDataError(f"{self.path}: malformed CSV: {exc}") from None

    def _parse(self, handle: Iterator[str]) -> list[Tick]:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise MarketDataError(f"{self.path}: empty file (expected a header time,symbol,price)")
        cols = [h.strip().lower() for h in header]
        for needed in ("time", "symbol", "price"):
            if needed not in cols:
                raise MarketDataError(
                    f"{self.path}:1: missing column {needed!r} (expected time,symbol,price[,venue_b][,vix])"
                )
        idx = {name: cols.index(name) for name in cols}
        ticks: list[Tick] = []
        last: dict[str, float] = {}
        last_b: dict[str, float] = {}
        vix = REGIME_VIX["normal"]
        current_time: float | None = None
        pending: dict[str, float] = {}
        pending_b: dict[str, float] = {}
        pending_vix: float | None = None

        def flush() -> None:
            nonlocal vix
            last.update(pending)
            last_b.update(pending_b)
            if pending_vix is not None:
                vix = pending_vix
            ticks.append(Tick(len(ticks), dict(last), {s: last_b.get(s, p) for s, p in last.items()}, vix))

        for lineno, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) < len(cols):
                raise MarketDataError(f"{self.path}:{lineno}: expected {len(cols)} columns, got {len(row)}")
            t = self._number(row[idx["time"]], "time", lineno)
            symbol = row[idx["symbol"]].strip().upper()
            if not symbol:
                raise MarketDataError(f"{self.path}:{lineno}: empty symbol")
            if not symbol.isprintable():
                raise MarketDataError(f"{self.path}:{lineno}: symbol {_brief(symbol)} is not one line of text")
            price = self._number(row[idx["price"]], "price", lineno)
            if price <= 0:
                raise MarketDataError(f"{self.path}:{lineno}: price must be positive, got {price:g}")
            if current_time is not None and t < current_time:
                raise MarketDataError(f"{self.path}:{lineno}: time {t:g} goes backwards (previous {current_time:g})")
            if current_time is not None and t != current_time:
                flush()
                pending, pending_b, pending_vix = {}, {}, None
            current_time = t
            pending[symbol] = price
            if "venue_b" in idx and row[idx["venue_b"]].strip():
                vb = self._number(row[idx["venue_b"]], "venue_b", lineno)
                if vb <= 0:
                    raise MarketDataError(f"{self.path}:{lineno}: venue_b must be positive, got {vb:g}")
                pending_b[symbol] = vb
            if "vix" in idx and row[idx["vix"]].strip():
                v = self._number(row[idx["vix"]], "vix", lineno)
                if v < 0:
                    raise MarketDataError(f"{self.path}:{lineno}: vix must not be negative, got {v:g}")
                pending_vix = v
        if current_time is not None:
            flush()
        return ticks

    def _number(self, text: str, column: str, lineno: int) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise MarketDataError(f"{self.path}:{lineno}: {column} {_brief(text.strip())} is not a number") from None
        if not math.isfinite(value):
            raise MarketDataError(f"{self.path}:{lineno}: {column} {_brief(text.strip())} is not a finite number")
        return value

    def next_tick(self) -> Tick:
        """The next tick; the replay loops back to the start when the file runs out."""
        try:
            tick = next(self._iter)
        except StopIteration:
            self._iter = iter(self.ticks)
            tick = next(self._iter)
        tick = Tick(self.count, dict(tick.prices), dict(tick.venue_b), tick.vix, "replay")
        self.count += 1
        self.history.append(tick)
        return tick

    def warm_up(self, n: int) -> None:
        for _ in range(min(n, len(self.ticks))):
            self.next_tick()

    def window(self, symbol: str, n: int) -> list[float]:
        return [t.prices[symbol] for t in _latest(self.history, n) if symbol in t.prices]

    def window_b(self, symbol: str, n: int) -> list[float]:
        return [t.venue_b[symbol] for t in _latest(self.history, n) if symbol in t.venue_b]

    @property
    def last(self) -> Tick:
        return self.history[-1]
