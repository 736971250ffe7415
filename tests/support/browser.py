"""A real browser for the portal's tests: Debian's chromium driven by selenium through Debian's
chromium-driver (no browser download). Selenium blocks, and opsroom serves from the test's
event loop, so every browser call runs in a thread.

Each test's screenshots go to ``<output>/<test name>/NN-<what>-desktop.png`` and
``...-phone.png`` (1280 and 390 pixels wide), where ``<output>`` is ``$OPSROOM_TEST_OUTPUT`` or
``.test-output`` in the checkout.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DESKTOP = (1280, 900)
PHONE = (390, 844)


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (shutil.which("chromium") or os.path.exists(CHROMIUM)):
        return "Debian's chromium is not installed (apt-get install chromium chromium-driver)"
    if not (shutil.which("chromedriver") or os.path.exists(CHROMEDRIVER)):
        return "Debian's chromium-driver is not installed (apt-get install chromium-driver)"
    return None


def output_dir(test_name: str) -> Path:
    root = Path(os.environ.get("OPSROOM_TEST_OUTPUT") or Path(__file__).resolve().parents[2] / ".test-output")
    folder = root / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


class Browser:
    def __init__(self, output: Path, *, language: str = "en-US") -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         f"--window-size={DESKTOP[0]},{DESKTOP[1]}", f"--lang={language}", "--hide-scrollbars"):
            options.add_argument(argument)
        options.add_experimental_option("prefs", {"intl.accept_languages": language})
        self.driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or CHROMEDRIVER))
        self.output = output
        self._shots = 0

    async def run(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(call, *args)

    async def open(self, url: str) -> None:
        await self.run(self.driver.get, url)

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    async def page_text(self) -> str:
        return str(await self.run(lambda: self.driver.find_element("tag name", "body").text))

    async def fill(self, fields: dict[str, str], *, submit: str | None = None) -> None:
        """Type into inputs (by id), then click the button matched by CSS selector ``submit``."""

        def act() -> None:
            from selenium.webdriver.support.ui import Select

            for field_id, value in fields.items():
                element = self.driver.find_element("id", field_id)
                if element.tag_name == "select":
                    Select(element).select_by_value(value)
                else:
                    element.clear()
                    element.send_keys(value)
            if submit:
                self._click_and_wait(submit)

        await self.run(act)

    async def login(self, base_url: str, user_id: str, password: str, *, expect: str | None = None) -> None:
        """Log in through the form; wait for ``expect`` (default: the overview's greeting)."""
        await self.open(f"{base_url}/admin/login")
        await self.fill({"user": user_id, "password": password}, submit="form.stack button[type=submit]")
        await self.wait_text(expect or f"Logged in as {user_id}")

    async def click(self, selector: str, *, navigates: bool = True) -> None:
        """Click; when it ``navigates``, return once the next page has replaced this one."""
        if navigates:
            await self.run(self._click_and_wait, selector)
        else:
            await self.run(lambda: self.driver.find_element("css selector", selector).click())

    def _click_and_wait(self, selector: str) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        page = self.driver.find_element("tag name", "html")
        self.driver.find_element("css selector", selector).click()
        WebDriverWait(self.driver, 15).until(_replaced(page))

    async def texts(self, selector: str) -> list[str]:
        return await self.run(lambda: [e.text for e in self.driver.find_elements("css selector", selector)])

    async def attribute(self, selector: str, name: str) -> str | None:
        return await self.run(lambda: self.driver.find_element("css selector", selector).get_attribute(name))

    async def script(self, source: str, *args: Any) -> Any:
        return await self.run(self.driver.execute_script, source, *args)

    async def wait_text(self, text: str, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while text not in await self.page_text():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{text!r} did not appear on {self.url}")
            await asyncio.sleep(0.1)

    async def shoot(self, what: str) -> list[Path]:
        """Screenshots of the whole page at desktop and at phone width."""
        self._shots += 1
        saved = []
        for label, (width, height) in (("desktop", DESKTOP), ("phone", PHONE)):
            path = self.output / f"{self._shots:02d}-{what}-{label}.png"

            def take(width: int = width, height: int = height, path: Path = path) -> None:
                self.driver.set_window_size(width, height)
                full = self.driver.execute_script("return document.documentElement.scrollHeight")
                self.driver.set_window_size(width, max(height, min(int(full) + 140, 6000)))
                self.driver.save_screenshot(str(path))

            await self.run(take)
            saved.append(path)
        await self.run(self.driver.set_window_size, *DESKTOP)
        return saved

    async def phone_layout_fits(self) -> bool:
        """At phone width nothing makes the page scroll sideways (wide tables scroll in their own box)."""
        await self.run(self.driver.set_window_size, *PHONE)
        try:
            return bool(await self.script("return document.documentElement.scrollWidth <= window.innerWidth + 1"))
        finally:
            await self.run(self.driver.set_window_size, *DESKTOP)

    def quit(self) -> None:
        self.driver.quit()


def _replaced(page: Any) -> Callable[[Any], bool]:
    """Selenium's ``staleness_of``, also for the answer chromium gives while the old document is
    being torn down ("Node with given id does not belong to the document", a plain WebDriverException)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def predicate(_driver: Any) -> bool:
        try:
            page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise
        return False

    return predicate
