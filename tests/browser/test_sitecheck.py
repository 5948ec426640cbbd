"""The site checker itself, on small synthetic pages: it passes a sound page and names each breakage."""

from __future__ import annotations

import base64

import pytest
from sitecheck import check_page, figures_missing, image_outputs, link_problem, raw_tex

# A 1x1 PNG, so that a sound page has an image that loads.
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def _code_cell(source: str, outputs=(), count=1) -> dict:
    return {"cell_type": "code", "source": source, "outputs": list(outputs), "execution_count": count,
            "metadata": {}}


def _figure() -> dict:
    return {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
            "metadata": {}}


def test_raw_tex_finds_what_mathjax_left_and_spares_plain_prose():
    assert raw_tex("D* = 1/2 and the JSD is log 2; costs $5 or $6.") == []
    assert raw_tex("the value $$V(D, G)$$ here") == ["$$", "$$"]
    assert raw_tex(r"where \frac{1}{2} is") == [r"\frac"]
    assert raw_tex(r"the density $p_\text{data}$ of") == [r"$p_\text{data}$"]
    assert raw_tex(r"inline \(x\) and display \[y\]") == [r"\(", r"\["]


def test_link_problem_resolves_files_folders_and_anchors(tmp_path):
    (tmp_path / "a.html").write_text('<h1 id="top">A</h1><a name="old"></a>')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "index.html").write_text("<p>sub</p>")
    uri = tmp_path.resolve().as_uri()
    assert link_problem(f"{uri}/a.html", tmp_path) is None
    assert link_problem(f"{uri}/a.html#top", tmp_path) is None
    assert link_problem(f"{uri}/a.html#old", tmp_path) is None
    assert link_problem(f"{uri}/sub/", tmp_path) is None
    assert link_problem("https://arxiv.org/abs/1406.2661", tmp_path) is None  # leaves the site: not followed
    assert "missing file: b.html" in link_problem(f"{uri}/b.html", tmp_path)
    assert "missing anchor: a.html#nowhere" in link_problem(f"{uri}/a.html#nowhere", tmp_path)
    assert "leaves the site" in link_problem(tmp_path.parent.resolve().as_uri() + "/x.html", tmp_path)


def test_figures_missing_names_a_drawing_cell_without_its_figure():
    nb = {"cells": [
        _code_cell("fig, ax = plt.subplots()\nax.plot([1, 2])", [_figure()]),
        _code_cell("ax = plot_game_1d(x, p)", []),  # the figure's output removed
        _code_cell("def show():\n    plot_game_1d(x, p)", []),  # only defines: draws nothing yet
        _code_cell("image_grid(x)", [], count=None),  # never executed (an exercise): nothing expected
        _code_cell("MinimaxDance(h, p)", [{"output_type": "display_data", "metadata": {},
                                           "data": {"application/vnd.jupyter.widget-view+json": {}}}]),
    ]}
    missing = figures_missing(nb)
    assert len(missing) == 1 and missing[0].startswith("cell 1 draws (plot_game_1d)")
    assert image_outputs(nb) == 1


@pytest.fixture()
def page_dir(tmp_path):
    (tmp_path / "pixel.png").write_bytes(PIXEL)
    (tmp_path / "other.html").write_text('<html><body><h2 id="sec">Section</h2></body></html>')
    return tmp_path


def _write(page_dir, body: str):
    path = page_dir / "page.html"
    path.write_text(f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>")
    return path


@pytest.fixture(scope="module")
def context(browser):
    ctx = browser.new_context()
    yield ctx
    ctx.close()


SOUND = ('<p>Prose with a price of $5.</p><pre>r"$\\frac{1}{2}$" in code is fine</pre>'
         '<div class="cell_output"><img src="pixel.png"></div><a href="other.html#sec">next</a>')


@pytest.mark.browser
def test_a_sound_page_passes(context, page_dir):
    assert check_page(context, _write(page_dir, SOUND), page_dir, figures=1) == []


@pytest.mark.browser
@pytest.mark.parametrize("breakage, expected", [
    ('<img src="gone.png">', "image did not load: gone.png"),
    ('<a href="missing.html">x</a>', "link to a missing file: missing.html"),
    ('<a href="other.html#nope">x</a>', "link to a missing anchor: other.html#nope"),
    ("<p>$$V(D, G)$$</p>", "TeX shown as text"),
    ('<script src="absent.js"></script>', "failed request: /absent.js"),
    ('<script src="https://cdn.example.org/mathjax.js"></script>', "request leaves the disk"),
    ("<script>undefinedFunction()</script>", "uncaught exception"),
    ('<script>console.error("boom")</script>', "console error: boom"),
])
def test_each_breakage_is_named(context, page_dir, breakage, expected):
    problems = check_page(context, _write(page_dir, SOUND + breakage), page_dir, figures=1)
    assert any(expected in p for p in problems), problems


@pytest.mark.browser
def test_a_page_with_fewer_figures_than_its_notebook_fails(context, page_dir):
    problems = check_page(context, _write(page_dir, SOUND), page_dir, figures=2)
    assert problems == ["the notebook stores 2 figures, the page shows 1"]
