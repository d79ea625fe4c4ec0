"""The Swagger UI at ``/``, in a real headless browser: both APIs are listed, and "Try it out" on
``/classify`` starts from the course's sample applicant and gets HTTP 200 when sent from the page.

The browser is the system's Chromium (Debian's ``chromium``; ``.ci/system-tools.sh`` installs it), driven by
Playwright through ``executable_path`` (Playwright's own browser builds are never downloaded).
Set ``BENTOKIT_UPDATE_SCREENSHOT=1`` to refresh ``docs/swagger-try-it-out.png``, shown in notebook 3.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from bentokit import contract
from tests.conftest import ROOT

SCREENSHOT = ROOT / "docs" / "swagger-try-it-out.png"


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    message = "no Chromium on PATH: `apt-get install chromium` (Debian) to run the Swagger UI test"
    if os.environ.get("CI"):
        pytest.fail(message)  # CI installs it (.ci/run): a missing browser there is a defect
    pytest.skip(message)


@pytest.fixture
def page(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def operation(page, path: str):
    """The Swagger UI block of ``POST path`` (matched on its exact path text)."""
    return page.locator(".opblock-post").filter(
        has=page.locator(".opblock-summary-path", has_text=path).filter(
            has_text=re.compile(rf"^\s*{re.escape(path)}\s*$")))


@pytest.mark.server
@pytest.mark.browser
def test_swagger_ui_sends_the_sample_applicant_and_gets_200(reference_server, page, tmp_path):
    # Swagger UI's page also asks for an analytics script on the internet: block it (offline, and quiet).
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(reference_server.url)
               else route.abort())
    page.goto(reference_server.url + "/", wait_until="domcontentloaded")
    classify, batch = operation(page, contract.CLASSIFY_PATH), operation(page, contract.CLASSIFY_BATCH_PATH)
    classify.wait_for()
    batch.wait_for()

    classify.locator(".opblock-summary").click()
    classify.get_by_role("button", name="Try it out").click()
    editor = classify.locator("textarea.body-param__text")
    sent = json.loads(editor.input_value())
    assert sent == contract.wrap(contract.SAMPLE_APPLICANT)

    with page.expect_response(lambda r: r.url.endswith(contract.CLASSIFY_PATH)) as answer:
        classify.get_by_role("button", name="Execute").click()
    assert answer.value.status == 200
    assert answer.value.json()["status"] in contract.STATUSES
    status = classify.locator(".live-responses-table tr.response .response-col_status").first
    assert status.inner_text().strip() == "200"
    # The example filled in, sent, and its answer: the picture notebook 3 shows.
    shot = tmp_path / SCREENSHOT.name
    top = classify.bounding_box()
    bottom = classify.locator(".live-responses-table").bounding_box()
    page.screenshot(path=str(shot), full_page=True, clip={
        "x": top["x"], "y": top["y"], "width": top["width"],
        "height": bottom["y"] + bottom["height"] - top["y"] + 8})
    assert shot.stat().st_size > 10_000
    if os.environ.get("BENTOKIT_UPDATE_SCREENSHOT"):
        shutil.copy(shot, SCREENSHOT)

    batch.locator(".opblock-summary").click()
    batch.get_by_role("button", name="Try it out").click()
    assert json.loads(batch.locator("textarea.body-param__text").input_value()) == \
        contract.wrap_batch([contract.SAMPLE_APPLICANT])
    with page.expect_response(lambda r: r.url.endswith(contract.CLASSIFY_BATCH_PATH)) as answer:
        batch.get_by_role("button", name="Execute").click()
    assert answer.value.status == 200 and len(answer.value.json()) == 1
