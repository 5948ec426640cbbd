"""benchmarks/robust.py: the table of checked claims that change under other seeds or threads.

The re-execution itself costs minutes per lecture (``make robust``); here the comparison runs on two
small notebooks written by hand: one as committed, one as a variant's executed copy.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("robust", ROOT / "benchmarks" / "robust.py")
robust = importlib.util.module_from_spec(spec)
sys.modules["robust"] = robust  # dataclasses look their module up by name
spec.loader.exec_module(robust)


def _notebook(path: Path, checked: str, unchecked: str = "loss 0.123\n", tag: bool = False) -> Path:
    first = "# NBVAL_CHECK_OUTPUT\nprint(claims)" if not tag else "print(claims)"
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["nbval-check-output"]} if tag else {}, "execution_count": 1,
         "source": first, "outputs": [{"output_type": "stream", "name": "stdout", "text": checked}]},
        {"cell_type": "code", "metadata": {}, "execution_count": 2, "source": "print(loss)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": unchecked}]},
    ]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_a_flipped_claim_is_reported_with_each_variants_value(tmp_path):
    stored = _notebook(tmp_path / "04_x.ipynb", "modes at least 6: True\nFD below 200 (0x7f00): True\n")
    same = _notebook(tmp_path / "same.ipynb", "modes at least 6: True\nFD below 200 (0x7e11): True\n", "loss 9.9\n")
    flipped = _notebook(tmp_path / "flip.ipynb", "modes at least 6: False\nFD below 200 (0x7f00): True\n")
    v1, v2 = robust.Variant(seed=1), robust.Variant(seed=0, threads=2)
    runs = {v1: {"04_x.ipynb": (flipped, None)}, v2: {"04_x.ipynb": (same, None)}}
    rows = robust.flips([stored], runs, robust.sanitizer())
    # the address differs but is sanitized; the unchecked cell's change is not a claim
    assert rows == [("04", 0, "modes at least 6: True", {v1: "False"})]


def test_a_failed_lecture_and_a_missing_line_are_reported(tmp_path):
    stored = _notebook(tmp_path / "05_x.ipynb", "claim A: True\nclaim B: True\n", tag=True)
    short = _notebook(tmp_path / "short.ipynb", "claim A: True\n", tag=True)
    empty = _notebook(tmp_path / "empty.ipynb", "", tag=True)
    v1, v2 = robust.Variant(seed=1), robust.Variant(seed=2)
    runs = {v1: {"05_x.ipynb": (short, None)}, v2: {"05_x.ipynb": (empty, "RuntimeError: boom")}}
    rows = robust.flips([stored], runs, robust.sanitizer())
    assert rows[0] == ("05", 0, "claim A: True", {v2: "FAILED"})
    assert rows[1] == ("05", 0, "claim B: True", {v1: "(missing)", v2: "FAILED"})


def test_the_table_names_every_variant(tmp_path, capsys):
    v1 = robust.Variant(seed=1)
    robust.print_table([("04", 16, "share at least 70%: True", {v1: "False"})], [v1, robust.Variant(threads=2)])
    out = capsys.readouterr().out
    assert "seed=1" in out and "seed=0,threads=2" in out and "share at least 70%: True" in out and "False" in out
    robust.print_table([], [v1])
    assert "held under every variant" in capsys.readouterr().out


@pytest.mark.parametrize("text, variant", [("seed=1", robust.Variant(1, 1)), ("threads=2", robust.Variant(0, 2)),
                                           ("seed=2,threads=2", robust.Variant(2, 2))])
def test_variants_parse(text, variant):
    assert robust.Variant.parse(text) == variant


def test_a_bad_variant_is_refused():
    with pytest.raises(Exception, match="a variant is seed=N"):
        robust.Variant.parse("seeds=1")
