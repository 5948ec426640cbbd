"""Exercise feedback in a real JupyterLab (headless Chromium): Run All with every stub in place.

Opens an exercise notebook as a learner gets it (all stubs), runs every cell, and checks that the
run reached the last cell with no error output (a failing check reports, it does not stop the
notebook), that each check cell shows its verdict in at most 6 lines with no traceback into the
package, and that the last cell's summary counts the checks. Autosave is off (``test_lab``'s server
settings), so the committed exercise is never changed. A second test types one wrong answer into the
solution notebook and checks that only its check fails, with its message visible. Screenshots:
``_build/screenshots/exercise-05-feedback.png``, ``exercise-05-one-wrong.png``.
"""

from __future__ import annotations

import re
import urllib.error

import pytest
from conftest import ROOT, SCREENSHOTS
from test_lab import RUN_TIMEOUT_S, _run_all, _wait, lab  # noqa: F401 - lab is the shared server fixture

pytestmark = pytest.mark.browser

EXERCISE = "05_wasserstein.ipynb"
WRONG = """def critic_loss(real_scores, fake_scores):
    return fake_scores.mean() - real_scores.mean()


def generator_wasserstein_loss(fake_scores):
    return fake_scores.mean()
"""


def test_exercise_with_every_stub_runs_to_the_end_with_short_feedback(browser, lab):  # noqa: F811
    notebook = ROOT / "exercises" / EXERCISE
    committed = notebook.read_bytes()
    checkpoint = notebook.parent / ".ipynb_checkpoints" / f"{notebook.stem}-checkpoint.ipynb"
    had_checkpoint, had_checkpoints = checkpoint.exists(), checkpoint.parent.exists()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(lab.base) else route.abort())
    try:
        page.goto(f"{lab.base}/lab/tree/exercises/{EXERCISE}?reset&token={lab.token}")
        page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=120_000)
        _wait(page, lambda: lab.api("GET", "/api/sessions") and lab.kernels_idle(), 120, "the kernel to start")
        errors = _run_all(page, lab, RUN_TIMEOUT_S)
        assert not errors, "a cell raised with the stubs in place:\n" + "\n".join(errors)
        cells = page.locator(".jp-CodeCell")
        prompts = [t.strip() for t in page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()]
        assert all(re.match(r"^\[\d+\]:?$", p) for p in prompts), f"not every cell ran: {prompts}"
        verdicts = 0
        for k in range(cells.count()):
            cell = cells.nth(k)
            source = cell.locator(".jp-InputArea-editor").inner_text()
            if not re.search(r"^\s*check_\w+\(", source, flags=re.M):
                continue
            out = cell.locator(".jp-OutputArea").inner_text().strip().splitlines()
            assert 1 <= len(out) <= 6, f"check cell {k} shows {len(out)} lines: {out}"
            assert "FAILED" in out[0] and "Traceback" not in "\n".join(out) and "gancourse/" not in "\n".join(out), out
            verdicts += 1
        assert verdicts >= 3
        last = cells.nth(cells.count() - 1).locator(".jp-OutputArea").inner_text().strip()
        assert last.startswith("Checks passed: 0 of"), last
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        cells.nth(2).scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "exercise-05-feedback.png"))
    except Exception:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "exercise-05-failure.png"))
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
    assert notebook.read_bytes() == committed, f"the test changed {EXERCISE} on disk (autosave?)"


def test_one_wrong_answer_fails_only_its_check_with_the_message_visible(browser, lab):  # noqa: F811
    notebook = ROOT / "solutions" / EXERCISE
    committed = notebook.read_bytes()
    checkpoint = notebook.parent / ".ipynb_checkpoints" / f"{notebook.stem}-checkpoint.ipynb"
    had_checkpoint, had_checkpoints = checkpoint.exists(), checkpoint.parent.exists()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(lab.base) else route.abort())
    try:
        page.goto(f"{lab.base}/lab/tree/solutions/{EXERCISE}?reset&token={lab.token}")
        page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=120_000)
        _wait(page, lambda: lab.api("GET", "/api/sessions") and lab.kernels_idle(), 120, "the kernel to start")
        cell = page.locator(".jp-CodeCell").filter(has_text="def critic_loss(").first
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(WRONG)  # as typed, without the editor's auto-indent
        page.keyboard.press("Escape")
        errors = _run_all(page, lab, RUN_TIMEOUT_S)
        assert not errors, "a cell raised:\n" + "\n".join(errors)
        outputs = page.locator(".jp-CodeCell .jp-OutputArea").all_inner_texts()
        failed = [line for text in outputs for line in text.splitlines() if "FAILED" in line]
        assert len(failed) == 1 and failed[0].startswith("check_generator_wasserstein_loss FAILED: wrong sign"), failed
        passed = [line for text in outputs for line in text.splitlines() if line.startswith("check_") and " passed: " in line]
        assert len(passed) == 3, passed
        assert outputs[-1].strip().startswith("Checks passed: 3 of 4 run"), outputs[-1]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator(".jp-CodeCell").filter(has_text="check_generator_wasserstein_loss(").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "exercise-05-one-wrong.png"))
    except Exception:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "exercise-05-one-wrong-failure.png"))
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
    assert notebook.read_bytes() == committed, f"the test changed solutions/{EXERCISE} on disk (autosave?)"
