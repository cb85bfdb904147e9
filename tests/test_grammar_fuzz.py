"""Fuzzing the .opt parser: random text, random bytes and grammar-aware mutations of valid models.

Whatever the input, ``parse`` either returns a problem or raises one of the typed, located
``OptSourceError``\\ s; a problem it returns prints back (``to_opt``) to text that parses to an
equal problem, and its DCP check raises nothing but ``DCPError``. That includes the parser's
limits: nesting thousands deep (brackets, operators, let chains), numbers of thousands of
digits, and files that are not UTF-8 (``load`` raises ``OptEncodingError`` at the first bad
byte). The default run tries about 2,700 derandomized cases (reproducible in CI); the
10^5-case run is marked slow:

    python -m pytest tests/test_grammar_fuzz.py -m slow
"""

import codecs
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optdsl.grammar import OptEncodingError, OptSourceError, load, parse
from optdsl.modeling import DCPError

SEEDS = [
    """# lasso
dim m, n
param A[m, n]
param b[m]
param lam >= 0
var x[n]
minimize 0.5 * sum_squares(A @ x - b) + lam * norm1(x)
subject to
  x >= -1
  budget: sum(x) <= 10
""",
    """param P[3, 3]
param q[3]
var x[3] in [-1, 1]
let r = P @ x + q
minimize 0.5 * quad_form(x, P) + q' @ x + huber(r[0], M=2)
subject to
  sum(x) == 1
  x[0:2] >= [0, -0.5]
""",
    """var X[3, 3]
var t
var z[4] nonneg
maximize log_det(X) - t + sum(log(z + 1e-3))
subject to
  X >> 0
  SOC(t, reshape(X, (9,)))
  cap: trace(X) <= 3
  ExpCone(z, z + 1, 2 * z)
  sum(X, axis=1) <= 1
  z ** 2 <= hstack([t, t, t, t])
""",
    """dim n
param w[n]
var x[n]
minimize log_sum_exp(x) + norm(x, 2) - min(x) + max(abs(x - w), axis=0) / n
subject to
  x' <= 2.5e1
  maximum(x, -x) <= 3
""",
]

VOCABULARY = [
    "dim", "param", "var", "let", "minimize", "maximize", "subject", "to", "in", "nonneg", "nonpos",
    "SOC", "PSD", "ExpCone", "True", "False", "x", "A", "b", "n", "m", "lam", "t", "X", "r", "z",
    "sum", "norm1", "norm", "huber", "reshape", "hstack", "log_det", "quad_form", "maximum", "foo",
    "0", "1", "-1", "2.5", "1e-3", "3", "99999999999", ".5", "1e400",
    "+", "-", "*", "/", "@", "**", "'", "==", "<=", ">=", ">>", "<<", "=", "<", "!", "(", ")", "[", "]",
    ",", ":", "::", "#", "\n", " ", '"fro"', '"', "axis=1", "keepdims=True", "M=2", "\t", "\r\n", "λ",
    "9" * 5000, "1" + "0" * 19, "-" + "9" * 19, "0" * 400 + "3", "1e99999",
]
TOKEN = re.compile(r"\s+|#[^\n]*|[^\W\d]\w*|\d+\.?\d*(?:[eE][+-]?\d+)?|\*\*|==|<=|>=|>>|<<|.", re.S)
DIMS = {0: {"m": 5, "n": 3}, 3: {"n": 4}}


def check(text: str, dims: dict) -> None:
    """The property every input must satisfy (see the module docstring)."""
    try:
        problem = parse(text, filename="fuzz.opt", **dims)
    except OptSourceError as error:
        message = str(error)
        assert message.startswith("fuzz.opt")
        if error.location is not None:
            head, source, caret = message.split("\n")[:3]
            assert head.startswith(f"fuzz.opt:{error.line}:{error.column}: ")
            assert source == "  " + error.location.source_line
            assert error.location.source_line == text.split("\n")[error.line - 1].removesuffix("\r")
            assert 1 <= error.column <= len(error.location.source_line) + 1
            assert caret.endswith("^") and len(caret) == error.column + 2
        return
    written, data = problem.to_opt(with_data=True)
    again = parse(written)
    if not data:
        assert again == problem
    try:
        problem.check_dcp()
    except DCPError:
        pass


@st.composite
def mutated(draw):
    """A seed model with one to four token edits: replace, delete, insert, duplicate or swap."""
    index = draw(st.integers(0, len(SEEDS) - 1))
    tokens = TOKEN.findall(SEEDS[index])
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(tokens) - 1))
        edit = draw(st.sampled_from(["replace", "delete", "insert", "duplicate", "swap"]))
        if edit == "replace":
            tokens[where] = draw(st.sampled_from(VOCABULARY))
        elif edit == "delete" and len(tokens) > 1:
            del tokens[where]
        elif edit == "insert":
            tokens.insert(where, draw(st.sampled_from(VOCABULARY)))
        elif edit == "duplicate":
            tokens.insert(where, tokens[where])
        else:
            other = draw(st.integers(0, len(tokens) - 1))
            tokens[where], tokens[other] = tokens[other], tokens[where]
    return "".join(tokens), DIMS.get(index, {})


def soup(size: int):
    """Text made of language fragments, in any order."""
    return st.lists(st.sampled_from(VOCABULARY), max_size=size).map(" ".join)


def random_bytes(size: int):
    return st.binary(max_size=size).map(lambda raw: raw.decode("latin-1"))


def fuzz(examples: int):
    return settings(
        max_examples=examples, derandomize=True, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


#: Models nested ``d`` deep by one construct; the parser's limit is 100.
NESTED = {
    "parentheses": lambda d: "var x\nminimize " + "(" * d + "x" + ")" * d,
    "calls": lambda d: "var x\nminimize " + "abs(" * d + "x" + ")" * d,
    "lists": lambda d: "var x\nminimize x + sum(" + "[" * d + "1" + "]" * d + ")",
    "index lists": lambda d: "var x[3]\nminimize sum(x[" + "[" * d + "0" + "]" * d + "])",
    "subscripts": lambda d: "var x[3]\nminimize sum(x" + "[0:3]" * d + ")",
    "negations": lambda d: "var x\nminimize " + "-" * d + "x",
    "products": lambda d: "var x\nminimize x" + " * 2" * d,
    "powers": lambda d: "var x\nminimize x" + " ** 1" * d,
    "transposes": lambda d: "var x[3]\nminimize sum(x" + "'" * d + ")",
    "lets": lambda d: "var x\nlet a0 = abs(x)\n" + "".join(f"let a{i} = abs(a{i - 1})\n" for i in range(1, d))
    + f"minimize a{d - 1}\n",
    "a long sum": lambda d: "var x\nminimize " + " + ".join(["abs(x)"] * d * 10),
    "unclosed": lambda d: "var x\nminimize " + "(" * d + "x",
}


@st.composite
def nested(draw, deepest: int):
    """A model nested up to ``deepest`` deep by one construct, maybe cut short at a random place."""
    text = NESTED[draw(st.sampled_from(sorted(NESTED)))](draw(st.integers(95, deepest)))
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


def check_file(raw: bytes, directory: Path) -> None:
    """``load`` of a file holding ``raw``: what ``parse`` gives for its UTF-8 text, else ``OptEncodingError``
    at the first byte that is not UTF-8 (the replacement character of its decoding stands there)."""
    path = directory / "fuzz.opt"
    path.write_bytes(raw)
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(OptEncodingError) as caught:
            load(path)
        error = caught.value
        assert str(error).startswith(f"{path}:{error.line}:{error.column}: the file is not UTF-8 text")
        lines = body.decode("utf-8", errors="replace").split("\n")
        assert lines[error.line - 1].removesuffix("\r")[error.column - 1] == "\ufffd"
        assert "\ufffd" not in "\n".join(lines[: error.line - 1]) + lines[error.line - 1][: error.column - 1]
        return
    try:
        loaded = load(path)
    except OptSourceError as error:
        with pytest.raises(type(error)) as again:
            parse(text, filename=str(path))
        assert str(again.value) == str(error)
        return
    assert loaded == parse(text)


@st.composite
def file_bytes(draw):
    """A seed model as bytes, with bytes that are not UTF-8 spliced in (or as latin-1), or random bytes."""
    kind = draw(st.sampled_from(["spliced", "latin-1", "random", "bom"]))
    if kind == "random":
        return draw(st.binary(max_size=200))
    raw = SEEDS[draw(st.sampled_from([1, 2]))].encode("utf-8")
    if kind == "bom":
        return codecs.BOM_UTF8 + raw
    if kind == "latin-1":
        return raw.decode("utf-8").replace("sum", draw(st.sampled_from(["süm", "sum", "sœm"])), 1).encode(
            "latin-1", errors="replace")
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, len(raw)))
        raw = raw[:where] + draw(st.binary(min_size=1, max_size=3)) + raw[where:]
    return raw


@pytest.fixture(scope="module")
def directory():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@fuzz(1500)
@given(mutated())
def test_mutated_models_raise_only_typed_errors(case):
    check(*case)


@fuzz(500)
@given(soup(40))
def test_fragment_soup_raises_only_typed_errors(text):
    check(text, {})


@fuzz(250)
@given(st.text(max_size=120))
def test_random_text_raises_only_typed_errors(text):
    check(text, {})


@fuzz(150)
@given(random_bytes(200))
def test_random_bytes_raise_only_typed_errors(text):
    check(text, {})


@fuzz(120)
@given(nested(2000))
def test_deep_nesting_raises_only_typed_errors(text):
    check(text, {})


@fuzz(150)
@given(file_bytes())
def test_files_that_are_not_utf8_raise_only_typed_errors(directory, raw):
    check_file(raw, directory)


def test_seed_models_parse_and_round_trip():
    for index, text in enumerate(SEEDS):
        problem = parse(text, **DIMS.get(index, {}))
        assert parse(problem.to_opt()) == problem


@pytest.mark.slow
@fuzz(70_000)
@given(mutated())
def test_mutated_models_many(case):
    check(*case)


@pytest.mark.slow
@fuzz(20_000)
@given(soup(60))
def test_fragment_soup_many(text):
    check(text, {})


@pytest.mark.slow
@fuzz(10_000)
@given(st.one_of(st.text(max_size=300), random_bytes(300)))
def test_random_input_many(text):
    check(text, {})


@pytest.mark.slow
@fuzz(2_000)
@given(nested(5_000))
def test_deep_nesting_many(text):
    check(text, {})


@pytest.mark.slow
@fuzz(5_000)
@given(file_bytes())
def test_files_many(directory, raw):
    check_file(raw, directory)
