"""Paper trading: fills with fees and slippage, positions, marked-to-market P&L per book.

A *book* is one strategy's (or one agent's) account. Realized P&L is booked when a position is
reduced; unrealized P&L marks the rest to the last price. A round trip (a position opened and
then closed or reduced) counts as a win when its realized P&L, after fees, is positive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swarm_tui.agent.strategies import BUY, paper_fill


@dataclass
class Position:
    qty: float = 0.0
    avg_price: float = 0.0


@dataclass
class Book:
    """One strategy's account."""

    name: str
    positions: dict[str, Position] = field(default_factory=dict)
    realized: float = 0.0
    fees: float = 0.0
    trades: int = 0
    wins: int = 0
    closes: int = 0

    def apply_fill(self, symbol: str, side: str, qty: float, price: float, fee: float) -> float:
        """Book a fill; returns the realized P&L of any part that closed a position."""
        pos = self.positions.setdefault(symbol, Position())
        signed = qty if side == BUY else -qty
        realized = 0.0
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):
            total = pos.qty + signed
            pos.avg_price = (pos.avg_price * abs(pos.qty) + price * abs(signed)) / abs(total)
            pos.qty = total
        else:
            closing = min(abs(signed), abs(pos.qty))
            direction = 1.0 if pos.qty > 0 else -1.0
            realized = closing * (price - pos.avg_price) * direction
            remaining = pos.qty + signed
            if abs(remaining) < 1e-12:
                pos.qty, pos.avg_price = 0.0, 0.0
            elif (remaining > 0) == (pos.qty > 0):
                pos.qty = remaining
            else:  # flipped through zero: the rest opens a new position at this price
                pos.qty, pos.avg_price = remaining, price
            self.closes += 1
            if realized - fee > 0:
                self.wins += 1
        self.realized += realized
        self.fees += fee
        self.trades += 1
        return realized

    def unrealized(self, marks: dict[str, float]) -> float:
        return sum(p.qty * (marks.get(s, p.avg_price) - p.avg_price) for s, p in self.positions.items())

    def pnl(self, marks: dict[str, float]) -> float:
        """Marked-to-market P&L after fees."""
        return self.realized + self.unrealized(marks) - self.fees

    def exposure(self, marks: dict[str, float]) -> float:
        return sum(abs(p.qty) * marks.get(s, p.avg_price) for s, p in self.positions.items())

    def win_rate(self) -> float | None:
        return self.wins / self.closes if self.closes else None


@dataclass
class PaperBroker:
    """Fills orders at the mid price with slippage and fees, into named books."""

    slippage_bps: float = 2.0
    fee_bps: float = 1.0
    books: dict[str, Book] = field(default_factory=dict)

    def book(self, name: str) -> Book:
        if name not in self.books:
            self.books[name] = Book(name)
        return self.books[name]

    def execute(self, book: str, symbol: str, side: str, qty: float, mid: float) -> tuple[float, float]:
        """Fill an order; returns (fill price, fee)."""
        fill = paper_fill(side, qty, mid, self.slippage_bps, self.fee_bps)
        self.book(book).apply_fill(symbol, side, qty, fill["price"], fill["fee"])
        return fill["price"], fill["fee"]

    def summary(self, marks: dict[str, float]) -> dict[str, dict[str, float | int | None]]:
        """P&L, trade count and win rate per book."""
        out: dict[str, dict[str, float | int | None]] = {}
        for name in sorted(self.books):
            b = self.books[name]
            wr = b.win_rate()
            out[name] = {
                "pnl": round(b.pnl(marks), 4),
                "trades": b.trades,
                "win_rate": round(wr, 4) if wr is not None else None,
                "fees": round(b.fees, 4),
            }
        return out
