"""Every lecture as a talk: slide metadata by rules, and reveal.js decks that open from disk.

    python site/slides.py mark [NOTEBOOK ...]   set each cell's metadata.slideshow.slide_type (default: lectures/)
    python site/slides.py build [--offline]     write _build/slides/NN_*.slides.html from the committed notebooks
    python site/slides.py count                 slides per lecture, as the decks will show them

``mark`` assigns a slide type to every cell (RISE in JupyterLab and nbconvert's reveal.js exporter both
read ``metadata.slideshow.slide_type``) by these rules, first match wins:

1. a cell tag overrides: ``slide``, ``subslide``, ``fragment``, ``continue`` (same slide), ``skip``, ``notes``;
2. an empty cell, or a setup cell (at least 6 code lines, most of them imports), is ``skip``;
3. a markdown cell opening with a ``#`` or ``##`` heading starts a ``slide``, one with ``###`` a ``subslide``;
4. a derivation (a markdown cell with two or more display equations) gets a ``subslide`` of its own,
   and the cell after it starts a new one;
5. a code cell that draws a figure (or a widget) is a ``fragment`` of the current slide when both fit on
   the screen together, else it starts a ``subslide``;
6. any other cell stays on the current slide (``-``) while the slide's estimated height fits, else it
   starts a ``subslide``.

To adjust a lecture, tag the cell (JupyterLab: the property inspector, "Cell tags") and run ``mark``
again (``make slides`` does): the rules are re-applied and the tags win. Only cell metadata changes;
sources and outputs are never touched.

``build`` exports each lecture as it is committed (nothing is executed; the rules re-applied in memory, so
a deck never depends on a stale mark) with nbconvert's slides exporter
and ``site/slides-template/``: reveal.js, MathJax and the widget scripts come from the pinned npm
packages of ``site/vendor.json`` (``site/build.py vendor`` fetches them), copied beside the decks, so a
deck works opened from disk with no network. A markdown cell too tall for one slide is split at its
paragraphs into consecutive slides (in the deck only; the notebook keeps the cell whole), and a cell
tagged ``notes`` becomes speaker notes (press S in the deck).
"""

from __future__ import annotations

import argparse
import ast
import base64
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import struct
import sys
from contextlib import contextmanager
from copy import deepcopy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE_DIR = ROOT / "site"
TEMPLATE = SITE_DIR / "slides-template"
VENDOR = ROOT / "_build" / "site-static" / "vendor"  # where site/build.py unpacks the pinned packages
OUT = ROOT / "_build" / "slides"
LECTURE_GLOB = "[0-9][0-9]_*.ipynb"

# The slide the decks are laid out for (reveal.js scales it to the screen) and what fits on it. Heights
# are estimates in CSS pixels of slides.css's sizes (body text 24 px, code 18 px); the browser test
# measures the real ones.
WIDTH, HEIGHT = 1280, 720
BUDGET = 640  # estimated content height a slide may hold (the rest: padding, rounding of the estimates)
TEXT_LINE, TEXT_CHARS = 32, 92  # body text: px per line, characters per line
CODE_LINE, CODE_CHARS = 24, 104  # code and printed output: px per line, characters per line (wrapped)
IMAGE_MAX = 500  # slides.css caps a figure's height at this
WIDGET_HEIGHT = 520

SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
TAGS = {"slide": "slide", "subslide": "subslide", "fragment": "fragment", "continue": "-",
        "skip": "skip", "notes": "notes"}
IMAGE_MIMES = ("image/png", "image/jpeg")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


# --------------------------------------------------------------------------------------------
# Reading cells
# --------------------------------------------------------------------------------------------


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def heading_level(cell: dict) -> int:
    """The level of the heading a markdown cell opens with (0: none). Headings inside code fences are code."""
    if cell["cell_type"] != "markdown":
        return 0
    for line in source(cell).splitlines():
        if line.strip():
            match = re.match(r"^(#{1,6})\s", line)
            return len(match.group(1)) if match else 0
    return 0


_DISPLAY = re.compile(r"\$\$(.+?)\$\$|\\begin\{(align|equation|gather)\*?\}(.+?)\\end\{\2\*?\}", re.S)


def display_equations(cell: dict) -> list[str]:
    """The display equations of a markdown cell (``$$...$$`` and align/equation/gather environments)."""
    if cell["cell_type"] != "markdown":
        return []
    return [m.group(1) or m.group(3) for m in _DISPLAY.finditer(source(cell))]


def is_derivation(cell: dict) -> bool:
    return len(display_equations(cell)) >= 2


def is_setup(cell: dict) -> bool:
    """A code cell of at least 6 lines, most of them imports: on a slide it would be a wall of imports."""
    if cell["cell_type"] != "code":
        return False
    text = source(cell)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    imports = sum(node.end_lineno - node.lineno + 1 for node in tree.body
                  if isinstance(node, (ast.Import, ast.ImportFrom)))
    return len(lines) >= 6 and imports >= 0.6 * len(lines)


def draws(cell: dict) -> bool:
    """A code cell whose stored output is a figure or a widget."""
    return cell["cell_type"] == "code" and any(
        m in out.get("data", {}) for out in cell.get("outputs", []) for m in (*IMAGE_MIMES, WIDGET_MIME))


def tag_override(cell: dict) -> str | None:
    """The slide type a cell's tags ask for, or None. Two slide tags on one cell are a mistake."""
    found = [TAGS[t] for t in cell.get("metadata", {}).get("tags", []) if t in TAGS]
    if len(set(found)) > 1:
        raise ValueError(f"a cell carries two slide tags {found}: keep one. Cell starts: {source(cell)[:60]!r}")
    return found[0] if found else None


# --------------------------------------------------------------------------------------------
# How tall a cell is on a slide (an estimate; the browser test measures)
# --------------------------------------------------------------------------------------------


def _wrapped(text: str, chars: int) -> int:
    return sum(max(1, math.ceil(len(line) / chars)) for line in text.splitlines()) if text else 0


def markdown_blocks(text: str) -> list[str]:
    """A markdown cell's blocks (paragraphs, list items, headings, display equations, code fences), in order.

    Blank lines separate blocks; a heading, a list item, a display equation (``$$ ... $$`` or an
    ``\\begin{align}`` environment, even inside a paragraph) and a code fence are blocks of their own,
    so that a tall cell can be split between slides at any of them.
    """
    blocks: list[str] = []
    current: list[str] = []
    closing = None  # inside a code fence or a display equation: what ends it

    def flush():
        if current and any(line.strip() for line in current):
            blocks.append("\n".join(current))
        current.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if closing is not None:
            current.append(line)
            if (closing == "```" and stripped.startswith("```")) or (closing != "```" and stripped.endswith(closing)):
                closing = None
                flush()
            continue
        if not stripped:
            flush()
            continue
        begin = re.match(r"^\\begin\{(\w+\*?)\}", stripped)
        if stripped.startswith("```") or stripped.startswith("$$") or begin:
            flush()
            current.append(line)
            if stripped.startswith("```"):
                closing = "```"
            elif begin:
                end = f"\\end{{{begin.group(1)}}}"
                closing = None if stripped.endswith(end) else end
            else:
                closing = None if len(stripped) > 2 and stripped.endswith("$$") else "$$"
            if closing is None:
                flush()
            continue
        if re.match(r"^(\s{0,3}[-*+]\s|\s{0,3}\d+[.)]\s|#{1,6}\s)", line):
            flush()  # a list item or a heading starts a block
        current.append(line)
        if re.match(r"^#{1,6}\s", line):
            flush()
    flush()
    return blocks


def block_height(block: str) -> int:
    """Estimated height of one markdown block, in px."""
    first = block.lstrip()
    if first.startswith("```"):
        return 20 + CODE_LINE * max(1, len(block.splitlines()) - 2)
    match = re.match(r"^(#{1,6})\s", first)
    if match:
        return {1: 76, 2: 62, 3: 52}.get(len(match.group(1)), 44)
    if first.startswith("$$") or first.startswith("\\begin"):
        rows = block.count("\\\\") + 1
        tall = "\\frac" in block or "\\sum" in block or "\\int" in block or "\\underbrace" in block
        return 24 + rows * (56 if tall else 40)
    if first.startswith("|"):
        return 36 * sum(1 for line in block.splitlines() if not re.match(r"^\|[\s:|-]+\|$", line.strip()))
    text = re.sub(r"\$[^$]+\$", lambda m: "x" * max(1, len(m.group(0)) // 2), block)  # math is terser
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)  # a link shows its text only
    text = " ".join(line.strip() for line in text.splitlines())
    inline_tall = 6 if "\\frac" in block else 0
    return 14 + TEXT_LINE * max(1, math.ceil(len(text) / TEXT_CHARS)) + inline_tall


def _png_size(data: str) -> tuple[int, int] | None:
    raw = base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4))
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", raw[16:24])


def output_height(out: dict) -> int:
    if out["output_type"] == "stream":
        return 12 + CODE_LINE * _wrapped("".join(out.get("text", "")), CODE_CHARS)
    data = out.get("data", {})
    if WIDGET_MIME in data:
        return WIDGET_HEIGHT
    for mime in IMAGE_MIMES:
        if mime in data:
            payload = data[mime] if isinstance(data[mime], str) else "".join(data[mime])
            size = _png_size(payload) if mime == "image/png" else None
            width, height = size if size else (WIDTH, IMAGE_MAX)
            scale = min(1.0, (WIDTH - 80) / width)
            return 16 + min(IMAGE_MAX, int(height * scale))
    if "text/html" in data:
        html = "".join(data["text/html"])
        return 20 + 34 * max(1, html.count("<tr"))
    if "text/plain" in data:
        return 12 + CODE_LINE * _wrapped("".join(data["text/plain"]), CODE_CHARS)
    if out["output_type"] == "error":
        return 12 + CODE_LINE * min(12, len(out.get("traceback", [])))
    return 0


def cell_height(cell: dict) -> int:
    """Estimated height of a cell on a slide, in px."""
    if cell["cell_type"] == "markdown":
        return sum(block_height(b) for b in markdown_blocks(source(cell)))
    if cell["cell_type"] != "code":
        return 0
    shown = OUTPUT_ONLY not in cell.get("metadata", {}).get("tags", [])
    code = 20 + CODE_LINE * _wrapped(source(cell).rstrip("\n"), CODE_CHARS) if shown else 0
    return code + sum(output_height(out) for out in cell.get("outputs", []))


# --------------------------------------------------------------------------------------------
# Cells taller than a slide: what the deck shows instead (the notebook keeps them whole)
# --------------------------------------------------------------------------------------------

OUTPUT_ONLY = "slides-output-only"  # set by split_tall_cells on a code cell's continuation: input hidden


def _continuation(cell: dict, k: int, source_text: str | None = None, outputs: list | None = None) -> dict:
    part = deepcopy(cell)
    if "id" in part:
        part["id"] = f"{cell['id'][:60]}-{k}"
    if source_text is not None:
        part["source"] = source_text
    if outputs is not None:
        part["outputs"] = outputs
    part.setdefault("metadata", {})["slideshow"] = {"slide_type": "subslide"}
    return part


def code_chunks(text: str) -> list[str]:
    """A code cell's source cut at its blank lines that precede an unindented line (top-level statements)."""
    lines = text.splitlines()
    chunks, current = [], []
    for k, line in enumerate(lines):
        if not line.strip() and current and k + 1 < len(lines) and lines[k + 1].strip() \
                and not lines[k + 1].startswith((" ", "\t", ")", "]", "}")):
            chunks.append("\n".join(current).strip("\n"))
            current = []
            continue
        current.append(line)
    if "\n".join(current).strip():
        chunks.append("\n".join(current).strip("\n"))
    return chunks


def _split_code(cell: dict, budget: int) -> list[dict]:
    """A tall code cell as consecutive cells: its code in slide-sized pieces, then its outputs."""
    def code_height(text):
        return 20 + CODE_LINE * _wrapped(text, CODE_CHARS)

    groups: list[list[str]] = [[]]
    height = 0
    for chunk in code_chunks(source(cell)):
        h = code_height(chunk) + CODE_LINE
        if groups[-1] and height + h > budget:
            groups.append([])
            height = 0
        groups[-1].append(chunk)
        height += h
    outputs = cell.get("outputs", [])
    out_height = sum(output_height(out) for out in outputs)
    parts = []
    for k, group in enumerate(groups):
        part = deepcopy(cell) if k == 0 else _continuation(cell, k)
        part["source"] = "\n\n".join(group)
        part["outputs"] = []
        parts.append(part)
    if outputs and height + out_height <= budget:
        parts[-1]["outputs"] = outputs
    elif outputs:
        rest = _continuation(cell, len(parts), source_text="", outputs=outputs)
        rest["metadata"]["tags"] = [*rest["metadata"].get("tags", []), OUTPUT_ONLY]
        parts.append(rest)
    return parts


_NBVAL_MARK = re.compile(r"^# NBVAL_\w+[ \t]*\n?", re.M)


_LIST_ITEM = re.compile(r"^\s{0,3}([-*+]|\d+[.)])\s")


def _block_groups(blocks: list[str]) -> list[list[str]]:
    """Blocks that belong on one slide: a list with the paragraph that leads into it (ending in ':')."""
    groups: list[list[str]] = []
    for block in blocks:
        item = _LIST_ITEM.match(block)
        if groups and item and (_LIST_ITEM.match(groups[-1][-1]) or groups[-1][-1].rstrip().endswith(":")):
            groups[-1].append(block)
        else:
            groups.append([block])
    return groups


def _markdown_pieces(cell: dict, budget: int) -> list[dict]:
    """A markdown cell as the slides it fills: cut before each heading after its first block, and
    between blocks where a slide is full, keeping a list with its lead-in when they fit on one slide.
    A piece opening with ``#``/``##`` starts a slide, the others a subslide."""
    chunks: list[list[str]] = [[]]
    height = 0
    for group in _block_groups(markdown_blocks(source(cell))):
        h = sum(block_height(b) for b in group)
        if h > budget:  # a list taller than a slide: its items go one by one
            units = [[b] for b in group]
        else:
            units = [group]
        for unit in units:
            h = sum(block_height(b) for b in unit)
            if chunks[-1] and (height + h > budget or re.match(r"^#{1,6}\s", unit[0])):
                chunks.append([])
                height = 0
            chunks[-1].extend(unit)
            height += h
    if len(chunks) == 1:
        return [cell]
    first = deepcopy(cell)
    first["source"] = "\n\n".join(chunks[0])
    parts = [first]
    for k, chunk in enumerate(chunks[1:], 1):
        part = _continuation(cell, k, "\n\n".join(chunk))
        if heading_level(part) in (1, 2):
            part["metadata"]["slideshow"]["slide_type"] = "slide"
        parts.append(part)
    return parts


def pieces(cell: dict, budget: int = BUDGET) -> list[dict]:
    """The cells a deck shows for ``cell``: itself, or, when taller than a slide, consecutive pieces.

    A markdown cell is cut at its blocks (and before any heading inside it); a code cell shows its code,
    cut between top-level statements when taller than a slide, then its outputs on the next slide when
    they do not fit beside it (``slides-output-only``: input hidden). Each continuation starts a
    ``subslide``. A cell shown as notes or skipped stays whole. nbval's ``# NBVAL_...`` marker lines are
    left out of the code shown: they are for the tests, not for the audience.
    """
    if cell["cell_type"] == "code" and _NBVAL_MARK.search(source(cell)):
        cell = deepcopy(cell)
        cell["source"] = _NBVAL_MARK.sub("", source(cell))
    kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")
    if kind in ("skip", "notes"):
        return [cell]
    if cell["cell_type"] == "markdown":
        return _markdown_pieces(cell, budget)
    if cell["cell_type"] == "code" and cell_height(cell) > budget:
        return _split_code(cell, budget)
    return [cell]


def split_tall_cells(nb: dict, budget: int = BUDGET) -> dict:
    """A copy of ``nb`` with every cell replaced by its :func:`pieces`: what the exporter is given."""
    nb = deepcopy(nb)
    nb["cells"] = [part for cell in nb["cells"] for part in pieces(cell, budget)]
    return nb


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------


def slide_types(cells: list[dict], budget: int = BUDGET) -> list[str]:
    """The slide type of every cell by the rules of the module's docstring."""
    types: list[str] = []
    height = 0  # estimated height of the slide being filled
    new_after = False  # the last shown cell (a derivation) wants the next one on a slide of its own
    for cell in cells:
        parts = pieces(cell, budget)
        first, last = cell_height(parts[0]), cell_height(parts[-1])
        chosen = tag_override(cell)
        if chosen is None:
            level = heading_level(cell)
            if not source(cell).strip() or is_setup(cell):
                chosen = "skip"
            elif level in (1, 2):
                chosen = "slide"
            elif level >= 3 or is_derivation(cell) or new_after or not types:
                chosen = "subslide" if types else "slide"
            elif draws(cell):
                chosen = "fragment" if height + first <= budget else "subslide"
            else:
                chosen = "-" if height + first <= budget else "subslide"
        if chosen in ("slide", "subslide"):
            height = first if len(parts) == 1 else last
        elif chosen in ("-", "fragment"):
            height = height + first if len(parts) == 1 else last
        if chosen not in ("skip", "notes"):
            new_after = is_derivation(cell) and bool(display_equations(parts[-1]))
        types.append(chosen)
    return types


def mark_notebook(nb: dict) -> int:
    """Set ``metadata.slideshow.slide_type`` of every cell of ``nb`` in place; return how many changed."""
    changed = 0
    for cell, kind in zip(nb["cells"], slide_types(nb["cells"])):
        show = cell.setdefault("metadata", {}).setdefault("slideshow", {})
        if show.get("slide_type") != kind:
            show["slide_type"] = kind
            changed += 1
    return changed


def _write_json(path: Path, nb: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def mark(path: Path) -> int:
    """Mark one notebook file (metadata only: sources and outputs are written back as read)."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    changed = mark_notebook(nb)
    if changed:
        _write_json(Path(path), nb)
    return changed


def lectures(root: Path = ROOT) -> list[Path]:
    return sorted((root / "lectures").glob(LECTURE_GLOB))


# --------------------------------------------------------------------------------------------
# The deck: what the exporter is given
# --------------------------------------------------------------------------------------------


def deck_types(nb: dict) -> list[str]:
    """The slide type of every cell the exporter sees (after splitting), as nbconvert resolves them."""
    types = [c.get("metadata", {}).get("slideshow", {}).get("slide_type", "-") for c in nb["cells"]]
    for k, kind in enumerate(types):
        if kind not in ("notes", "skip"):
            types[k] = "slide"  # the exporter makes the first shown cell a slide
            break
    return types


def count_slides(nb: dict) -> int:
    """How many slides (reveal.js sections: slides and subslides) the deck of ``nb`` has."""
    nb = deepcopy(nb)
    mark_notebook(nb)
    return sum(kind in ("slide", "subslide") for kind in deck_types(split_tall_cells(nb)))


# --------------------------------------------------------------------------------------------
# Building the decks
# --------------------------------------------------------------------------------------------

VENDORED = ("mathjax", "reveal.js", "requirejs", "html-manager")
NO_VENDOR = ("reveal.js and MathJax are not vendored yet: run `make site-vendor` (it fetches the pinned "
             "packages of site/vendor.json from the npm registry once), then build again.")


@contextmanager
def _lock(path: Path):
    """One build at a time (two test processes may ask for the decks together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _exporter():
    from nbconvert import SlidesExporter  # Jupyter's own exporter (installed with JupyterLab)

    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {OUTPUT_ONLY}
    exporter = SlidesExporter(config=config, extra_template_paths=[str(TEMPLATE)], template_file="deck.html.j2")
    exporter.reveal_width, exporter.reveal_height = str(WIDTH), str(HEIGHT)
    exporter.reveal_transition = "slide"
    exporter.exclude_input_prompt = exporter.exclude_output_prompt = True
    exporter.anchor_link_text = ""
    return exporter


def vendor_ready() -> bool:
    return all((VENDOR / name).is_dir() for name in VENDORED)


def _copy_vendor(out: Path) -> None:
    stamp = out / "vendor" / "vendor.json"
    source_stamp = VENDOR / "vendor.json"
    if stamp.is_file() and stamp.read_bytes() == source_stamp.read_bytes():
        return
    shutil.rmtree(out / "vendor", ignore_errors=True)
    for name in VENDORED:
        shutil.copytree(VENDOR / name, out / "vendor" / name)
    shutil.copy2(source_stamp, stamp)


def build(out: Path = OUT, notebooks: list[Path] | None = None, quiet: bool = False) -> list[Path]:
    """Write one deck per lecture into ``out`` (only those whose notebook or template changed)."""
    if not vendor_ready():
        raise SystemExit(NO_VENDOR)
    notebooks = lectures() if notebooks is None else notebooks
    support = [*TEMPLATE.rglob("*"), SITE_DIR / "static" / "slides.css", SITE_DIR / "static" / "widgets-offline.js",
               Path(__file__)]
    support = [p for p in support if p.is_file()]
    with _lock(ROOT / "_build" / ".slides.lock"):
        out.mkdir(parents=True, exist_ok=True)
        _copy_vendor(out)
        for name in ("slides.css", "widgets-offline.js"):
            shutil.copy2(SITE_DIR / "static" / name, out / name)
        stamps = out / "stamps.json"
        known = json.loads(stamps.read_text(encoding="utf-8")) if stamps.is_file() else {}
        exporter = None
        written = []
        for path in notebooks:
            target = out / f"{path.stem}.slides.html"
            key = _fingerprint([path, *support])
            if target.is_file() and known.get(path.name) == key:
                written.append(target)
                continue
            exporter = exporter or _exporter()
            import nbformat
            nb = json.loads(path.read_text(encoding="utf-8"))
            mark_notebook(nb)  # the rules and tags as they are now (RISE reads what `mark` wrote)
            nb = split_tall_cells(nb)
            node = nbformat.reads(json.dumps(nb), as_version=4)
            body, _ = exporter.from_notebook_node(node, resources={"metadata": {"name": path.stem}})
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_text(body, encoding="utf-8")
            os.replace(tmp, target)
            known[path.name] = key
            written.append(target)
            if not quiet:
                shown = sum(kind in ("slide", "subslide") for kind in deck_types(nb))
                print(f"slides: {target.relative_to(ROOT)} ({shown} slides)")
        current = {f"{p.stem}.slides.html" for p in lectures()} | {p.name for p in written}
        for stale in out.glob("*.slides.html"):
            if stale.name not in current:  # a lecture renamed or removed
                stale.unlink()
        stamps.write_text(json.dumps(known, indent=1) + "\n", encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["mark", "build", "count"])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lecture")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or lectures()
    if args.step == "mark":
        for path in paths:
            changed = mark(path)
            nb = json.loads(path.read_text(encoding="utf-8"))
            print(f"{path.name}: {count_slides(nb)} slides ({changed} cells changed)")
    elif args.step == "count":
        for path in paths:
            print(f"{path.name}: {count_slides(json.loads(path.read_text(encoding='utf-8')))} slides")
    else:
        build(notebooks=paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
