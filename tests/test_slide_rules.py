"""site/slides.py: the rules that turn a lecture into a talk, on small synthetic notebooks, and the lectures' marks.

The decks themselves are checked in a browser by tests/browser/test_slides.py.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import struct
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gancourse_site_slides", ROOT / "site" / "slides.py")
slides = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slides)


def md(text: str, tags=()) -> dict:
    return {"cell_type": "markdown", "metadata": {"tags": list(tags)} if tags else {}, "source": text}


def code(text: str, outputs=(), tags=()) -> dict:
    return {"cell_type": "code", "metadata": {"tags": list(tags)} if tags else {}, "source": text,
            "outputs": list(outputs), "execution_count": 1}


def printed(lines: int) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": "".join(f"line {k}\n" for k in range(lines))}


def png(width: int, height: int) -> dict:
    """A display_data output holding a real PNG header of the given size (the estimate reads only that)."""
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = header + struct.pack(">I", zlib.crc32(header[12:]))
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(data).decode(), "text/plain": "<Figure>"}}


def test_headings_start_slides_and_short_cells_share_them():
    cells = [md("# Lecture 99: a title\n\nWhat we do today."), code("x = 1\nprint(x)", [printed(1)]),
             md("## 1. A section\n\nSome prose."), code("y = 2"), md("### A subsection"), code("z = 3")]
    assert slides.slide_types(cells) == ["slide", "-", "slide", "-", "subslide", "-"]


def test_an_import_wall_is_skipped_and_a_short_import_is_not():
    wall = code("import math\n\nimport numpy as np\nimport torch\n\nfrom gancourse.config import (\n"
                "    seed_everything,\n    device,\n)\nfrom gancourse.viz import plot_x\n")
    short = code("import math\nprint(math.pi)", [printed(1)])
    assert slides.is_setup(wall) and not slides.is_setup(short)
    assert slides.slide_types([md("# T"), wall, short]) == ["slide", "skip", "-"]
    assert slides.slide_types([md("# T"), code("")]) == ["slide", "skip"]


def test_a_derivation_gets_a_slide_of_its_own():
    derivation = md("So\n$$a = b$$\nand therefore\n$$b = c.$$")
    assert slides.is_derivation(derivation) and not slides.is_derivation(md("One $$x$$ only."))
    types = slides.slide_types([md("## S"), md("Prose."), derivation, code("check = 1"), code("more = 2")])
    assert types == ["slide", "-", "subslide", "subslide", "-"]


def test_a_figure_is_a_fragment_when_it_fits_and_a_new_slide_when_not():
    small, tall = png(800, 300), png(1000, 900)
    assert slides.slide_types([md("## S"), code("plot()", [small])]) == ["slide", "fragment"]
    crowded = [md("## S"), code("\n".join(f"a{k} = {k}" for k in range(14)), [printed(4)]), code("plot()", [tall])]
    assert slides.slide_types(crowded) == ["slide", "-", "subslide"]


def test_tags_override_the_rules_and_two_slide_tags_are_an_error():
    cells = [md("# T"), md("An aside for the speaker.", tags=["notes"]), code("x = 1", tags=["subslide"]),
             md("## Section", tags=["continue"]), code("y = 2", tags=["skip"])]
    assert slides.slide_types(cells) == ["slide", "notes", "subslide", "-", "skip"]
    with pytest.raises(ValueError, match="two slide tags"):
        slides.slide_types([md("x", tags=["skip", "notes"])])


def test_markdown_blocks_keep_fences_and_equations_whole_and_split_lists():
    text = ("Text before\n$$x = 1$$\nText after\n\n```python\n# not a heading\n\nstill code\n```\n"
            "- one\n  continued\n- two\n\n\\begin{align}\na &= b \\\\\nc &= d\n\\end{align}")
    assert slides.markdown_blocks(text) == [
        "Text before", "$$x = 1$$", "Text after", "```python\n# not a heading\n\nstill code\n```",
        "- one\n  continued", "- two", "\\begin{align}\na &= b \\\\\nc &= d\n\\end{align}"]
    assert slides.heading_level(md("```\n# comment\n```")) == 0
    assert slides.heading_level(md("\n### Three")) == 3


def test_tall_cells_continue_on_the_next_slides_in_the_deck_only():
    long_md = md("## Section\n\n" + "\n\n".join(f"Paragraph {k}. " + "word " * 60 for k in range(8))
                 + "\n\n## Another section inside\n\nShort.")
    tall_code = code("# NBVAL_CHECK_OUTPUT\n" + "\n\n".join("\n".join(f"v{k}_{j} = {j}" for j in range(6))
                                                           for k in range(6)), [printed(12)])
    nb = {"cells": [long_md, tall_code], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    slides.mark_notebook(nb)
    deck = slides.split_tall_cells(nb)
    kinds = [c["metadata"]["slideshow"]["slide_type"] for c in deck["cells"]]
    texts = [slides.source(c) for c in deck["cells"]]
    assert kinds[0] == "slide" and "subslide" in kinds[1:]
    inner = next(k for k, t in enumerate(texts) if t.startswith("## Another section inside"))
    assert kinds[inner] == "slide"  # a heading inside a cell starts its own slide
    assert "".join(texts[:inner + 1]).count("Paragraph") == 8  # nothing lost
    code_parts = [c for c in deck["cells"] if c["cell_type"] == "code"]
    assert len(code_parts) >= 3 and all(slides.cell_height(c) <= slides.BUDGET for c in code_parts)
    assert not any("NBVAL" in slides.source(c) for c in code_parts)
    assert code_parts[-1]["outputs"] == tall_code["outputs"] and slides.OUTPUT_ONLY in code_parts[-1]["metadata"]["tags"]
    assert slides.source(nb["cells"][1]).startswith("# NBVAL_CHECK_OUTPUT")  # the notebook keeps its cell


def test_marking_changes_metadata_only_and_is_idempotent(tmp_path):
    nb = {"cells": [md("# T\n\nIntro."), code("x = 1", [printed(2)]), md("## S", tags=["notes"])],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "99_t.ipynb"
    path.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    assert slides.mark(path) == 3
    marked = json.loads(path.read_text(encoding="utf-8"))
    for before, after in zip(nb["cells"], marked["cells"]):
        assert {k: v for k, v in after.items() if k != "metadata"} == {k: v for k, v in before.items() if k != "metadata"}
        assert after["metadata"].get("tags") == before["metadata"].get("tags")
    assert [c["metadata"]["slideshow"]["slide_type"] for c in marked["cells"]] == ["slide", "-", "notes"]
    assert slides.mark(path) == 0


@pytest.mark.parametrize("path", slides.lectures(), ids=lambda p: p.name)
def test_every_lecture_is_marked_as_a_talk(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    unmarked = [k for k, c in enumerate(nb["cells"]) if "slide_type" not in c["metadata"].get("slideshow", {})]
    assert not unmarked, (f"{path.name}: cells {unmarked} have no slide type: run `python site/slides.py mark "
                          f"lectures/{path.name}` (or `make slides`)")
    count = slides.count_slides(nb)
    low = 5 if path.name.startswith("00_") else 15  # lecture 00 (setup) is a short talk; the others 19-35
    assert low <= count <= 45, f"{path.name}: {count} slides; a lecture reads as a talk of about 20-40"


def test_the_site_links_a_lecture_page_to_its_slides():
    _build_spec = importlib.util.spec_from_file_location("gancourse_site_build", ROOT / "site" / "build.py")
    build = importlib.util.module_from_spec(_build_spec)
    _build_spec.loader.exec_module(build)
    nb = {"cells": [code("x = 1"), md("# Lecture 99: a title\n\nIntro.")], "metadata": {}, "nbformat": 4,
          "nbformat_minor": 5}
    staged = json.loads(build.with_slides_link(json.dumps(nb).encode(), "99_t.ipynb"))
    lines = slides.source(staged["cells"][1]).splitlines()
    assert lines[0] == "# Lecture 99: a title" and 'href="../slides/99_t.slides.html"' in lines[2]
    assert lines[-1] == "Intro." and staged["cells"][0] == nb["cells"][0]
