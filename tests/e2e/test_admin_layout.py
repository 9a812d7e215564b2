"""The agent admin as an operator sees it in Chromium: the agent list fits beside its filters and
the change page's tool picker is a compact grid across the form's width that saves."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.e2e.server import PASSWORD

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def admin(stack, playwright_instance):
    server = stack.start()
    browser = playwright_instance.chromium.launch(
        executable_path="/usr/bin/chromium", headless=True
    )
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(server.url + "/admin/login/")
    page.fill("input[name=username]", "e2e-admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    yield SimpleNamespace(page=page, url=server.url)
    browser.close()


def box(page, selector: str) -> dict:
    found = page.locator(selector).first.bounding_box()
    assert found, selector
    return found


def test_agent_list_fits_beside_the_filters(admin, screenshot_dir):
    page = admin.page
    page.goto(admin.url + "/admin/agentbuilder/agent/")
    table = box(page, "#result_list")
    filters = box(page, "#changelist-filter")
    assert table["x"] + table["width"] <= filters["x"], (table, filters)
    # Nothing is hidden in a horizontal scroll either.
    assert page.eval_on_selector(".results", "el => el.scrollWidth <= el.clientWidth")
    page.screenshot(path=str(screenshot_dir / "admin-agent-list.png"), full_page=True)


def test_tool_picker_is_a_grid_across_the_form_and_saves(admin, screenshot_dir):
    page = admin.page
    page.goto(admin.url + "/admin/agentbuilder/agent/")
    page.click("#result_list a:text-is('GeneralKB')")
    page.wait_for_selector(".tool-picker")
    row = box(page, ".form-row.field-tools")
    picker = box(page, ".tool-picker")
    assert picker["width"] >= 0.9 * row["width"], (picker, row)
    # Several tools per line: 40-odd tools take a few hundred pixels, not thousands.
    lefts = set(page.eval_on_selector_all(".tool-option", "els => els.map((e) => e.offsetLeft)"))
    assert len(lefts) >= 3, lefts
    assert picker["height"] < 1200, picker
    assert page.locator("h2:text-is('Tools and handoffs')").count() == 1
    page.locator(".form-row.field-tools").screenshot(path=str(screenshot_dir / "admin-tools.png"))

    page.check("input[name=tools][value=get_account_summary]")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    assert page.is_checked("input[name=tools][value=get_account_summary]")
    page.uncheck("input[name=tools][value=get_account_summary]")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    assert not page.is_checked("input[name=tools][value=get_account_summary]")
