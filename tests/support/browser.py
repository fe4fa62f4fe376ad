"""Browsers for the console tests: a real one, Debian's Chromium driven by Playwright's Python
package, and a plain one (`ConsoleClient`: httpx keeping cookies, sending forms with their CSRF
token) for the fast tests of sessions, CSRF and roles.

Playwright cannot download its own browser here, so it launches `/usr/bin/chromium` (`.ci/run`
installs Debian's package when it is missing). Missing fails in CI and skips elsewhere, like the
Prometheus tools.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path(os.environ.get("REVSHARE_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}


def _missing(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why} (.ci/run installs Debian's chromium; pip installs playwright from the dev extra)")
    pytest.skip(why)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright `Browser`), closed afterwards."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
        raise
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shoot(page: Any, folder: Path | None, name: str) -> None:
    """A screenshot of the page as a user sees it (the whole page), when `folder` is set."""
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)


def screenshot_folder() -> Path | None:
    """Where the browser tests save screenshots: `$REVSHARE_SCREENSHOTS`, or nowhere."""
    where = os.environ.get("REVSHARE_SCREENSHOTS")
    return Path(where) if where else None


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The first form's CSRF token in a console page."""
    found = _CSRF.search(html)
    assert found, "no csrf field in the page"
    return found.group(1)


def field_errors(html: str) -> list[str]:
    """The fields a re-rendered form marks as wrong."""
    return re.findall(r'class="field-error" id="e-([a-z_]+)"', html)


class ConsoleClient:
    """One browser's worth of cookies, without a browser: it logs in the way a browser does (the
    login form's CSRF token and cookie, then the session cookie) and follows no redirect."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, follow_redirects=False, timeout=30)

    def login(self, token: str, who: str = "") -> httpx.Response:
        page = self.http.get("/console/login")
        return self.http.post("/console/login", data={"csrf": csrf_of(page.text), "token": token, "who": who})

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def csrf(self, path: str) -> str:
        page = self.http.get(path)
        assert page.status_code == 200, (path, page.status_code, page.text[:500])
        return csrf_of(page.text)

    def post(self, path: str, data: dict[str, str], *, csrf_from: str | None = None) -> httpx.Response:
        """POST a form; with `csrf_from`, the CSRF token of that page is added."""
        fields = dict(data)
        if csrf_from is not None:
            fields["csrf"] = self.csrf(csrf_from)
        return self.http.post(path, data=fields)

    @property
    def session_cookie(self) -> str | None:
        return self.http.cookies.get("revshare_console")

    def close(self) -> None:
        self.http.close()
