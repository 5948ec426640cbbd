"""The static course site (``make site``), opened from disk in headless Chromium with the network blocked.

Every page: no console error, no failed or off-disk request, every image loaded, math rendered, saved
widgets rendered, every internal link and anchor resolves, and every figure its notebook draws is there.
The sidebar lists the lectures in the order of the README's lecture map, then exercises, then solutions.
Screenshots for a person to look at: ``_build/screenshots/site-*.png``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT, SCREENSHOTS
from sitecheck import check_page, figures_missing, image_outputs, load_site_build, read_notebook

pytestmark = pytest.mark.browser

SITE_BUILD = load_site_build()
NOTEBOOKS = SITE_BUILD.notebooks()  # {"lectures": [paths...], "exercises": [...], "solutions": [...]}
PAGES = ["index.html", "genindex.html", "search.html"] + [
    f"{folder}/{path.stem}.html" for folder, paths in NOTEBOOKS.items() for path in paths]
SCREENSHOT_OF = {"index.html": "site-index.png"}


@pytest.fixture(scope="module")
def context(browser, site):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


@pytest.mark.parametrize("page", PAGES)
def test_page_shows_what_its_notebook_holds(context, site, page):
    path = site.SITE / page
    assert path.is_file(), f"{page} was not built (is the notebook in the toctree of site/build.py?)"
    shot = SCREENSHOTS / SCREENSHOT_OF[page] if page in SCREENSHOT_OF else None
    notebook = ROOT / page.replace(".html", ".ipynb")
    nb = read_notebook(notebook) if notebook.is_file() else None
    problems = check_page(context, path, site.SITE, screenshot=shot, figures=image_outputs(nb) if nb else 0)
    if nb is not None:
        problems += figures_missing(nb)
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


def _lecture_map() -> list[str]:
    """Lecture file names in the order of the README's lecture table (rows whose notebook exists)."""
    table = SITE_BUILD.lecture_table((ROOT / "README.md").read_text(encoding="utf-8"))
    names = [m.group(1) for row in table for m in [re.search(r"\((lectures/[^)]+\.ipynb)\)", row)] if m]
    return [Path(n).name for n in names if (ROOT / n).is_file()]


def _built(site, folder: str) -> list[str]:
    """The notebooks of one section the site was built from, in file-name order (e.g. "01_x.ipynb")."""
    return [Path(p).name for p in site.built_notebooks() if p.startswith(folder + "/")]


def test_sidebar_follows_the_lecture_map(context, site):
    lectures = _built(site, "lectures")
    assert [name for name in _lecture_map() if name in lectures] == lectures, (
        "the README's lecture table and lectures/ disagree: every lecture needs a row, in file-name order")
    page = context.new_page()
    try:
        page.goto((site.SITE / "index.html").resolve().as_uri(), wait_until="load")
        sidebar = page.evaluate("""() => [...document.querySelectorAll('.sidebar-tree p.caption')].map(p => {
            let ul = p.nextElementSibling;
            return [p.innerText.trim(), [...ul.querySelectorAll(':scope > li > a')].map(a => a.getAttribute('href'))];
        })""")
    finally:
        page.close()
    expected = [(caption, [f"{folder}/{Path(name).stem}.html" for name in _built(site, folder)])
                for folder, caption in SITE_BUILD.SECTIONS if _built(site, folder)]
    assert [(c.title(), links) for c, links in sidebar] == expected


def test_no_page_without_a_notebook(site):
    built = {str(p.relative_to(site.SITE)) for folder, _ in SITE_BUILD.SECTIONS
             for p in (site.SITE / folder).glob("*.html")}
    assert built == {p.replace(".ipynb", ".html") for p in site.built_notebooks()}


def test_lecture_01_widget_renders_from_its_saved_state(context, site):
    """The scrubber of lecture 01 as a reader of the site sees it: slider, Play and the figure."""
    lecture = next((p for p in NOTEBOOKS["lectures"] if p.name.startswith("01_")), None)
    if lecture is None:
        pytest.skip("lectures/01_*.ipynb does not exist yet")
    if "widgets" not in read_notebook(lecture).get("metadata", {}):
        pytest.fail(f"{lecture.name} holds no saved widget state: execute it with `make notebooks-one`")
    page = context.new_page()
    try:
        page.goto((site.SITE / "lectures" / f"{lecture.stem}.html").resolve().as_uri(), wait_until="load")
        slider = page.locator(".widget-slider").first
        slider.wait_for(state="visible", timeout=15_000)
        box = page.locator(".cell_output .widget-vbox", has=slider).first
        box.scroll_into_view_if_needed()
        assert page.locator(".widget-play").first.is_visible()
        image = box.locator("img").first
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        box.screenshot(path=str(SCREENSHOTS / "site-01-widget.png"))
    finally:
        page.close()


def _widget_lectures() -> list[Path]:
    return [p for p in NOTEBOOKS["lectures"] if "SliderModel" in p.read_text(encoding="utf-8")]


@pytest.mark.parametrize("lecture", _widget_lectures(), ids=lambda p: p.stem[:2])
def test_every_site_slider_works_or_says_it_needs_a_kernel(context, site, lecture):
    """Each slider on a static page is moved: its figure changes, or the note beside it says it needs a kernel."""
    page = context.new_page()
    try:
        page.goto((site.SITE / "lectures" / f"{lecture.stem}.html").resolve().as_uri(), wait_until="load")
        page.locator(".widget-slider").first.wait_for(state="visible", timeout=15_000)
        cells = page.locator("div.cell").filter(has=page.locator(".widget-slider"))
        assert cells.count() >= 1
        for k in range(cells.count()):
            cell = cells.nth(k)
            cell.scroll_into_view_if_needed()
            image = cell.locator(".widget-vbox img").first
            image.wait_for(state="attached", timeout=15_000)
            before = image.get_attribute("src")
            handle = cell.locator(".noUi-handle").first.bounding_box()  # a drag: the site's arrow keys turn pages
            x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 40, y, steps=5)
            page.mouse.up()
            page.wait_for_timeout(300)
            assert page.url.endswith(f"{lecture.stem}.html"), f"moving slider {k} left the page for {page.url}"
            note = cell.locator("p.widget-note")
            if image.get_attribute("src") == before:
                assert note.count() == 1 and note.first.is_visible(), (
                    f"{lecture.stem}: slider {k} moved, the figure did not change, and no note says it needs a kernel")
                assert "kernel" in note.first.inner_text()
            if k == 0:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                cell.screenshot(path=str(SCREENSHOTS / f"site-{lecture.stem[:2]}-widget-note.png"))
    finally:
        page.close()


def test_wide_display_math_scrolls_instead_of_being_clipped(context, site):
    lecture = next((p for p in NOTEBOOKS["lectures"] if p.name.startswith("02_")), None)
    if lecture is None:
        pytest.skip("lectures/02_*.ipynb does not exist yet")
    page = context.new_page()
    try:
        page.set_viewport_size({"width": 900, "height": 900})  # a laptop's half screen
        page.goto((site.SITE / "lectures" / f"{lecture.stem}.html").resolve().as_uri(), wait_until="load")
        page.wait_for_function("() => document.querySelectorAll('mjx-container[display=\"true\"]').length > 0",
                               timeout=20_000)
        clipped = page.evaluate("""() => [...document.querySelectorAll('mjx-container[display="true"]')].filter(m => {
            const wide = m.scrollWidth > m.clientWidth + 1;
            const scrolls = ['auto', 'scroll'].includes(getComputedStyle(m).overflowX);
            return wide && !scrolls;
        }).map(m => m.textContent.slice(0, 60))""")
        assert not clipped, f"display equations cut off on the right: {clipped}"
    finally:
        page.close()
