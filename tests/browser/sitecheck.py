"""What a learner would see as broken on a page of the course site, checked in a real browser.

``check_page`` opens one HTML file from disk in a Playwright page with every request that is not a
``file:`` URL blocked (the site must work offline), waits for MathJax and the widgets, and returns
a list of problems, empty when the page is fine:

- a console error, an uncaught exception, a failed or blocked request;
- an ``<img>`` that did not load (natural width 0);
- TeX left as text (``$$``, ``\\frac``, ...) outside code, or a MathJax error box;
- a saved widget that did not render;
- a link inside the site that points at a missing file or a missing ``#anchor``.

``figures_missing`` reads the notebook behind a page: a cell that draws (calls ``plt.``, a
``plot_*`` helper or ``image_grid`` outside a ``def``) must have stored a figure for the page to show.

The pure parts (``raw_tex``, ``link_problem``, ``anchors``) are tested on small synthetic pages in
``test_sitecheck.py``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]


def load_site_build():
    """``site/build.py`` as a module (it is a script beside the Sphinx configuration, not package code)."""
    spec = importlib.util.spec_from_file_location("gancourse_site_build", ROOT / "site" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# TeX that MathJax should have turned into math: display delimiters, \( \[, and common commands.
_RAW_TEX = re.compile(
    r"\$\$|\\\(|\\\[|\\(?:frac|begin|end|mathrm|mathbb|mathcal|text|left|right|sum|int|log|nabla|partial|"
    r"sqrt|cdot|dots|infty|operatorname|mathbb|tfrac|dfrac|hat|tilde|bar)\b"
    r"|\$[^$\n]*\\[a-zA-Z]+[^$\n]*\$"
)

# Visible prose only: code, MathJax's own output and scripts may legitimately hold backslashes.
_PROSE_TEXT_JS = """
() => {
  const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'TEXTAREA', 'MJX-CONTAINER', 'NOSCRIPT']);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const out = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let el = node.parentElement, hidden = false;
    for (let p = el; p; p = p.parentElement) {
      if (skip.has(p.tagName) || p.classList.contains('highlight')) { hidden = true; break; }
    }
    if (hidden || !el.getClientRects().length) continue;
    if (node.textContent.trim()) out.push(node.textContent);
  }
  return out.join('\\n');
}
"""

_WAIT_JS = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  const t0 = Date.now();
  const rendered = () => [...views].filter(s => s.parentElement.querySelector('.jupyter-widgets')).length;
  while (rendered() < views.length && Date.now() - t0 < 15000) await new Promise(r => setTimeout(r, 100));
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(r => { img.onload = img.onerror = r; setTimeout(r, 5000); })));
  return {views: views.length, rendered: rendered()};
}
"""

_IMAGES_JS = """
() => [...document.images].map(img => ({src: img.getAttribute('src') || '', loaded: img.complete && img.naturalWidth > 0,
                                          visible: img.getClientRects().length > 0}))
"""

_LINKS_JS = "() => [...document.querySelectorAll('a[href]')].map(a => [a.getAttribute('href'), a.href])"


def raw_tex(text: str) -> list[str]:
    """The pieces of ``text`` that look like TeX MathJax did not render (at most 5, for the message)."""
    return [m.group(0)[:60] for m in _RAW_TEX.finditer(text)][:5]


class _Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


@lru_cache(maxsize=256)
def anchors(path: Path) -> frozenset[str]:
    """Every ``id`` (and ``<a name>``) in an HTML file: the targets a ``#fragment`` may name."""
    parser = _Anchors()
    parser.feed(Path(path).read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


def link_problem(resolved: str, site_root: Path) -> str | None:
    """Why a link (already resolved to an absolute URL by the browser) is broken, or None when fine.

    Links leaving the site (http, https, mailto) are not followed: the site is checked offline. A
    ``file:`` link must stay inside ``site_root``, name a file that exists (a folder means its
    ``index.html``) and, with a ``#fragment``, an element with that id.
    """
    parts = urlsplit(resolved)
    if parts.scheme in ("http", "https", "mailto", "javascript", "data", "blob"):
        return None
    if parts.scheme != "file":
        return f"unexpected link scheme {parts.scheme!r}: {resolved}"
    target = Path(unquote(parts.path))
    root = Path(site_root).resolve()
    try:
        target.resolve().relative_to(root)
    except ValueError:
        return f"link leaves the site: {resolved}"
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"link to a missing file: {target.relative_to(root) if target.is_relative_to(root) else target}"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in anchors(target):
        return f"link to a missing anchor: {target.relative_to(root)}#{fragment}"
    return None


_DRAWS = re.compile(r"^(plt\.\w+|plot_\w+|image_grid)$")
_IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _called_names(tree: ast.AST):
    """Dotted names of the calls made at the top level of a cell (not inside def, class or lambda)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                yield func.id
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                yield f"{func.value.id}.{func.attr}"
        yield from _called_names(node)


def image_outputs(nb: dict) -> int:
    """How many figures (image outputs) a notebook stores."""
    return sum(any(m in out.get("data", {}) for m in _IMAGE_MIMES)
               for cell in nb["cells"] if cell["cell_type"] == "code" for out in cell.get("outputs", []))


def figures_missing(nb: dict) -> list[str]:
    """Cells that draw a figure but store none (nor a widget): what a page of the notebook would lack."""
    missing = []
    for k, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code" or cell.get("execution_count") is None:
            continue  # not executed (an exercise): nothing is expected on the page
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        try:
            tree = ast.parse("\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))))
        except SyntaxError:
            continue
        draws = sorted({name for name in _called_names(tree) if _DRAWS.match(name)})
        shown = any(m in out.get("data", {}) for out in cell.get("outputs", []) for m in (*_IMAGE_MIMES, _WIDGET_MIME))
        if draws and not shown:
            first = src.strip().splitlines()[0][:60] if src.strip() else ""
            missing.append(f"cell {k} draws ({', '.join(draws)}) but stores no figure: {first!r}")
    return missing


def read_notebook(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def check_page(context, path: Path, site_root: Path, screenshot: Path | None = None, figures: int = 0) -> list[str]:
    """Open ``path`` (an HTML file under ``site_root``) in a new page of the Playwright browser
    ``context``; return what is broken on it. ``figures``: how many figures the page's notebook stores
    (the page must show at least as many in its cell outputs); ``screenshot``: where to save the page."""
    problems: list[str] = []
    root_uri = Path(site_root).resolve().as_uri()

    def on_console(msg):
        if msg.type == "error":
            problems.append(f"console error: {msg.text[:200]}")

    def on_failed(request):
        if request.url.startswith("file:"):
            problems.append(f"failed request: {request.url.removeprefix(root_uri)[:120]} ({request.failure})")

    def on_route(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            problems.append(f"request leaves the disk (the site must work offline): {url[:120]}")
            route.abort()

    page = context.new_page()
    page.on("console", on_console)
    page.on("pageerror", lambda err: problems.append(f"uncaught exception: {str(err)[:200]}"))
    page.on("requestfailed", on_failed)
    page.route("**/*", on_route)
    try:
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        widgets = page.evaluate(_WAIT_JS)
        if widgets["rendered"] < widgets["views"]:
            problems.append(f"{widgets['views'] - widgets['rendered']} of {widgets['views']} saved widgets "
                            "did not render")
        for img in page.evaluate(_IMAGES_JS):
            if not img["loaded"]:
                problems.append(f"image did not load: {img['src'][:100] or '(no src)'}")
        found = raw_tex(page.evaluate(_PROSE_TEXT_JS))
        if found:
            problems.append(f"TeX shown as text (MathJax did not render it): {found}")
        errors = page.locator("mjx-merror").all_inner_texts()
        if errors:
            problems.append(f"MathJax errors: {errors[:3]}")
        for href, resolved in page.evaluate(_LINKS_JS):
            why = link_problem(resolved, site_root)
            if why:
                problems.append(f"{why} (href={href!r})")
        shown = page.locator(".cell_output img").count()
        if shown < figures:
            problems.append(f"the notebook stores {figures} figures, the page shows {shown}")
        if screenshot is not None:
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
    finally:
        page.close()
    return problems
