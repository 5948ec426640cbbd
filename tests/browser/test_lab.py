"""The widgets of lectures 01 and 02 in a real JupyterLab, driven by headless Chromium.

The test starts the server ``make lab`` starts (its command line comes from ``make -s lab-command``)
on a free localhost port with a token of its own, opens each lecture, clears and runs every cell in
the page, and checks that each widget renders (its slider, its Play button when it has one, its
figure) and that moving the slider redraws the figure (the image's bytes differ before and after).
Test-only JupyterLab settings (a temporary user-settings folder) turn autosave off, so the committed
notebook is never overwritten, and render every cell (no windowing). The server and its kernels are
stopped at the end, also when the test fails. Screenshots: ``_build/screenshots/lab-NN-widget.png``.
The same server presents lecture 01 with RISE (jupyterlab-rise) and advances a slide: ``rise-01-*.png``.
It also opens every lecture (a copy, so nothing committed is touched) with its kernel started, saves it
without running anything, and checks the file is byte-identical to the committed one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, SCREENSHOTS

pytestmark = pytest.mark.browser

# Lecture number -> must its widget have a Play button (MinimaxDance has one, the explorer does not).
LECTURES = {"01": True, "02": False}
SETTINGS = {  # JupyterLab user settings for the test's server only
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "autoStartDefaultKernel": True},
}
RUN_TIMEOUT_S = 300
_PROMPT_NUMBERED = re.compile(r"^\[\d+\]:?$")
_IMAGE_HASH_JS = """async img => {
  if (!img.src) return '';
  const bytes = await (await fetch(img.src)).arrayBuffer();
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map(b => b.toString(16).padStart(2, '0')).join('');
}"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc); kernels run in sessions of their own."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class LabServer:
    def __init__(self, port: int, token: str, proc: subprocess.Popen, log: Path):
        self.base, self.token, self.proc, self.log = f"http://127.0.0.1:{port}", token, proc, log

    def api(self, method: str, path: str, timeout: float = 10):
        request = urllib.request.Request(self.base + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's and kernels' output, without the server's routine [I ...] lines."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        kept = [line for line in text.splitlines() if not line.startswith("[I ")]
        return "\n".join(kept[-lines:])

    def kernels_idle(self) -> bool:
        return all(k["execution_state"] == "idle" for k in self.api("GET", "/api/kernels"))

    def shutdown_sessions(self) -> None:
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def stop(self) -> None:
        """Ask the server to shut down (it stops its kernels); then end its process group for sure."""
        below = _descendants(self.proc.pid)
        if self.proc.poll() is None:
            try:
                self.api("POST", "/api/shutdown", timeout=5)
                self.proc.wait(timeout=15)
            except (OSError, urllib.error.URLError, subprocess.TimeoutExpired):
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)  # the server runs in a session (and group) of its own
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        for pid in below:  # a kernel left behind would hold a core
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    for plugin, values in SETTINGS.items():
        path = tmp / "settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(24)
    command = subprocess.run(["make", "-s", "--no-print-directory", "lab-command", f"PORT={port}"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.strip()
    command += " --LabApp.expose_app_in_browser=True"  # window.jupyterapp: the open-and-save test drives it
    env = dict(os.environ, JUPYTER_TOKEN=token, JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    for key, value in {"GANCOURSE_FAST": "1", "GANCOURSE_CACHE": str(ROOT / ".cache" / "test"),
                       "GANCOURSE_DATA": str(ROOT / ".cache" / "data"), "TQDM_DISABLE": "1"}.items():
        env.setdefault(key, value)  # what make test sets, for a direct pytest run
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(shlex.split(command), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    server = LabServer(port, token, proc, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`{command}` exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                server.api("GET", "/api/status", timeout=2)
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within 120 s:\n{server.log_tail()}")
                time.sleep(0.5)
        yield server
    finally:
        server.stop()


def _wait(page, condition, timeout: float, what: str, interval: float = 0.5):
    """Poll ``condition`` until it returns something true. Sleeps through Playwright, not time.sleep:
    the sync API runs the page's route handlers only while a Playwright call is waiting."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        page.wait_for_timeout(interval * 1000)


def _menu(page, menu: str, command: str) -> None:
    page.locator("#jp-menu-panel .lm-MenuBar-itemLabel").get_by_text(menu, exact=True).click()
    page.locator(f'.lm-Menu-item[data-command="{command}"]').click()


def _run_all(page, lab, timeout: float) -> list[str]:
    """Clear every output, run every cell; return the error outputs (empty when all ran)."""
    _menu(page, "Edit", "editmenu:clear-all")
    _menu(page, "Run", "runmenu:run-all")
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt")
    errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')

    def finished():
        texts = [t.strip() for t in prompts.all_inner_texts()]
        if any("*" in t for t in texts):
            return False
        return (all(_PROMPT_NUMBERED.match(t) for t in texts) or errors.count() > 0) and lab.kernels_idle()

    _wait(page, finished, timeout, "every cell to run")
    return [e[:400] for e in errors.all_inner_texts()]


def _stable_image(page, img, lab, settle: float = 0.6, timeout: float = 60) -> str:
    """The figure's bytes (SHA-256) once the kernel is idle and the picture stopped changing."""
    last = {"hash": None}

    def settled():
        now = img.evaluate(_IMAGE_HASH_JS)
        done = now and now == last["hash"] and lab.kernels_idle()
        last["hash"] = now
        return now if done else None

    return _wait(page, settled, timeout, "the figure to settle", interval=settle)


@pytest.mark.parametrize("number", sorted(LECTURES))
def test_lecture_widgets_render_and_redraw_in_jupyterlab(browser, lab, number):
    found = sorted((ROOT / "lectures").glob(f"{number}_*.ipynb"))
    if not found:
        pytest.skip(f"lectures/{number}_*.ipynb does not exist yet")
    notebook = found[0]
    committed = notebook.read_bytes()
    checkpoints = notebook.parent / ".ipynb_checkpoints"
    had_checkpoints = checkpoints.exists()
    checkpoint = checkpoints / f"{notebook.stem}-checkpoint.ipynb"
    had_checkpoint = checkpoint.exists()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and console_errors.append(msg.text[:200]))
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(lab.base) else route.abort())
    try:
        page.goto(f"{lab.base}/lab/tree/lectures/{notebook.name}?reset&token={lab.token}")
        page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=120_000)
        _wait(page, lambda: lab.api("GET", "/api/sessions") and lab.kernels_idle(), 120, "the kernel to start")
        errors = _run_all(page, lab, RUN_TIMEOUT_S)
        assert not errors, f"{notebook.name} raised in JupyterLab:\n" + "\n".join(errors)

        cells = page.locator(".jp-CodeCell").filter(has=page.locator(".jp-OutputArea-output .widget-slider"))
        assert cells.count() >= 1, f"{notebook.name} shows no widget with a slider after running every cell"
        if LECTURES[number]:
            assert cells.filter(has=page.locator(".widget-play")).count() >= 1, \
                f"{notebook.name}'s widget has no Play button"
        for k in range(cells.count()):
            cell = cells.nth(k)
            cell.scroll_into_view_if_needed()
            slider, image = cell.locator(".widget-slider").first, cell.locator("img.widget-image").first
            assert slider.is_visible(), f"widget {k} of {notebook.name}: the slider is not visible"
            assert image.is_visible(), f"widget {k} of {notebook.name}: the figure is not visible"
            play = cell.locator(".widget-play")
            if play.count():
                assert play.first.is_visible(), f"widget {k} of {notebook.name}: the Play button is not visible"
            before = _stable_image(page, image, lab)
            cell.locator(".noUi-handle").first.focus()
            page.keyboard.press("ArrowRight")  # what a learner's arrow key (or a drag by one step) does
            after = _stable_image(page, image, lab)
            assert after != before, (
                f"widget {k} of {notebook.name}: moving the slider did not change the figure.\n"
                f"server and kernel log:\n{lab.log_tail()}")
            if k == 0:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                cell.locator(".jp-OutputArea").screenshot(path=str(SCREENSHOTS / f"lab-{number}-widget.png"))
        new_errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')
        assert new_errors.count() == 0, f"moving a slider raised: {new_errors.all_inner_texts()[:2]}"
    except Exception:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"lab-{number}-failure.png"))  # what the page showed
        raise
    finally:
        context.close()  # closing skips the unsaved-changes prompt: nothing is saved
        try:
            lab.shutdown_sessions()  # the next lecture gets the cores
        except (OSError, urllib.error.URLError):
            pass
        if not had_checkpoint:  # JupyterLab makes one when it opens a notebook: leave the tree as found
            checkpoint.unlink(missing_ok=True)
        if not had_checkpoints and checkpoints.is_dir() and not any(checkpoints.iterdir()):
            checkpoints.rmdir()
    assert notebook.read_bytes() == committed, f"the test changed {notebook.name} on disk (autosave?)"


_SLIDE_INDEX_JS = """() => {
  const present = document.querySelector('.reveal .slides > section.present');
  if (!present) return null;
  const h = [...present.parentElement.children].filter(e => e.tagName === 'SECTION').indexOf(present);
  const inner = present.querySelector(':scope > section.present');
  const v = inner ? [...present.children].filter(e => e.tagName === 'SECTION').indexOf(inner) : 0;
  return [h, v];
}"""


def test_rise_presents_lecture_01_and_advances_a_slide(browser, lab):
    """RISE (jupyterlab-rise, `make lab`'s slideshow) opens lecture 01 as slides and moves to the next one."""
    pytest.importorskip("jupyterlab_rise", reason="jupyterlab-rise is missing: `pip install -e .[dev]` installs it")
    found = sorted((ROOT / "lectures").glob("01_*.ipynb"))
    if not found:
        pytest.skip("lectures/01_*.ipynb does not exist yet")
    notebook = found[0]
    committed = notebook.read_bytes()
    checkpoint = notebook.parent / ".ipynb_checkpoints" / f"{notebook.stem}-checkpoint.ipynb"
    had_checkpoint, had_checkpoints = checkpoint.exists(), checkpoint.parent.exists()
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(lab.base) else route.abort())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(f"{lab.base}/rise/lectures/{notebook.name}?token={lab.token}")
        page.locator(".reveal .slides section.present").first.wait_for(timeout=120_000)
        title = page.locator(".reveal .slides section.present h1").first
        title.wait_for(timeout=30_000)
        assert "Lecture 01" in title.inner_text()
        first = page.evaluate(_SLIDE_INDEX_JS)
        assert first == [0, 0], f"RISE opened on slide {first}, not the title"
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOTS / "rise-01-title.png"))
        page.keyboard.press("Escape")  # command mode: the keys drive the slideshow, not a cell editor
        page.keyboard.press("Space")
        moved = _wait(page, lambda: page.evaluate(_SLIDE_INDEX_JS) not in (None, first) and page.evaluate(_SLIDE_INDEX_JS),
                      15, "the next slide")
        page.wait_for_timeout(800)  # the slide transition
        page.screenshot(path=str(SCREENSHOTS / "rise-01-next.png"))
        assert page.locator(".reveal .slides section.present .jp-Cell").count() >= 1, "the next slide shows no cell"
        assert moved != first
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "rise-01-failure.png"))
        raise
    finally:
        context.close()
        try:
            lab.shutdown_sessions()
        except (OSError, urllib.error.URLError):
            pass
        if not had_checkpoint:
            checkpoint.unlink(missing_ok=True)
        if not had_checkpoints and checkpoint.parent.is_dir() and not any(checkpoint.parent.iterdir()):
            checkpoint.parent.rmdir()
    assert notebook.read_bytes() == committed, f"RISE changed {notebook.name} on disk (autosave?)"


_OPEN_AND_SAVE_JS = """async paths => {
  const app = window.jupyterapp;
  const one = async path => {
    const widget = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
    await widget.context.ready;
    await widget.sessionContext.ready;
    const info = await widget.sessionContext.session.kernel.info;
    for (let k = 0; k < 100 && !(widget.model.getMetadata('language_info') || {}).mimetype; k++)
      await new Promise(r => setTimeout(r, 100));  // the panel copies the kernel's language_info in
    await widget.context.save();
    await widget.sessionContext.shutdown();
    widget.dispose();
    return info.language_info.name;
  };
  const names = [];
  for (let i = 0; i < paths.length; i += 4)  // four at a time: kernels start side by side
    names.push(...await Promise.all(paths.slice(i, i + 4).map(one)));
  return names;
}"""


def test_opening_and_saving_every_lecture_leaves_it_unchanged(browser, lab):
    """A learner opens a lecture (its kernel starts) and saves it without running anything: the file must
    not change, or `git pull` conflicts over a notebook nobody edited. Copies under _build/, one page."""
    lectures = sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))
    folder = ROOT / "_build" / "lab-open-save"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in lectures:
        shutil.copyfile(path, folder / path.name)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(lab.base) else route.abort())
    try:
        page.goto(f"{lab.base}/lab/tree/{folder.relative_to(ROOT).as_posix()}?reset&token={lab.token}")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('docmanager:open')",
                               timeout=120_000)
        paths = [f"{folder.relative_to(ROOT).as_posix()}/{path.name}" for path in lectures]
        assert page.evaluate(_OPEN_AND_SAVE_JS, paths) == ["python"] * len(paths)
    finally:
        context.close()
        try:
            lab.shutdown_sessions()
        except (OSError, urllib.error.URLError):
            pass
    changed = [p.name for p in lectures if (folder / p.name).read_bytes() != p.read_bytes()]
    if changed:
        import difflib

        first = changed[0]
        diff = difflib.unified_diff(lectures[0].parent.joinpath(first).read_text(encoding="utf-8").splitlines(),
                                    (folder / first).read_text(encoding="utf-8").splitlines(), lineterm="", n=1)
        pytest.fail(f"opening and saving changed {len(changed)} lecture(s): {', '.join(changed)}; normalise them "
                    f"with `python -m gancourse normalise`. {first}:\n" + "\n".join(list(diff)[:40]))
    shutil.rmtree(folder, ignore_errors=True)
