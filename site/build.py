"""Build the course's static site: the committed, executed notebooks as HTML that opens from disk.

    python site/build.py vendor   unpack the pinned browser scripts (site/vendor.json) from the npm registry
    python site/build.py stage    write the Sphinx source tree: index from the README, the notebooks
    python site/build.py html     vendor (if needed) + stage + sphinx-build; the site lands in _build/site/,
                                  with every lecture's slides (site/slides.py) in _build/site/slides/

Sphinx with myst-nb renders the notebooks without executing them (their stored outputs are what nbval
checks). By default every notebook-to-site tool loads MathJax and the widget scripts from a CDN, so a
page read offline shows raw TeX and no widgets: ``vendor`` fetches them once with ``npm pack`` (checking
each tarball's sha512 against the pin) into ``_build/site-static/vendor/``, which Sphinx copies under
``_static/``. ``make site-vendor`` and ``make site`` call this script; the browser tests build with
``html --offline`` (they never download).
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = ROOT / "site"
BUILD = ROOT / "_build"
STATIC = BUILD / "site-static"  # html_static_path: its vendor/ lands at _static/vendor/
VENDOR = STATIC / "vendor"
SOURCE = BUILD / "site-src"
SITE = BUILD / "site"
DOCTREES = BUILD / "site-doctrees"
MANIFEST = BUILD / "site-notebooks.json"  # the notebooks of the last build, e.g. "lectures/01_x.ipynb"
SECTIONS = (("lectures", "Lectures"), ("exercises", "Exercises"), ("solutions", "Solutions"))
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"


# --------------------------------------------------------------------------------------------
# Vendored browser scripts
# --------------------------------------------------------------------------------------------


def _pins() -> dict:
    return json.loads((CONF_DIR / "vendor.json").read_text(encoding="utf-8"))


def vendored() -> bool:
    """True when ``_build/site-static/vendor/`` holds exactly the pinned packages."""
    stamp = VENDOR / "vendor.json"
    return stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")) == _pins()


def _sha512(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _copy_member(tar: tarfile.TarFile, prefix: str, target: Path, skip: list[str]) -> int:
    """Extract every regular file under ``package/<prefix>`` to ``target``; return how many."""
    count = 0
    root = f"package/{prefix}"
    for member in tar.getmembers():
        if not member.isfile() or not (member.name == root or member.name.startswith(root + "/")):
            continue
        rel = member.name[len(root):].lstrip("/")
        if ".." in Path(rel).parts or any(fnmatch.fnmatch(Path(member.name).name, s) for s in skip):
            continue
        dest = target / rel if rel else target
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tar.extractfile(member) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
        count += 1
    if count == 0:
        raise ValueError(f"nothing under {root!r} in the tarball: check the 'copy' map in site/vendor.json")
    return count


NO_NPM = ("npm not found: the site serves MathJax and the widget scripts itself and takes them from the "
          "npm registry; install Node.js with npm (Debian/Ubuntu: apt-get install npm).")


def vendor(force: bool = False, optional: bool = False) -> None:
    """Fetch the pinned npm packages with ``npm pack`` and unpack the files the site serves.

    ``optional``: without npm, say so and return (``make test``: the site tests then skip).
    """
    if vendored() and not force:
        print(f"vendored scripts up to date in {VENDOR.relative_to(ROOT)}/")
        return
    npm = shutil.which("npm")
    if npm is None:
        if optional:
            print(f"warning: {NO_NPM} The site's browser tests will be skipped.", file=sys.stderr)
            return
        raise SystemExit(NO_NPM)
    pins = _pins()
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    VENDOR.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        for pkg in pins["packages"]:
            spec = f"{pkg['name']}@{pkg['version']}"
            out = subprocess.run([npm, "pack", spec, "--json", "--pack-destination", tmp],
                                 capture_output=True, text=True, cwd=tmp)
            if out.returncode != 0:
                raise SystemExit(f"npm pack {spec} failed:\n{out.stderr.strip()}")
            tarball = Path(tmp) / json.loads(out.stdout)[0]["filename"]
            digest = _sha512(tarball)
            if digest != pkg["integrity"]:
                raise SystemExit(f"{spec}: the tarball's sha512 is {digest}, site/vendor.json pins "
                                 f"{pkg['integrity']}. Refusing to serve a file that differs from the pin.")
            with tarfile.open(tarball, "r:gz") as tar:
                files = sum(_copy_member(tar, src, VENDOR / dst, pkg.get("skip", []))
                            for src, dst in pkg["copy"].items())
            print(f"vendored {spec}: {files} files")
    (VENDOR / "vendor.json").write_text(json.dumps(pins, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------
# The Sphinx source tree
# --------------------------------------------------------------------------------------------

_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+\.ipynb)\)")


def lecture_table(readme: str) -> list[str]:
    """The lines of the README's lecture table (the first table whose header starts ``| # |``)."""
    lines = readme.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\|\s*#\s*\|", line):
            table = []
            for row in lines[i:]:
                if not row.startswith("|"):
                    break
                table.append(row)
            return table
    raise ValueError("README.md has no lecture table (a table whose header starts with '| # |').")


def notebooks(root: Path = ROOT) -> dict[str, list[Path]]:
    """The course's notebooks by section, each section in file-name (lecture) order."""
    return {folder: sorted((root / folder).glob(NOTEBOOK_GLOB)) for folder, _ in SECTIONS}


def index_markdown(readme: str, existing: set[str]) -> str:
    """The landing page: the README's title, first paragraph and lecture table, then the toctrees.

    A row's link stays a link when its notebook exists (``existing`` holds paths like
    ``lectures/01_minimax_game.ipynb``); otherwise the name stays as plain text.
    """
    lines = readme.splitlines()
    title = next(line for line in lines if line.startswith("# "))
    body = lines[lines.index(title) + 1:]
    while body and not body[0].strip():
        body.pop(0)
    intro = []
    for line in body:
        if not line.strip():
            break
        intro.append(line)

    def relink(match: re.Match) -> str:
        text, target = match.group(1), match.group(2)
        return f"[{text}]({target})" if target in existing else text

    table = [_LINK.sub(relink, row) for row in lecture_table(readme)]
    parts = [title, "", *intro, "", "## Lectures", "", *table, "",
             "Each lecture from 01 on has an exercise notebook (a few functions to write, each followed "
             "by a check cell) and its solved twin: both are in the sidebar, after the lectures.", ""]
    for folder, caption in SECTIONS:
        entries = sorted(p for p in existing if p.startswith(folder + "/"))
        if entries:
            parts += ["```{toctree}", ":hidden:", f":caption: {caption}", "",
                      *[e[: -len(".ipynb")] for e in entries], "```", ""]
    return "\n".join(parts)


def _slides_module():
    """``site/slides.py`` (a script beside this one, not package code), loaded by path."""
    spec = importlib.util.spec_from_file_location("gancourse_site_slides", CONF_DIR / "slides.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def slides_link(notebook_name: str) -> str:
    """The line under a lecture page's title that opens the lecture's slides (copied into the site)."""
    stem = notebook_name.removesuffix(".ipynb")
    return (f'<p class="slides-link"><a href="../slides/{stem}.slides.html">Slides of this lecture</a>: '
            "the talk version, opens offline (arrow keys to move, S for the speaker notes).</p>")


def with_slides_link(raw: bytes, notebook_name: str) -> bytes:
    """A lecture notebook's bytes with the slides link inserted right after its first heading."""
    nb = json.loads(raw.decode("utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        lines = ("".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]).split("\n")
        at = next((k for k, line in enumerate(lines) if line.startswith("# ")), None)
        if at is None:
            continue
        lines[at + 1:at + 1] = ["", slides_link(notebook_name), ""]
        cell["source"] = "\n".join(lines)
        break
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ('<p class="widget-note"><strong>Needs a running kernel:</strong> on this static page the slider '
               'moves but the figure stays as it was saved. Open the notebook in JupyterLab (<code>make lab</code>) '
               'and run it to explore.</p>')
_TITLE = re.compile(r"^# (Lecture|Exercise|Solution) (\d\d)\s*(?:—|–|-|:)\s*", re.M)


def for_the_site(raw: bytes, folder: str) -> bytes:
    """A notebook's bytes as the site shows them (the committed file is not touched).

    Titles read ``# Lecture NN: ...`` (one separator throughout), a solution page is titled
    ``Solution NN: ...`` (its exercise page keeps ``Exercise NN: ...``), and every widget output with
    a slider gets a note saying the slider needs a kernel: the saved widget renders, but the Python that
    redraws its figure does not run on a static page.
    """
    nb = json.loads(raw.decode("utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            kind = "Solution" if folder == "solutions" else None
            new = _TITLE.sub(lambda m: f"# {kind or m.group(1)} {m.group(2)}: ", text, count=1)
            if new != text:
                cell["source"] = new
            continue
        outputs = []
        for out in cell.get("outputs", []):
            outputs.append(out)
            text = "".join(out.get("data", {}).get("text/plain", ""))
            if WIDGET_VIEW in out.get("data", {}) and ("Slider" in text or text.startswith("Interactive figure")):
                outputs.append({"output_type": "display_data", "metadata": {}, "data": {"text/html": WIDGET_NOTE}})
        if "outputs" in cell:
            cell["outputs"] = outputs
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def stage(root: Path = ROOT, source: Path = SOURCE) -> list[str]:
    """Write the Sphinx source tree (index.md + copies of the notebooks); return the notebooks staged.

    A lecture's copy gets a link to its slides under its title, every copy :func:`for_the_site`'s titles and
    widget notes (the committed notebooks are not touched).
    """
    found = notebooks(root)
    existing = {f"{folder}/{p.name}" for folder, paths in found.items() for p in paths}
    source.mkdir(parents=True, exist_ok=True)
    for folder, _ in SECTIONS:
        dest = source / folder
        dest.mkdir(exist_ok=True)
        for stale in dest.glob("*.ipynb"):
            if f"{folder}/{stale.name}" not in existing:
                stale.unlink()
        for path in found[folder]:
            target = dest / path.name
            staged = for_the_site(path.read_bytes(), folder)
            if folder == "lectures":
                staged = with_slides_link(staged, path.name)
            if not target.exists() or target.read_bytes() != staged:
                target.write_bytes(staged)  # only what changed, so Sphinx rebuilds only those pages
    index = index_markdown((root / "README.md").read_text(encoding="utf-8"), existing)
    target = source / "index.md"
    if not target.exists() or target.read_text(encoding="utf-8") != index:
        target.write_text(index, encoding="utf-8")
    return sorted(existing)


def built_notebooks() -> list[str]:
    """The notebooks the last build rendered (paths like ``lectures/01_minimax_game.ipynb``)."""
    return json.loads(MANIFEST.read_text(encoding="utf-8")) if MANIFEST.is_file() else []


def html(offline: bool = False, quiet: bool = True) -> Path:
    """Build the site into ``_build/site/``; return the path of its landing page."""
    if not vendored():
        if offline:
            raise SystemExit("the site's browser scripts are not vendored yet: run `make site-vendor` "
                             "(it needs the npm registry once), then build again.")
        vendor()
    staged = stage()
    manifest = MANIFEST
    if not manifest.is_file() or json.loads(manifest.read_text(encoding="utf-8")) != staged:
        # a notebook came or went: every page's sidebar changes and a removed page must not linger
        shutil.rmtree(SITE, ignore_errors=True)
        shutil.rmtree(DOCTREES, ignore_errors=True)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(CONF_DIR), "-d", str(DOCTREES),
           "--keep-going", str(SOURCE), str(SITE)]
    if quiet:
        cmd.insert(3, "-q")
    subprocess.run(cmd, check=True, cwd=ROOT)
    slides = _slides_module()
    slides.build(quiet=quiet)  # the lecture pages link them: they travel with the site
    shutil.copytree(slides.OUT, SITE / "slides", dirs_exist_ok=True, ignore=shutil.ignore_patterns("stamps.json"))
    manifest.write_text(json.dumps(staged, indent=1) + "\n", encoding="utf-8")
    print(f"site: {len(staged)} notebooks -> {(SITE / 'index.html').relative_to(ROOT)}")
    return SITE / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["vendor", "stage", "html"])
    parser.add_argument("--offline", action="store_true", help="fail instead of downloading the vendored scripts")
    parser.add_argument("--force", action="store_true", help="vendor again even when up to date")
    parser.add_argument("--optional", action="store_true", help="without npm, warn instead of failing")
    args = parser.parse_args(argv)
    if args.step == "vendor":
        vendor(force=args.force, optional=args.optional)
    elif args.step == "stage":
        print("\n".join(stage()))
    else:
        html(offline=args.offline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
