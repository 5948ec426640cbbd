"""Every lecture's reveal.js deck (``make slides``), opened from disk in headless Chromium with the network blocked.

For each deck: no console error and no failed or off-disk request; math rendered (no TeX left as text, no
MathJax error); every figure loaded, and as many as the notebook shows on its slides; the speaker notes
are its cells tagged ``notes``; Space walks from the first slide to the last, through every fragment; no
slide is taller or wider than the 1280x720 slide (each one that is, is named). One browser page serves
every deck. Screenshots of the first content slide of three lectures: ``_build/screenshots/slides-NN.png``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, SCREENSHOTS
from sitecheck import load_site_build, raw_tex

pytestmark = pytest.mark.browser

_spec = importlib.util.spec_from_file_location("gancourse_site_slides", ROOT / "site" / "slides.py")
slides = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slides)

LECTURES = slides.lectures()
SCREENSHOT_OF = ("01", "03", "08")  # the first content slide of these lectures is saved for a person to look at

# Prose of every slide (hidden ones too), without code, MathJax's output, scripts and speaker notes.
_PROSE_JS = """() => {
  const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'MJX-CONTAINER', 'ASIDE']);
  const walker = document.createTreeWalker(document.querySelector('.reveal .slides'), NodeFilter.SHOW_TEXT);
  const out = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let hidden = false;
    for (let p = node.parentElement; p; p = p.parentElement) {
      if (skip.has(p.tagName) || p.classList.contains('highlight')) { hidden = true; break; }
    }
    if (!hidden && node.textContent.trim()) out.push(node.textContent);
  }
  return out.join('\\n');
}"""

_READY_JS = """async () => {
  while (!(window.Reveal && Reveal.isReady())) await new Promise(r => setTimeout(r, 50));
  await MathJax.startup.promise;
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  const rendered = () => [...views].filter(s => s.parentElement.querySelector('.jupyter-widgets')).length;
  const t0 = Date.now();
  while (rendered() < views.length && Date.now() - t0 < 15000) await new Promise(r => setTimeout(r, 100));
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(r => { img.onload = img.onerror = r; setTimeout(r, 5000); })));
  await document.fonts.ready;
  Reveal.configure({transition: 'none', backgroundTransition: 'none'});
  return {views: views.length, rendered: rendered()};
}"""

# Every slide laid out at once (reveal.js hides the distant ones: shown here for the measure, fragments
# included, as they take their room before they appear); the ones taller or wider than the slide.
_OVERFLOW_JS = """() => {
  const {width, height} = Reveal.getConfig();
  const style = document.createElement('style');
  style.textContent = '.reveal .slides section { display: block !important; }';
  document.head.appendChild(style);
  const over = [];
  for (const s of Reveal.getSlides()) {
    const i = Reveal.getIndices(s);
    if (s.scrollHeight > height + 1 || s.scrollWidth > width + 1)
      over.push(`slide ${i.h}/${i.v} is ${s.scrollWidth}x${s.scrollHeight}: ` +
                JSON.stringify(s.innerText.trim().slice(0, 50)));
  }
  style.remove();
  return over;
}"""

_IMAGES_JS = """() => [...document.querySelectorAll('.reveal .slides img')].map(img =>
  ({src: (img.getAttribute('src') || '').slice(0, 60), loaded: img.complete && img.naturalWidth > 0}))"""

_STATE_JS = """() => { const i = Reveal.getIndices(); const f = Reveal.availableFragments();
  return [i.h, i.v, i.f === undefined ? -1 : i.f, Reveal.isLastSlide() && !f.next]; }"""


@pytest.fixture(scope="module")
def decks():
    """The decks, built (only what changed) from the committed notebooks."""
    if not slides.vendor_ready():
        if shutil.which("npm") is None:
            pytest.skip(load_site_build().NO_NPM)
        pytest.fail(slides.NO_VENDOR)
    return {p.name: p for p in slides.build(quiet=True)}


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    tab = context.new_page()
    tab.problems = []

    def on_route(route):
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            tab.problems.append(f"request leaves the disk (slides must work offline): {route.request.url[:120]}")
            route.abort()

    tab.on("console", lambda msg: msg.type == "error" and tab.problems.append(f"console error: {msg.text[:200]}"))
    tab.on("pageerror", lambda err: tab.problems.append(f"uncaught exception: {str(err)[:200]}"))
    tab.on("requestfailed", lambda req: req.url.startswith("file:") and tab.problems.append(
        f"failed request: {req.url.rsplit('/', 1)[-1][:80]} ({req.failure})"))
    tab.route("**/*", on_route)
    yield tab
    context.close()


def _shown_figures(nb: dict) -> int:
    """Figures the deck shows: image outputs of the cells that are neither skipped nor speaker notes."""
    return sum(any(m in out.get("data", {}) for m in slides.IMAGE_MIMES)
               for cell in nb["cells"] if cell["cell_type"] == "code"
               and cell["metadata"].get("slideshow", {}).get("slide_type") not in ("skip", "notes")
               for out in cell.get("outputs", []))


@pytest.mark.parametrize("lecture", LECTURES, ids=lambda p: p.stem)
def test_deck_presents_its_lecture_offline(decks, page, lecture):
    deck = decks[f"{lecture.stem}.slides.html"]
    nb = json.loads(lecture.read_text(encoding="utf-8"))
    slides.mark_notebook(nb)  # the slide types the deck was built with
    page.problems.clear()
    page.goto(deck.resolve().as_uri(), wait_until="load")
    widgets = page.evaluate(_READY_JS)
    problems = page.problems
    if widgets["rendered"] < widgets["views"]:
        problems.append(f"{widgets['views'] - widgets['rendered']} of {widgets['views']} widgets did not render")

    found = raw_tex(page.evaluate(_PROSE_JS))
    if found:
        problems.append(f"TeX shown as text (MathJax did not render it): {found}")
    errors = page.locator("mjx-merror").all_inner_texts()
    if errors:
        problems.append(f"MathJax errors: {errors[:3]}")

    images = page.evaluate(_IMAGES_JS)
    problems += [f"image did not load: {img['src'] or '(no src)'}" for img in images if not img["loaded"]]
    if len(images) < _shown_figures(nb):
        problems.append(f"the notebook shows {_shown_figures(nb)} figures on its slides, the deck {len(images)}")

    notes = sum(c["metadata"].get("slideshow", {}).get("slide_type") == "notes" for c in nb["cells"])
    if page.locator(".reveal aside.notes").count() != notes:
        problems.append(f"{notes} notes cells, {page.locator('.reveal aside.notes').count()} speaker notes")

    problems += page.evaluate(_OVERFLOW_JS)

    # Space: the next fragment, else the next slide (vertical before horizontal), as a presenter's clicker.
    # One press per slide and per fragment must end on the last slide with nothing left to show.
    presses = page.evaluate("() => Reveal.getTotalSlides() - 1 + document.querySelectorAll('.reveal .slides .fragment').length")
    page.locator(".reveal").focus()
    page.keyboard.type(" " * presses)  # one key press per slide and fragment
    h, v, fragment, at_end = page.evaluate(_STATE_JS)
    if not at_end:
        total = page.evaluate("() => Reveal.getTotalSlides()")
        problems.append(f"{presses} presses of Space stopped on slide {h}/{v} (fragment {fragment}), "
                        f"number {page.evaluate('() => Reveal.getSlidePastCount() + 1')} of {total}, not at the end")

    if lecture.name[:2] in SCREENSHOT_OF:  # the first slide after the title, every fragment shown
        first = page.evaluate("() => Reveal.getIndices(Reveal.getSlides()[1])")
        page.evaluate(f"() => Reveal.slide({first['h']}, {first['v']}, 99)")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"slides-{lecture.name[:2]}.png"))
    page.evaluate("() => document.fonts.ready")  # nothing still loading when the page moves on
    assert not problems, f"{deck.name}:\n  " + "\n  ".join(problems)
