"""Hints teach without handing over the answer: no stub and no early hint step contains a line of its solution.

For every solution block of every solution notebook: the stub the generator makes of its cell, and
the hint steps in ``gancourse.checks.hints`` it points to (all but the last, which may come close),
must not contain any line of the solution of 15 characters or more (whitespace ignored). Each stub
names the lecture that explains it and a hint key that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gancourse import notebooks as nbs
from gancourse.checks.hints import HINTS, hint

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _blocks(text: str):
    """(hint line, solution lines) for each block of a cell."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        if lines[i].strip() == nbs.BEGIN:
            j = i + 1
            while lines[j].strip() != nbs.END:
                j += 1
            body = lines[i + 1: j]
            hint_line = next((b.strip()[len(nbs.HINT):].strip() for b in body if b.strip().startswith(nbs.HINT)), "")
            code = [b.split("  #")[0].strip() for b in body if not b.strip().startswith("#")]
            out.append((hint_line, [c for c in code if len(c) >= 15]))
            i = j
        i += 1
    return out


def _cases():
    for path in SOLUTIONS:
        for k, cell in enumerate(nbs.read(path)["cells"]):
            text = nbs.source(cell)
            if cell["cell_type"] == "code" and nbs.BEGIN in text:
                yield pytest.param(path, text, id=f"{path.stem}-cell{k}")


def _leaks(solution_lines, text):
    squashed = _squash(text)
    return [line for line in solution_lines if _squash(line) in squashed]


@pytest.mark.parametrize("path, text", list(_cases()))
def test_no_stub_or_hint_contains_its_answer(path, text):
    stub = nbs.stub_source(text)
    for hint_line, solution in _blocks(text):
        assert hint_line, f"{path.name}: a block without a '### HINT:' line"
        assert re.search(r"lecture \d\d", hint_line), f"{path.name}: the hint names no lecture: {hint_line!r}"
        assert not _leaks(solution, hint_line), f"{path.name}: the hint gives the answer: {_leaks(solution, hint_line)}"
        assert not _leaks(solution, stub), f"{path.name}: the stub contains the answer: {_leaks(solution, stub)}"
        keys = re.findall(r"hint\('(\w+)'\)", hint_line)
        assert keys and all(k in HINTS for k in keys), f"{path.name}: hint key(s) {keys} not in checks.hints.HINTS"
        for key in keys:
            for step in HINTS[key][:-1]:
                assert not _leaks(solution, step), f"{path.name}: hint({key!r}) gives the answer before its last step"


def test_every_hint_key_is_used_by_a_stub():
    used = set()
    for path in SOLUTIONS:
        used |= set(re.findall(r"hint\('(\w+)'\)", nbs.dumps(nbs.read(path))))
    assert set(HINTS) <= used, f"hint keys no stub points to: {sorted(set(HINTS) - used)}"


def test_the_leak_detector_catches_a_leaking_hint():
    text = "def f(x):\n    ### BEGIN SOLUTION\n    ### HINT: return (x * 2).mean(dim=0)  lecture 01\n    return (x * 2).mean(dim=0)\n    ### END SOLUTION\n"
    (hint_line, solution), = _blocks(text)
    assert _leaks(solution, hint_line) == ["return (x * 2).mean(dim=0)"]
    assert _leaks(solution, "return(x*2).mean( dim = 0 )")  # whitespace does not hide it


def test_hint_steps_and_their_end(capsys):
    first = hint("gp")
    assert first.startswith("Hint 1/3 for 'gp'") and "hint('gp', 2)" in first
    assert "last hint" in hint("gp", 99)
    assert "Known keys" in hint("no-such-key")
    out = capsys.readouterr().out
    assert all(len(line) <= 100 for line in out.splitlines())
