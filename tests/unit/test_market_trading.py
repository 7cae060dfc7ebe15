"""The seeded market, CSV replay with clear errors, and paper trading with P&L."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import EXAMPLES

from swarm_tui.engine.market import SYMBOLS, CsvMarket, MarketDataError, MarketSimulator, VixPath
from swarm_tui.engine.trading import Book, PaperBroker


def test_market_is_seeded() -> None:
    a, b, c = MarketSimulator(seed=1), MarketSimulator(seed=1), MarketSimulator(seed=2)
    ta = [a.next_tick().prices for _ in range(50)]
    assert ta == [b.next_tick().prices for _ in range(50)]
    assert ta != [c.next_tick().prices for _ in range(50)]
    assert set(ta[0]) == set(SYMBOLS)


def test_market_has_regimes_and_a_vix() -> None:
    m = MarketSimulator(seed=3)
    ticks = [m.next_tick() for _ in range(2000)]
    assert {t.regime for t in ticks} == {"calm", "normal", "volatile"}
    assert all(t.vix > 0 for t in ticks)
    # The second venue is close to the first, with rare dislocations.
    gaps = [abs(t.venue_b["AAPL"] / t.prices["AAPL"] - 1) for t in ticks]
    assert sum(g > 1.2e-3 for g in gaps) > 0
    assert sorted(gaps)[len(gaps) // 2] < 5e-4


def test_scripted_vix_path() -> None:
    path = VixPath([(0, 15), (4, 15), (8, 45)], noise=0.0)
    assert path.level(6) == pytest.approx(30)
    assert path.crossing(30) == pytest.approx(6)
    m = MarketSimulator(seed=0, vix_path=path, tick_seconds=1.0)
    levels = [m.next_tick().vix for _ in range(10)]
    assert levels[0] == pytest.approx(15) and levels[9] == pytest.approx(45)


def write(tmp: Path, text: str) -> Path:
    p = tmp / "market.csv"
    p.write_text(text)
    return p


def test_csv_replay(tmp_path: Path) -> None:
    p = write(tmp_path, "time,symbol,price,vix\n0,SPY,450,15\n0,QQQ,380,\n1,SPY,451,\n2,QQQ,381,20\n")
    m = CsvMarket(p)
    t0, t1, t2 = m.next_tick(), m.next_tick(), m.next_tick()
    assert t0.prices == {"SPY": 450.0, "QQQ": 380.0} and t0.vix == 15
    assert t1.prices == {"SPY": 451.0, "QQQ": 380.0}
    assert t2.prices["QQQ"] == 381.0 and t2.vix == 20
    assert m.next_tick().prices == t0.prices  # loops around


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("time,price\n", "missing column 'symbol'"),
        ("time,symbol,price\n0,SPY,abc\n", ":2: price 'abc' is not a number"),
        ("time,symbol,price\n0,SPY,-1\n", ":2: price must be positive"),
        ("time,symbol,price\n1,SPY,1\n0,SPY,1\n", ":3: time 0 goes backwards"),
        ("time,symbol,price\n0,SPY\n", ":2: expected 3 columns, got 2"),
        ("time,symbol,price\n0,,1\n", ":2: empty symbol"),
        ("time,symbol,price\n0,SPY,nan\n", "not a finite number"),
        ("time,symbol,price\n", "no data rows"),
    ],
)
def test_csv_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(MarketDataError) as info:
        CsvMarket(write(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_csv_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(MarketDataError, match="cannot read"):
        CsvMarket(tmp_path / "nope.csv")
    p = tmp_path / "bin.csv"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(MarketDataError):
        CsvMarket(p)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_csv_parser_never_crashes(tmp_path: Path, text: str) -> None:
    p = tmp_path / "fuzz.csv"
    p.write_text(text, encoding="utf-8")
    try:
        m = CsvMarket(p)
    except MarketDataError as exc:
        assert str(p) in str(exc)
    else:
        assert m.ticks


def test_book_realizes_pnl_and_counts_wins() -> None:
    book = Book("momentum")
    book.apply_fill("SPY", "buy", 10, 100.0, 0.1)
    assert book.unrealized({"SPY": 105.0}) == pytest.approx(50.0)
    realized = book.apply_fill("SPY", "sell", 10, 104.0, 0.1)
    assert realized == pytest.approx(40.0)
    assert book.win_rate() == 1.0
    assert book.pnl({"SPY": 104.0}) == pytest.approx(40.0 - 0.2)
    book.apply_fill("SPY", "sell", 5, 104.0, 0.0)  # go short
    book.apply_fill("SPY", "buy", 10, 106.0, 0.0)  # cover at a loss and flip long
    assert book.positions["SPY"].qty == pytest.approx(5.0)
    assert book.wins == 1 and book.closes == 2


def test_broker_summary() -> None:
    broker = PaperBroker(slippage_bps=0, fee_bps=0)
    broker.execute("arb", "AAPL", "buy", 10, 100.0)
    broker.execute("arb", "AAPL", "sell", 10, 100.5)
    summary = broker.summary({"AAPL": 100.0})
    assert summary["arb"]["pnl"] == pytest.approx(5.0)
    assert summary["arb"]["trades"] == 2 and summary["arb"]["win_rate"] == 1.0
