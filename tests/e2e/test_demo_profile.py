"""A visitor creates a demo customer on the page, verifies as that customer and gets a balance.

The whole typed path on the offline stack: the demo-env API, codes shown once, the `rules`
dialogue engine choosing tools, the banking tools on the database, tool cards on the page.
"""

from __future__ import annotations

import re
import time

import pytest

pytestmark = pytest.mark.e2e


def test_demo_customer_verifies_and_hears_the_account_balance(stack, playwright_instance):
    server = stack.start()
    browser = playwright_instance.chromium.launch(
        executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
    )
    try:
        page = browser.new_page()
        page.goto(server.url + "/")
        page.fill("#profile-form input[name=full_name]", "Ada Lovelace")
        page.fill("#profile-form input[name=email]", f"ada.{time.time_ns()}@example.com")
        page.click("text=Create profile")
        codes = page.wait_for_selector("#profile-result .codes", timeout=15000).inner_text()
        ssn4 = re.search(r"SSN last four (\d{4})", codes).group(1)
        mfa_code = re.search(r"MFA code (\d+)", codes).group(1)

        page.fill("#message-input", f"Verify me, my name is Ada Lovelace, last four {ssn4}")
        page.click("text=Send")
        verified = page.wait_for_selector(
            ".msg.tool[data-tool='verify_client_identity']", timeout=30000
        )
        page.wait_for_function(
            "document.querySelector('#transcript').innerText.includes(\"You're verified\")",
            timeout=30000,
        )
        page.wait_for_function(
            "document.querySelector(\"[data-tool='verify_client_identity'] .state\")"
            ".innerText.startsWith('success')",
            timeout=30000,
        )
        assert '"verified": true' in verified.inner_text()

        page.fill("#message-input", "What is my account balance?")
        page.click("text=Send")
        page.wait_for_selector(".msg.tool[data-tool='get_account_summary']", timeout=30000)
        page.wait_for_function(
            "document.querySelector('#transcript').innerText.includes('Your balances:')",
            timeout=30000,
        )
        transcript = page.inner_text("#transcript")
        assert re.search(r"Checking [\d,]+\.\d\d dollars", transcript), transcript
        assert mfa_code not in transcript, "codes never reach tool results or the transcript"
    finally:
        browser.close()
