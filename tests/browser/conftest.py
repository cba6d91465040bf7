"""Debian's chromium driven by Playwright, for the browser tests.

`make test` installs chromium when it is missing (`make chromium`) and the dev extras bring
playwright; without either, the browser tests are skipped with the reason, never failed.
Playwright's own browser downloads are not used.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="playwright is not installed: the dev extras have it (pip install -e '.[dev]')",
    )
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"chromium is not installed ({CHROMIUM}): `make chromium` installs it")
    with sync_api.sync_playwright() as playwright:
        # we run as root: chromium's sandbox needs a user namespace it cannot have here
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()
