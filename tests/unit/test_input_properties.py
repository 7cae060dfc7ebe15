"""Every input gets one clear line or a valid object, never a traceback (property-based).

For each parser (scenario TOML, theme file, keymap config, settings file, market CSV) and for the
command line, hypothesis generates inputs that look right (the real key names and columns with
wrong types and values) and plain garbage (any text, invalid UTF-8, NUL, huge numbers, NaN and
infinities, deep nesting), and checks: the parser returns a usable object or raises its own
error with one printable line that starts with the file's path; the CLI exits 0, 1 or 2 and,
for 2, prints exactly one line ``swarm-tui: error: ...``. ``@example`` rows are bugs these
properties found, kept as regressions.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import tomli_w
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support import EXAMPLES, ROOT
from textual.css.stylesheet import Stylesheet
from textual.theme import Theme

from swarm_tui.agent.kinds import KINDS
from swarm_tui.cli import cli, main
from swarm_tui.config.scenario_file import ID_RE, ConfigError, load_scenario_file
from swarm_tui.config.user import UserConfigError, load_keymap, load_settings, save_settings
from swarm_tui.engine.faults import FAULT_KINDS
from swarm_tui.engine.market import CsvMarket, MarketDataError
from swarm_tui.engine.scenario import Scenario
from swarm_tui.patterns.catalogue import load_catalogue
from swarm_tui.ui import themes
from swarm_tui.ui.app import BINDING_IDS
from swarm_tui.ui.themes import COLOR_KEYS, DEFAULT_THEME, NON_COLOR_VARIABLES, SWARM_VARIABLES, load_theme_file

EXAMPLES_DIR = ROOT / "swarm_tui" / "examples"
SAMPLE_CSV = EXAMPLES_DIR / "market" / "sample.csv"
EXAMPLE_SCENARIOS = sorted(str(p) for p in (EXAMPLES_DIR / "scenarios").glob("*.toml"))
assert SAMPLE_CSV.is_file() and EXAMPLE_SCENARIOS, "the bundled examples are missing: the tests would test nothing"

PROPERTY = settings(max_examples=EXAMPLES, deadline=None)

# -- building blocks ----------------------------------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)  # what TOML strings can hold
NASTY_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\n",
        "\x00",
        "a\nb",
        "\x1b[31m",
        "\u2028",
        "é",
        "🙂",
        "x" * 500,
        "../",
        "/",
        ".",
        "nan",
        "inf",
        "-1",
        "1e999",
        "9" * 5000,
    ]
)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 1, 2**63 - 1, -(2**63), 10**40]),
    st.floats(),  # NaN and the infinities included
    TEXT,
    NASTY_STRINGS,
    st.datetimes(),
    st.dates(),
)


def values(scalars: st.SearchStrategy[Any] = SCALARS) -> st.SearchStrategy[Any]:
    """TOML values: scalars, arrays, tables; keys are anything tomli_w can quote."""
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8
    )


VALUES = values()


def keyed(names: list[str] | tuple[str, ...], value: st.SearchStrategy[Any], size: int = 6) -> st.SearchStrategy:
    """A table with the real key names (mostly) and some others."""
    return st.dictionaries(st.sampled_from(sorted(names)) | TEXT, value, max_size=size)


def mostly(right: st.SearchStrategy[Any], wrong: st.SearchStrategy[Any], one_in: int = 8) -> st.SearchStrategy[Any]:
    """``right`` most of the time, ``wrong`` about once in ``one_in`` draws (so that whole files often pass)."""
    return st.integers(1, one_in).flatmap(lambda i: wrong if i == 1 else right)


def toml_bytes(doc: dict[str, Any]) -> bytes:
    return tomli_w.dumps(doc).encode("utf-8")


def raw_files(valid: st.SearchStrategy[bytes], snippets: list[bytes]) -> st.SearchStrategy[bytes]:
    """Garbage: any bytes, any text (lone surrogates give invalid UTF-8), known-nasty snippets, and a valid
    file cut short or with garbage spliced in."""

    def splice(args: tuple[bytes, int, bytes]) -> bytes:
        body, at, junk = args
        at = at % (len(body) + 1)
        return body[:at] + junk + body[at:]

    return st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.sampled_from(snippets),
        st.tuples(st.sampled_from(snippets), st.binary(max_size=20)).map(lambda t: t[0] + t[1]),
        st.tuples(valid, st.integers(0, 10_000), st.binary(max_size=8) | st.sampled_from(snippets)).map(splice),
        valid.flatmap(lambda body: st.integers(0, len(body)).map(lambda n: body[:n])),
    )


TOML_SNIPPETS = [
    b"a = " + b"9" * 5000,  # more digits than int() takes
    b"a = -" + b"1" * 4301,
    b"a = 0x" + b"f" * 5000,
    b"a = " + b"[" * 3000 + b"]" * 3000,  # deeper than the interpreter's recursion limit
    b"a = " + b"{b = " * 1000 + b"1" + b"}" * 1000,
    b"a = nan\nb = -inf\nc = 1e999",
    b"\xef\xbb\xbfa = 1",  # a BOM
    b'a = "\x00"',
    b'"a\\nb" = 1',
    b'["x\\u0000y"]\nz = 1',
    b"a = 1979-05-27T07:32:00Z\nb = 1979-02-30",
    b"\xff\xfe\x00",
    b"",
]


FOLDER = tempfile.TemporaryDirectory(prefix="swarm-tui-props-")  # removed at exit


def written(content: bytes, name: str) -> Path:
    """The content as the only file of a folder of its own (overwritten by the next example)."""
    path = Path(FOLDER.name) / Path(name).stem / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    return path


def one_line_naming(message: str, path: Path) -> None:
    assert message.startswith(f"{path}:"), message
    assert message.isprintable(), repr(message)  # one line: no newline, no terminal control characters
    assert len(message) < 2000, message[:200]


def parse_or_error(parse: Callable[[Path], Any], path: Path, error: type[Exception]) -> Any:
    """The parser's result, or None after checking its error; any other exception fails the test."""
    try:
        return parse(path)
    except error as exc:
        one_line_naming(str(exc), path)
        return None


# -- scenario files -----------------------------------------------------------------------------------------------

REGISTRY = load_catalogue().scenarios
DEFAULTS = {sid: cls.Params().model_dump(exclude_none=True) for sid, cls in REGISTRY.items()}
PARAM_KEYS = sorted(
    {k for cls in REGISTRY.values() for k in cls.Params.model_fields}
    | {"p95_budget_ms", "recovery_budget_s", "heartbeat_s", "detector_threshold"}
)
MECHANISMS = sorted({m for cls in REGISTRY.values() for m in cls.mechanism_help})
SCENARIO_IDS = [*sorted(REGISTRY), "new.id", "my-scenario_2", "", "Bad Id", "a" * 81]
AGENT_KEYS = ["kind", "role", "name", "symbol", "symbols", "strategy", "version", "pool", "count", "defect", "params"]
FAULT_KEYS = [
    "kind",
    "at",
    "duration",
    "target",
    "rate",
    "factor",
    "delay_ms",
    "loss",
    "rate_mb_s",
    "limit_mb",
    "groups",
]
WORDS = st.sampled_from(
    [
        *KINDS,
        *FAULT_KINDS,
        "stable",
        "canary",
        "blue",
        "SPY",
        "AAPL",
        "#1",
        "#0",
        "#999",
        "random",
        "role:hub",
        "role:",
        "v2",
        str(SAMPLE_CSV),
        "sample.csv",
        "missing.csv",
    ]
)
S_VALUES = values(SCALARS | WORDS)

HEADER = keyed(["id", "base", "title", "summary", "market"], st.sampled_from(SCENARIO_IDS) | S_VALUES)
AGENT = keyed(AGENT_KEYS, S_VALUES | keyed(["error_rate", "latency_factor"], S_VALUES, 3))
FAULT = keyed(FAULT_KEYS, S_VALUES | st.lists(st.lists(WORDS, max_size=3), max_size=3))
SCENARIO_DOC = st.fixed_dictionaries(
    {},
    optional={
        "scenario": HEADER | S_VALUES,
        "params": keyed(PARAM_KEYS, S_VALUES) | S_VALUES,
        "checks": keyed(PARAM_KEYS, S_VALUES) | S_VALUES,
        "agents": st.lists(AGENT, max_size=3) | S_VALUES,
        "faults": st.lists(FAULT, max_size=3) | S_VALUES,
        "mechanisms": keyed(MECHANISMS, st.booleans() | S_VALUES) | S_VALUES,
        "extra": S_VALUES,
    },
)
AGENT_OK = st.fixed_dictionaries(
    {"kind": st.sampled_from(KINDS)},
    optional={
        "count": st.integers(1, 20),
        "symbol": st.sampled_from(["SPY", "AAPL"]),
        "pool": st.sampled_from(["stable", "canary"]),
        "version": st.sampled_from(["v1", "v2"]),
        "params": st.dictionaries(TEXT, st.floats(-10, 10), max_size=2),
    },
)
FAULT_OK = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(FAULT_KINDS),
        "target": st.sampled_from(["#1", "#0", "#999", "random", "role:hub", "nobody"]),
    },
    optional={
        "at": st.floats(0, 100),
        "duration": st.floats(0.1, 100),
        "rate": st.floats(0, 1),
        "groups": st.lists(st.lists(WORDS, max_size=3), max_size=3),
    },
)


def typed_like(default: Any) -> st.SearchStrategy[Any]:
    """Mostly a value of the default's type (what a user would write), sometimes anything."""
    if isinstance(default, bool):
        right: st.SearchStrategy[Any] = st.booleans()
    elif isinstance(default, int):
        right = st.integers(0, 1000) | st.integers(0, 1000).map(float)
    elif isinstance(default, float):
        right = st.floats(0, 1000) | st.integers(0, 1000)
    elif isinstance(default, str):
        right = WORDS | TEXT
    else:
        right = st.just(default)
    return mostly(right, S_VALUES)


def likely_scenario(sid: str) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly right for one catalogue scenario: an override or a new id on it, its own parameters and
    mechanisms with values of the right type, agents and faults of the real kinds."""
    cls = REGISTRY[sid]
    defaults = DEFAULTS[sid]
    keys = sorted(k for k in defaults if k != "agents")
    params = (
        st.lists(st.sampled_from(keys), unique=True, max_size=4).flatmap(
            lambda ks: st.fixed_dictionaries({k: typed_like(defaults[k]) for k in ks})
        )
        if keys
        else st.just({})
    )
    header = st.sampled_from(
        [
            {"id": sid},
            {"id": "new.one", "base": sid},
            {"id": sid, "title": "T"},
            {"id": "new.one", "base": sid, "market": str(SAMPLE_CSV)},
        ]
    )
    return st.fixed_dictionaries(
        {"scenario": header},
        optional={
            "params": params,
            "checks": params,
            "agents": st.lists(mostly(AGENT_OK, AGENT), max_size=3),
            "faults": st.lists(mostly(FAULT_OK, FAULT), max_size=3),
            "mechanisms": st.dictionaries(
                mostly(st.sampled_from([*cls.mechanism_help] or ["nope"]), TEXT), st.booleans(), max_size=2
            ),
        },
    )


LIKELY_SCENARIO = st.sampled_from(sorted(REGISTRY)).flatmap(likely_scenario)
SCENARIO_VALID = st.one_of(SCENARIO_DOC, LIKELY_SCENARIO, LIKELY_SCENARIO).map(toml_bytes)
SCENARIO_FILES = st.one_of(
    SCENARIO_VALID,
    raw_files(
        SCENARIO_VALID,
        [
            *TOML_SNIPPETS,
            b'[scenario]\nid = "mesh.failover"\n[params]\nduration_s = ' + b"1" * 5000,
            b'[scenario]\nid = "mesh.failover"\n[params]\n"a\\nb" = 1',
            b'[scenario]\nid = "new.id"\nbase = "mesh.failover"\nmarket = "a\\u0000b.csv"',
        ],
    ),
)


@PROPERTY
@given(SCENARIO_FILES)
@example(b"a = " + b"9" * 5000)  # int() refuses > 4300 digits: a bare ValueError, no file name
@example(b"a = " + b"[" * 3000 + b"]" * 3000)  # RecursionError in tomllib
@example(b'[scenario]\nid = "mesh.failover"\n[params]\n"a\\nb" = 1')  # a key with a newline: two lines
@example(b'[scenario]\nid = "new.id"\nbase = "mesh.failover"\nmarket = "a\\u0000b.csv"')  # NUL in a path
@example(b'[scenario]\nid = "mesh.failover"\n[params]\nduration_s = inf')  # accepted; the run hit OverflowError
@example(b'[scenario]\nid = "mesh.failover"\n[mechanisms]\n"\\u001b[2J" = true')  # escape codes in a key
@example(b'[scenario]\nid = "new.one"\nbase = "mesh.failover"\nmarket = "' + b"9" * 4000 + b'"')  # a long line
def test_scenario_files(content: bytes) -> None:
    path = written(content, "scenario.toml")
    definition = parse_or_error(load_scenario_file, path, ConfigError)
    if definition is None:
        return
    assert ID_RE.match(definition.id)
    assert definition.source == path
    for key, value in definition.params.items():
        if isinstance(value, float):
            assert math.isfinite(value), (key, value)
    scenario = definition.build()
    assert isinstance(scenario, Scenario) and scenario.id == definition.id
    scenario.faults()
    if definition.market is not None:
        assert Path(definition.market).is_file()


# -- theme files --------------------------------------------------------------------------------------------------

COLORS = st.one_of(
    st.sampled_from(
        [
            "#fff",
            "#ffffff",
            "#12345678",
            "#1234",
            "rgb(1,2,3)",
            "rgba(1,2,3,0.5)",
            "hsl(10,50%,50%)",
            "hsla(10,50%,50%,0.5)",
            "red",
            "transparent",
            "ansi_red",
            "ansi_bright_black",
            "ansi_default",
            "ansi_",
            "ansi_nonsense",
            "ansi_red ",
            "#12",
            "rgb(999,0,0)",
            "rgb(1e9,0,0)",
            "hsl(1e400,0%,0%)",
            "rgb(nan,0,0)",
            "none",
            "bold",
        ]
    ),
    st.from_regex(
        r"(#[0-9a-fA-F]{0,9}|rgba?\([0-9e.,% +-]{0,24}\)|hsla?\([0-9e.,% +-]{0,24}\)|ansi_[a-z_]{0,14})", fullmatch=True
    ),
)
STYLES = st.sampled_from(
    [
        "bold",
        "none",
        "reverse",
        "b reverse",
        "not bold",
        "bold  italic",
        "uu",
        "not",
        "red",
        "",
        "bold\nitalic",
        "}{",
        "bold;",
        "x",
    ]
) | st.lists(st.sampled_from(["bold", "not", "i", "o", "dim", "none", "blink", "red"]), max_size=3).map(" ".join)
STYLE_VARIABLES = [
    "input-cursor-text-style",
    "block-cursor-text-style",
    "link-style",
    "link-style-hover",
    "button-focus-text-style",
    "markdown-h1-text-style",
]
T_VALUES = values(SCALARS | COLORS | STYLES)
THEME_NAMES = st.sampled_from(["mine", " spaced ", "", "  ", DEFAULT_THEME]) | TEXT
THEME_DOC = st.fixed_dictionaries(
    {},
    optional={
        "name": THEME_NAMES | T_VALUES,
        "dark": st.booleans() | T_VALUES,
        "ansi": st.booleans() | T_VALUES,
        "variables": keyed(
            [*SWARM_VARIABLES, *NON_COLOR_VARIABLES, *STYLE_VARIABLES, "ansi-background"], COLORS | STYLES | T_VALUES
        )
        | T_VALUES,
        "extra": T_VALUES,
        **{k: COLORS | T_VALUES for k in COLOR_KEYS},
    },
)
GOOD_COLORS = st.one_of(
    st.sampled_from(
        [
            "#fff",
            "#12345678",
            "rgb(1,2,3)",
            "rgba(1,2,3,0.5)",
            "hsl(10,50%,50%)",
            "red",
            "ansi_red",
            "ansi_bright_black",
            "ansi_default",
            "transparent",
        ]
    ),
    st.from_regex(r"#[0-9a-fA-F]{6}", fullmatch=True),
)
MOSTLY_COLORS = mostly(GOOD_COLORS, COLORS | T_VALUES, 12)
LIKELY_THEME = st.fixed_dictionaries(
    {"name": st.sampled_from(["fuzz", " fuzz ", DEFAULT_THEME]), "primary": MOSTLY_COLORS},
    optional={
        "dark": st.booleans(),
        "ansi": st.booleans(),
        **{k: MOSTLY_COLORS for k in COLOR_KEYS[1:]},
        "variables": st.dictionaries(mostly(st.sampled_from(sorted(SWARM_VARIABLES)), TEXT), MOSTLY_COLORS, max_size=4),
        "extra_variables": st.dictionaries(
            st.sampled_from(STYLE_VARIABLES),
            mostly(st.sampled_from(["bold", "none", "not bold", "b reverse"]), STYLES | T_VALUES, 4),
            max_size=2,
        ),
    },
).map(
    lambda doc: (
        {**doc, "variables": {**doc.get("variables", {}), **doc.pop("extra_variables", {})}}
        if "extra_variables" in doc
        else doc
    )
)
THEME_VALID = st.one_of(THEME_DOC, LIKELY_THEME, LIKELY_THEME).map(toml_bytes)
THEME_FILES = st.one_of(
    THEME_VALID,
    raw_files(
        THEME_VALID,
        [
            *TOML_SNIPPETS,
            b'name = "x"\nprimary = "ansi_nonsense"',
            b'name = "x"\nprimary = "red"\n[variables]\ninput-cursor-text-style = 5',
            b'name = "x"\nprimary = "red"\n"a\\nb" = 1',
        ],
    ),
)
CSS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def css_parses(theme: Theme) -> None:
    """Every variable of the theme used in a stylesheet, as the dashboard's CSS does ($edge, $state-failed,
    Textual's own): a value CSS cannot take fails the dashboard at start."""
    variables = theme.to_color_system().generate()
    rules = [
        f"Widget {{ {'text-style' if 'style' in name.split('-') else 'color'}: ${name}; }}"
        for name in variables
        if CSS_NAME.fullmatch(name)
    ]
    sheet = Stylesheet(variables=variables)
    sheet.add_source("\n".join(rules))
    sheet.parse()


@PROPERTY
@given(THEME_FILES)
@example(b"a = " + b"9" * 5000)  # a bare ValueError from int(): no file name
@example(b"a = " + b"{b = " * 1000 + b"1" + b"}" * 1000)  # RecursionError
@example(b'name = "x"\nprimary = "ansi_nonsense"')  # accepted, then the dashboard fails to parse it
@example(b'name = "x"\nprimary = "red"\n[variables]\ninput-cursor-text-style = 5')  # crashed the dashboard's CSS
@example(b'name = "x"\nprimary = "red"\n[variables]\ninput-cursor-text-style = "not"')  # the same
@example(b'name = "x"\nprimary = "red"\n[variables]\nblock-cursor-text-style = "red"')  # a color as a style
@example(b'name = "x"\nprimary = "red"\n[variables]\nlink-style = "bold"')  # a valid style was refused
@example(b'name = "x"\nprimary = "red"\n"a\\nb" = 1')  # a key with a newline: two lines
@example(b'name = "x\\ny"\nprimary = "red"')  # a theme name over two lines
@example(b'name = "x"\nprimary = "red"\n[variables]\na = 0x' + b"f" * 4000)  # too long to print in decimal
def test_theme_files(content: bytes) -> None:
    path = written(content, "fuzz.toml")
    theme = parse_or_error(load_theme_file, path, ValueError)
    if theme is not None:
        assert theme.name and theme.name == theme.name.strip() and theme.name.isprintable()
        css_parses(theme)  # what the dashboard does when it switches to the theme
        assert all(isinstance(v, str) for v in theme.variables.values())
    # The dashboard's loader: a broken file is one problem (one notification) and the default stays.
    with (
        mock.patch.dict(os.environ, {"SWARM_TUI_CONFIG_DIR": str(path.parent / "no-config")}),
        mock.patch.object(themes, "project_themes_dirs", return_value=[]),
    ):
        loaded = themes.load_themes([path.parent])
    assert DEFAULT_THEME in loaded.themes
    assert len(loaded.problems) == (theme is None)
    if theme is not None:
        assert loaded.sources[theme.name] == path


def test_theme_text_style_variables() -> None:
    """Textual's text-style variables (names with "style") take styles, not colors."""
    for text, expected in [
        ('link-style = "bold"', "bold"),
        ('link-style-hover = "not  underline"', "not underline"),
        ('input-cursor-text-style = "b reverse"', "b reverse"),
    ]:
        path = written(f'name = "x"\nprimary = "red"\n[variables]\n{text}\n'.encode(), "style.toml")
        assert expected in load_theme_file(path).variables.values()
    for text in ['link-style = "red"', 'block-cursor-text-style = "not"', "markdown-h1-text-style = 1"]:
        path = written(f'name = "x"\nprimary = "red"\n[variables]\n{text}\n'.encode(), "style.toml")
        try:
            load_theme_file(path)
        except ValueError as exc:
            one_line_naming(str(exc), path)
            assert "expected a text style" in str(exc)
        else:
            raise AssertionError(f"accepted {text}")


# -- keymap config and settings -----------------------------------------------------------------------------------

KEYS = st.sampled_from(["k", "ctrl+k", "f5", "space", " k ", "", "   ", "x" * 41, "a,b", "\x00"]) | TEXT
KEYMAP_DOC = st.fixed_dictionaries(
    {},
    optional={
        "keymap": keyed(sorted(BINDING_IDS), KEYS | VALUES, 8) | VALUES,
        "theme": VALUES,
        "extra": VALUES,
    },
)
KEYMAP_VALID = st.one_of(KEYMAP_DOC, keyed(sorted(BINDING_IDS), KEYS, 8).map(lambda km: {"keymap": km})).map(toml_bytes)
KEYMAP_FILES = st.one_of(
    KEYMAP_VALID,
    raw_files(
        KEYMAP_VALID,
        [
            *TOML_SNIPPETS,
            b'[keymap]\n"cra\\nsh" = "k"',
            b'["key\\nmap"]',
        ],
    ),
)


@PROPERTY
@given(KEYMAP_FILES)
@example(b"a = " + b"9" * 5000)  # a bare ValueError from int(), not UserConfigError
@example(b"a = " + b"[" * 3000 + b"]" * 3000)  # RecursionError
@example(b'[keymap]\n"cra\\nsh" = "k"')  # an unknown binding id with a newline: two lines
@example(b'["key\\nmap"]')  # an unknown table with a newline: two lines
def test_keymap_config(content: bytes) -> None:
    path = written(content, "config.toml")
    keymap = parse_or_error(lambda p: load_keymap(BINDING_IDS, p), path, UserConfigError)
    if keymap is not None:
        assert set(keymap) <= BINDING_IDS
        assert all(key and key == key.strip() and len(key) <= 40 for key in keymap.values())


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["theme"]) | TEXT, inner, max_size=3),
    max_leaves=8,
)
SETTINGS_FILES = st.one_of(
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["theme"]) | TEXT, JSON_VALUES, max_size=3).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=100),
    st.sampled_from([b"[" * 100_000, b'{"theme": ' + b"9" * 5000 + b"}", b'{"theme": [1]}', b"NaN", b""]),
)


@PROPERTY
@given(SETTINGS_FILES)
@example(b"[" * 100_000)  # RecursionError in json: the dashboard would not start
@example(b'{"theme": [1]}')  # a list as the theme name: `in` on the themes dict raises TypeError
def test_settings_file(content: bytes) -> None:
    """Settings only hold preferences: a bad file is ignored (no error), and a good value survives saving."""
    with tempfile.TemporaryDirectory() as folder, mock.patch.dict(os.environ, {"SWARM_TUI_CONFIG_DIR": folder}):
        (Path(folder) / "settings.json").write_bytes(content)
        data = load_settings()
        assert isinstance(data, dict)
        assert isinstance(data.get("theme", ""), str)
        save_settings(theme="swarm-light")
        assert load_settings()["theme"] == "swarm-light"


# -- market CSV ---------------------------------------------------------------------------------------------------

COLUMNS = ["time", "symbol", "price", "venue_b", "vix"]
CELLS = st.one_of(
    st.floats().map(repr),
    st.integers(-5, 1000).map(str),
    st.integers().map(str),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-0",
            "1e999",
            "-1e999",
            "nan",
            "inf",
            "-inf",
            "1_000",
            "0x10",
            "1e-320",
            "9" * 5000,
            "SPY",
            "spy ",
            "AAPL",
            "\x00",
            "a\nb",
            "1,5",
        ]
    ),
    st.text(max_size=8),
)
HEADERS = st.one_of(
    st.permutations(COLUMNS).flatmap(lambda cols: st.integers(3, 5).map(lambda n: cols[:n])),
    st.lists(st.sampled_from([*COLUMNS, "Time", " price ", "VIX", "extra", ""]) | st.text(max_size=6), max_size=6),
)
RANDOM_CSV = st.tuples(HEADERS, st.lists(st.lists(CELLS, max_size=6), max_size=8))
# Mostly right: increasing times, real symbols, positive prices, with some wrong cells.
ORDERED_ROWS = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.sampled_from(["SPY", "QQQ", "aapl", " tsla "]),
        mostly(st.floats(1e-300, 1e300).map(repr), CELLS, 20),
        mostly(st.floats(0.01, 1e6).map(repr) | st.just(""), CELLS, 20),
        mostly(st.floats(0, 90).map(repr) | st.just(""), CELLS, 20),
    ),
    min_size=1,
    max_size=8,
)
LIKELY_CSV = ORDERED_ROWS.map(
    lambda rows: (COLUMNS, [[t, s, p, b, v] for t, s, p, b, v in sorted(rows, key=lambda r: r[0])])
)


def csv_bytes(table: tuple[list[str], list[list[Any]]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table[0])
    writer.writerows(table[1])
    return out.getvalue().encode("utf-8", "surrogatepass")


CSV_VALID = st.one_of(RANDOM_CSV, LIKELY_CSV, LIKELY_CSV).map(csv_bytes)
CSV_FILES = st.one_of(
    CSV_VALID,
    raw_files(
        CSV_VALID,
        [
            b"time,symbol,price\n0,SPY,1\n",
            b'time,symbol,price\n0,SPY,"' + b"1" * 200_000 + b'"\n',  # beyond the csv module's field limit
            b"time,symbol,price\n0,SPY,1\x00\n",
            b'time,symbol,price\n0,"SP\nY",1\n',
            b"time,symbol,price\n0,SPY,1e999\n",
            b"time,symbol,price\r\n0,SPY,1\r",
            b"\xef\xbb\xbftime,symbol,price\n0,SPY,1\n",
            b'time,symbol,price\n"0',
            b"\xff\xfe\x00",
            b"",
        ],
    ),
)


@PROPERTY
@given(CSV_FILES)
@example(b'time,symbol,price\n0,"SP\nY",1\n')  # a symbol over two lines is a name nobody can type
@example(b'time,symbol,price\n0,"\x1b[2J",1\n')  # escape codes as a symbol
def test_market_csv(content: bytes) -> None:
    path = written(content, "market.csv")
    market = parse_or_error(CsvMarket, path, MarketDataError)
    if market is None:
        return
    assert market.ticks and market.symbols == tuple(market.ticks[0].prices)
    for i, tick in enumerate(market.ticks):
        assert tick.index == i
        assert tick.prices and set(tick.venue_b) == set(tick.prices)
        for symbol in tick.prices:
            assert symbol and symbol == symbol.strip().upper() and symbol.isprintable()
        for price in [*tick.prices.values(), *tick.venue_b.values()]:
            assert math.isfinite(price) and price > 0
        assert math.isfinite(tick.vix) and tick.vix >= 0
    for _ in range(len(market.ticks) + 1):  # the replay loops
        market.next_tick()
    assert market.last.index == len(market.ticks)


# -- command line -------------------------------------------------------------------------------------------------

# A real command line cannot hold NUL; the names of commands and --yes are left out so that garbage never
# turns into `cleanup --yes` or a second command.
GARBAGE = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "-",
            "--",
            "-1",
            "0",
            "1e3",
            "nan",
            "inf",
            "9" * 30,
            "9" * 5000,
            "x\ny",
            "\x1b[2J",
            "é",
            "--seed",
            "--pattern",
            "=",
            "--seed=",
            "--=x",
            "-qq",
            "-h",
        ]
    ),
    st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=12),
).filter(lambda s: s not in {*cli.commands, "--yes", "--version"})


def cli_strategy(files: dict[str, str]) -> st.SearchStrategy[list[str]]:
    """Argument lists that never start a run or the dashboard: each ends with an input that is bad for sure.

    An option always comes with its value (an option left without one would swallow the command's name or the
    bad input, and the dashboard would open); a lone option without a value is only ever the last argument.
    """
    tmp = files["tmp"]
    paths = (
        st.sampled_from(
            [
                files["bad_toml"],
                files["bad_csv"],
                files["empty"],
                files["binary"],
                tmp,
                str(SAMPLE_CSV),
                *EXAMPLE_SCENARIOS,
                f"{tmp}/missing.toml",
                f"{tmp}/r.json",
                f"{tmp}/r.jsonl",
                f"{tmp}/r.xml",
                f"{tmp}/r.md",
                f"{tmp}/r.csv",
                f"{tmp}/r.txt",
                f"{tmp}/no/r.json",
                f"{tmp}/r",
            ]
        )
        | GARBAGE
    )
    stray = GARBAGE.filter(lambda g: not g.startswith("-")).map(lambda g: [g])  # never an option

    def opt(name: str, value: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
        return st.one_of(value.map(lambda v: [name, v]), value.map(lambda v: [f"{name}={v}"]))

    seeds = st.integers(-3, 2**70).map(str) | GARBAGE
    backends = st.sampled_from(["mock", "local", "e2b", "MOCK", "docker"]) | GARBAGE
    scenario_ids = st.sampled_from([*sorted(REGISTRY)[:5], "mesh.failover", "nope"]) | GARBAGE
    e2b = st.one_of(
        opt("--e2b-template", GARBAGE), opt("--e2b-timeout", seeds), opt("--e2b-rate", seeds), opt("--e2b-max", seeds)
    )
    top = st.one_of(
        opt("--backend", backends),
        opt("--seed", seeds),
        opt("--theme", st.sampled_from(["swarm-dark", "broken", "nope"]) | GARBAGE),
        opt("--config", paths),
        opt("--scenario", scenario_ids),
        st.just(["--no-mouse"]),
        e2b,
        stray,
    )
    run_opts = st.one_of(
        opt("--pattern", st.sampled_from(["mesh", "star", "all", "ring", "nope"]) | GARBAGE),
        opt("--scenario", scenario_ids),
        opt("--config", paths),
        opt("--backend", backends),
        opt("--seed", seeds),
        opt("--export", paths),
        opt("--market", paths),
        opt("--off", st.sampled_from(["failover", "retry", "nope"]) | GARBAGE),
        st.sampled_from([["--quiet"], ["-q"], ["-qq"], ["--"], ["-h"]]),
        e2b,
        stray,
    )
    # The input that stops a run for sure (the last --seed / --market wins; an unknown pattern always fails).
    run_poison = st.sampled_from(
        [
            ["--seed", "-1"],
            ["--export", f"{tmp}/r.txt"],
            ["--export", f"{tmp}/no/r.json"],
            ["--pattern", "nope"],
            ["--scenario", "nope"],
            ["--off", "nope"],
            ["--config", files["bad_toml"]],
            ["--market", files["bad_csv"]],
            ["--market", files["binary"]],
            ["--config", files["binary"]],
        ]
    )
    dashboard_poison = st.sampled_from(
        [
            ["--seed", "-1"],
            ["--backend", "mock", "--scenario", "nope"],
            ["--backend", "mock", "--theme", "broken"],
            ["--backend", "mock", "--theme", "nope"],
            ["--backend", "mock", "--config", files["bad_toml"]],
        ]
    )
    last = st.sampled_from([[], [], [], ["--seed"], ["--config"], ["--market"], ["--params"], ["--where"]])

    def flat(groups: list[list[str]]) -> list[str]:
        return [arg for group in groups for arg in group]

    tops = st.lists(top, max_size=3).map(flat)
    command = st.one_of(
        st.tuples(tops, st.lists(run_opts, max_size=5).map(flat), run_poison).map(
            lambda t: [*t[0], "run", *t[1], *t[2]]
        ),
        st.tuples(tops, dashboard_poison).map(lambda t: [*t[0], *t[1]]),
        st.tuples(
            tops,
            st.lists(st.one_of(st.just(["--mechanisms"]), opt("--params", scenario_ids), stray), max_size=3).map(flat),
        ).map(lambda t: [*t[0], "patterns", *t[1]]),
        st.tuples(
            tops,
            st.lists(
                st.one_of(opt("--where", st.sampled_from(["local", "all", "e2b"]) | GARBAGE), stray), max_size=2
            ).map(flat),
        ).map(lambda t: [*t[0], "cleanup", *t[1]]),
        st.tuples(
            tops,
            st.lists(st.one_of(paths.map(lambda p: [p]), opt("--export", paths), st.just(["-q"])), max_size=3).map(
                flat
            ),
        ).map(lambda t: [*t[0], "report", *t[1]]),
        # No journal among the paths: replay never opens the dashboard.
        st.tuples(
            tops,
            st.lists(
                st.one_of(
                    paths.map(lambda p: [p]),
                    opt("--speed", seeds),
                    opt("--theme", GARBAGE),
                    opt("--scenario", scenario_ids),
                ),
                max_size=3,
            ).map(flat),
        ).map(lambda t: [*t[0], "replay", *t[1]]),
    )
    return st.tuples(command, last).map(lambda t: [*t[0], *t[1]])


CLI_FOLDER = tempfile.TemporaryDirectory(prefix="swarm-tui-cli-")
_tmp = Path(CLI_FOLDER.name)
CLI_FILES = {
    "tmp": str(_tmp),
    "bad_toml": str(_tmp / "bad.toml"),
    "bad_csv": str(_tmp / "bad.csv"),
    "empty": str(_tmp / "empty.txt"),
    "binary": str(_tmp / "binary.dat"),
}
(_tmp / "bad.toml").write_text('[scenario]\nid = "mesh.failover"\nnope = 1\n')
(_tmp / "bad.csv").write_text("time,symbol\n0,SPY\n")
(_tmp / "empty.txt").write_text("")
(_tmp / "binary.dat").write_bytes(b"\xff\xfe\x00\x01 = [[\n")
# The user's config folder: a broken theme named "broken", and a keymap config chosen per example.
(_tmp / "config" / "themes").mkdir(parents=True)
(_tmp / "config" / "themes" / "broken.toml").write_text('name = "broken"\nprimary = "not a color"\n')
KEYMAPS = [None, '[keymap]\ncrash = "k"\n', "[keymap]\ncrash = 5\n", '[keymap]\nnope = "k"\n', "a = [\n"]


@PROPERTY
@given(cli_strategy(CLI_FILES), st.sampled_from(KEYMAPS))
@example(["run", "--pattern", "nope", "x\ny"], None)  # click echoes an extra argument as is: two lines
@example(["--scenario", "nope", "--backend", "mock", "--theme", "broken"], None)  # a broken theme asked for
@example(["--backend", "mock", "--theme", "nope"], '[keymap]\nnope = "k"\n')  # a broken keymap config
def test_cli_arguments(argv: list[str], keymap: str | None) -> None:
    config = _tmp / "config" / "config.toml"
    if keymap is None:
        config.unlink(missing_ok=True)
    else:
        config.write_text(keymap)
    env = {"SWARM_TUI_CONFIG_DIR": str(_tmp / "config"), "COLUMNS": "120", "E2B_API_KEY": ""}
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        os.environ.pop("E2B_API_KEY")
        code = main(argv)
    stdout, stderr = out.getvalue(), err.getvalue()
    assert "Traceback" not in stderr and "Traceback" not in stdout
    assert code in (0, 1, 2), (code, stderr)
    if code == 2:
        assert stderr.startswith("swarm-tui: error: "), stderr
        assert stderr.endswith("\n") and len(stderr.splitlines()) == 1, repr(stderr)  # exactly one line
    if code != 2 and "-h" not in argv and "--help" not in argv:
        assert "patterns" in argv or "cleanup" in argv, (argv, code)  # a run or the dashboard never passes
