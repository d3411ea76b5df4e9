"""The web dashboard (/ui/) in a real headless Chromium against a real `shoal up`: pages load
without console errors, show the fleet's real state, run actions with a confirmation, tail logs
live, open trace waterfalls, render hostile text as text, hide actions from read-only tokens, and
leave screenshots in docs/ui/."""

import re
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import REPO, wait_until
from ui_fleet import XSS, XSS_NAME, chrome_available, cleanup, fleet_toml, new_driver, quit_driver, start_fleet

# The test command installs Chromium (scripts/deps): without it these tests fail, never skip.
if not chrome_available():
    pytest.fail("the dashboard tests need /usr/bin/chromium and /usr/bin/chromedriver: "
                "apt-get install -y chromium chromium-driver (scripts/deps does)", pytrace=False)

from selenium.webdriver.common.by import By  # noqa: E402 - after the check above

SECRET_VALUE = "hunter2-" + uuid.uuid4().hex[:8]
SHOTS = REPO / "docs" / "ui"


@pytest.fixture(scope="module")
def fleet():
    f = start_fleet(fleet_toml())
    try:
        # `noisy` references this secret; the page must show the reference, never the value.
        f.api("PUT", "/api/v1/secrets/db/pw", {"value": SECRET_VALUE})
        f.api("PUT", "/v1/kv/app/greeting", b"hello from kv")
        f.api("PUT", "/v1/kv/" + quote("cfg/" + XSS, safe="/"), ("value " + XSS).encode())
        # A service registered through the Consul API, named with a payload.
        f.api("PUT", "/v1/agent/service/register", {"Name": XSS_NAME, "ID": "xss-1", "Address": "127.0.0.1", "Port": 9})

        def healthy():
            by = {s["name"]: s for s in f.api("GET", "/api/v1/services")}
            return all(by.get(n, {}).get("healthy") == want for n, want in (("web", 2), ("shop", 1), ("noisy", 1), ("front", 1)))

        wait_until(healthy, timeout=60, interval=0.2, what="web 2/2, shop 1/1, noisy 1/1 healthy")
        traffic(f)
        yield f
    finally:
        cleanup(f)


@pytest.fixture(scope="module")
def driver():
    d = new_driver()
    yield d
    quit_driver(d)


def traffic(f, n=20):
    for i in range(n):
        f.gw("front", "/")
        f.gw("web", "/version.txt")
        f.gw("shop", "/missing-%d" % i)


def open_page(driver, fleet, hash_path, ready_css=None, timeout=15):
    """Loads /ui/#/<hash_path> from scratch and waits for `ready_css` to be on the page."""
    driver.get("about:blank")
    driver.get(fleet.base + "/ui/#/" + hash_path)
    if ready_css:
        try:
            wait_css(driver, ready_css, timeout=timeout)
        except BaseException:
            print("page #/" + hash_path, "did not show", ready_css, "; console:", driver.get_log("browser"))
            raise


def wait_css(driver, css, timeout=15, count=1):
    return wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, css)) >= count and driver.find_elements(By.CSS_SELECTOR, css), timeout=timeout, what=css)


def text_of(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def severe(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def click(driver, css):
    el = wait_css(driver, css)[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()


def confirm(driver, values=None):
    """Fills the confirmation dialog's fields and confirms."""
    wait_until(lambda: driver.find_element(By.CSS_SELECTOR, "[data-test=confirm-dialog]").get_attribute("open") is not None, what="confirmation dialog")
    for name, value in (values or {}).items():
        inp = driver.find_element(By.CSS_SELECTOR, f"[data-test=confirm-{name}]")
        inp.clear()
        inp.send_keys(str(value))
    driver.find_element(By.CSS_SELECTOR, "[data-test=confirm-ok]").click()
    wait_until(lambda: driver.find_element(By.CSS_SELECTOR, "[data-test=confirm-dialog]").get_attribute("open") is None, what="dialog closed (action accepted)")


def a_trace(fleet):
    """Sends one request through the gateway to `front` (which calls `web`) and returns
    (marker path, trace id) once both spans are stored."""
    path = "/trace-" + uuid.uuid4().hex[:10]
    status, headers, body = fleet.gw("front", path)
    assert status == 200 and body.strip() == "1", (status, body)
    trace_id = headers["x-trace-id"]

    def stored():
        status, _, t = fleet.request("GET", "/api/v1/traces/" + trace_id)
        return status == 200 and {s["service"] for s in t["spans"]} == {"front", "web"}

    wait_until(stored, what="trace with the front and web spans stored")
    return path, trace_id


# Each page with the element that shows it has loaded its data.
PAGES = [
    ("", "[data-test=service-row]"),
    ("service/web", "[data-test=instance-row]"),
    ("service/noisy", "[data-test=env-row]"),
    ("logs", "[data-test=log-line]"),
    ("logs?service=noisy", "[data-test=log-line]"),
    ("traces", "[data-test=trace-row]"),
    ("errors", "[data-test=error-group]"),
    ("events", "[data-test=event]"),
    ("kv", "[data-test=kv-row]"),
    ("flags", "[data-test=flag-row]"),
]


def test_every_page_loads_without_console_errors(fleet, driver):
    _, trace_id = a_trace(fleet)
    wait_until(lambda: fleet.api("GET", "/api/v1/errors")["groups"], what="an error group (noisy's error lines)")
    for hash_path, ready in PAGES + [("trace/" + trace_id, "[data-test=span]")]:
        open_page(driver, fleet, hash_path, ready)
        # let the first refresh, the streams and the favicon settle
        wait_until(lambda: driver.execute_script("return document.readyState") == "complete", what="load")
        errors = severe(driver)
        assert not errors, f"console errors on #/{hash_path}: {errors}"
        assert not driver.find_elements(By.CSS_SELECTOR, "[data-test=page-error]:not([hidden])"), f"error banner on #/{hash_path}"
    # the icon is served (a 404 would have been a console error above)
    assert fleet.request("GET", "/ui/favicon.svg")[0] == 200


def test_overview_shows_the_fleets_real_counts(fleet, driver):
    open_page(driver, fleet, "", "[data-test=service-row]")

    def matches():
        svcs = fleet.api("GET", "/api/v1/services")
        page = {
            "services": text_of(driver, "[data-test=count-services]"),
            "instances": text_of(driver, "[data-test=count-instances]"),
            "healthy": text_of(driver, "[data-test=count-healthy]"),
            "rows": len(driver.find_elements(By.CSS_SELECTOR, "[data-test=service-row]")),
        }
        want = {
            "services": str(len(svcs)),
            "instances": str(sum(s["instances"] for s in svcs)),
            "healthy": str(sum(s["healthy"] for s in svcs)),
            "rows": len(svcs),
        }
        if page != want:
            return False
        for s in svcs:
            row = driver.find_element(By.CSS_SELECTOR, f'[data-test=service-row][data-service="{css_escape(s["name"])}"]')
            if row.find_element(By.CSS_SELECTOR, "[data-test=health]").text != f'{s["healthy"]}/{s["instances"]}':
                return False
        return page

    wait_until(matches, timeout=15, interval=0.3, what="overview counts equal to /api/v1/services")
    # the node is shown
    assert text_of(driver, "[data-test=node-row]").startswith(fleet.api("GET", "/api/v1/agent")["node"])


def css_escape(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def test_scaling_by_click_shows_the_new_instance_healthy_without_reload(fleet, driver):
    open_page(driver, fleet, "service/web", "[data-test=instance-row]")
    wait_css(driver, "[data-test=instance-row][data-health=passing]", count=2)
    driver.execute_script("window.__noReload = 1")
    click(driver, "[data-test=action-scale]")
    confirm(driver, {"instances": 3})

    def three_healthy():
        rows = driver.find_elements(By.CSS_SELECTOR, "[data-test=instance-row][data-health=passing][data-state=running]")
        return len(rows) == 3

    wait_until(three_healthy, timeout=30, interval=0.2, what="3 healthy instances on the page")
    assert driver.execute_script("return window.__noReload") == 1, "the page reloaded"
    # the action's result and the event it caused are shown
    wait_until(lambda: text_of(driver, "[data-test=action-event]").startswith("event"), timeout=15, what="resulting event in the toast")
    assert "web" in text_of(driver, "[data-test=action-result]")
    assert fleet.api("GET", "/api/v1/services/web")["service"]["desired"] == 3


def shop_version(fleet):
    status, _, body = fleet.gw("shop", "/version.txt")
    return body.strip() if status == 200 else None


def test_rollback_button_switches_traffic_back(fleet, driver):
    answer = fleet.api("POST", "/api/v1/deploy", {"file": "shoal.toml", "toml": fleet_toml(shop_version="2"), "service": "shop"})
    assert any(c["service"] == "shop" and c["kind"] == "rollout" for c in answer["changes"]), answer
    wait_until(lambda: fleet.api("GET", "/api/v1/deployments/shop")["status"] == "succeeded", timeout=60, what="v2 deployed")
    wait_until(lambda: all(shop_version(fleet) == "2" for _ in range(5)), timeout=20, what="gateway answers v2")

    open_page(driver, fleet, "service/shop", "[data-test=deployment-row]")
    wait_css(driver, "[data-test=deployment-row]", count=2)
    click(driver, "[data-test=action-rollback]")
    confirm(driver)
    wait_until(lambda: all(shop_version(fleet) == "1" for _ in range(5)), timeout=30, interval=0.2, what="gateway answers v1 after the rollback")
    # and the page follows: v1 takes the traffic
    wait_until(lambda: "v1 100%" in text_of(driver, "[data-test=versions]"), timeout=15, what="v1 100% on the page")


def test_new_log_line_appears_in_the_live_tail_within_2s(fleet, driver):
    open_page(driver, fleet, "logs?service=web", "[data-test=tail-status]")
    wait_until(lambda: "connected" in text_of(driver, "[data-test=tail-status]"), what="tail connected")
    marker = "/tail-" + uuid.uuid4().hex[:10]
    fleet.gw("web", marker)
    wait_until(lambda: marker in text_of(driver, "[data-test=log-lines]"), timeout=2.0, interval=0.05, what="the new line in the tail")


def test_trace_link_in_a_log_line_opens_the_waterfall(fleet, driver):
    path, trace_id = a_trace(fleet)
    open_page(driver, fleet, "logs?grep=" + path.lstrip("/"), "[data-test=trace-link]")
    link = wait_css(driver, f'[data-test=log-line] a[data-test=trace-link][href="#/trace/{trace_id}"]')[0]
    link.click()
    wait_css(driver, "[data-test=span]")
    assert driver.execute_script("return location.hash") == "#/trace/" + trace_id
    spans = fleet.api("GET", "/api/v1/traces/" + trace_id)["spans"]
    rows = driver.find_elements(By.CSS_SELECTOR, "[data-test=span]")
    assert len(rows) == len(spans) >= 2
    assert [r.get_attribute("data-span") for r in rows] == [s["span_id"] for s in spans]
    assert path in text_of(driver, "[data-test=waterfall]")
    assert text_of(driver, "[data-test=trace-id]") == trace_id


def assert_inert(driver, where):
    assert driver.execute_script("return window.__xss") is None, f"payload ran on {where}"
    assert driver.execute_script("return document.querySelectorAll('main img, main script, main svg[onload], #toasts img').length") == 0, f"payload became markup on {where}"


def test_hostile_text_renders_as_text_and_runs_nothing(fleet, driver):
    svc_hash = "service/" + quote(XSS_NAME, safe="")
    cases = [
        ("", "[data-test=service-row]", "the name of a registered service", XSS_NAME),
        (svc_hash, "[data-test=instance-row]", "the service page's header", XSS_NAME),
        ("service/noisy", "[data-test=env-row]", "an env value", XSS),
        ("logs?service=noisy", "[data-test=log-line]", "log lines", XSS),
        ("kv", "[data-test=kv-row]", "a KV key", XSS),
        # causes are normalised (digits become N)
        ("errors?service=noisy", "[data-test=error-group]", "an error group's cause", re.sub(r"\d", "N", XSS)),
    ]
    for hash_path, ready, what, payload in cases:
        open_page(driver, fleet, hash_path, ready)
        wait_until(lambda: payload in driver.find_element(By.TAG_NAME, "main").text, timeout=10, what=f"payload shown as text ({what})")
        assert_inert(driver, hash_path)
    # the KV value, opened
    open_page(driver, fleet, "kv", "[data-test=kv-key]")
    for b in driver.find_elements(By.CSS_SELECTOR, "[data-test=kv-key]"):
        if b.text.startswith("cfg/"):
            b.click()
    wait_until(lambda: text_of(driver, "[data-test=kv-value-text]") == "value " + XSS, what="KV value as text")
    assert_inert(driver, "kv value")
    # the secret is referenced, never shown
    open_page(driver, fleet, "service/noisy", "[data-test=env-row]")
    assert "${secret:db/pw}" in text_of(driver, "[data-test=env]")
    open_page(driver, fleet, "kv", "[data-test=secret-row]")
    assert "db/pw" in text_of(driver, "[data-test=secrets]")
    for hash_path in ("service/noisy", "kv"):
        open_page(driver, fleet, hash_path, "[data-test=page-" + hash_path.split("/")[0] + "]")
        assert SECRET_VALUE not in driver.page_source


def test_read_only_token_sees_no_actions_and_the_api_refuses(driver):
    view, ops = "view-" + uuid.uuid4().hex, "ops-" + uuid.uuid4().hex
    f = start_fleet(fleet_toml(tokens=True), {"UI_TEST_VIEW_TOKEN": view, "UI_TEST_OPS_TOKEN": ops})
    d = new_driver()
    try:
        wait_until(lambda: f.api("GET", "/api/v1/services/web", token=view)["service"]["healthy"] == 1, timeout=30, what="web healthy")

        def sign_in(tok):
            d.get("about:blank")
            d.get(f.base + "/ui/#/service/web")
            wait_until(lambda: d.find_element(By.CSS_SELECTOR, "[data-test=login-dialog]").get_attribute("open") is not None, what="the page asks for a token")
            d.find_element(By.CSS_SELECTOR, "[data-test=login-token]").send_keys(tok)
            d.find_element(By.CSS_SELECTOR, "[data-test=login-ok]").click()

        sign_in("not-a-token")
        wait_until(lambda: "refused" in d.find_element(By.CSS_SELECTOR, "[data-test=login-error]").text, what="a wrong token is refused")
        d.find_element(By.CSS_SELECTOR, "[data-test=login-token]").send_keys(view)
        d.find_element(By.CSS_SELECTOR, "[data-test=login-ok]").click()
        wait_until(lambda: "viewer" in d.find_element(By.CSS_SELECTOR, "[data-test=who]").text, what="signed in as viewer")
        wait_css(d, "[data-test=instance-row]")
        wait_css(d, "[data-test=deployment-row]")
        assert d.find_elements(By.CSS_SELECTOR, "button.action, [data-test^=action]") == []
        open_page(d, f, "", "[data-test=service-row]")
        assert d.find_elements(By.CSS_SELECTOR, "button.action, [data-test^=action]") == []

        # the API refuses the action anyway
        status, _, body = f.request("POST", "/api/v1/services/web/scale", {"instances": 2}, token=view)
        assert status == 403, body
        assert f.request("POST", "/api/v1/services/web/scale", {"instances": 2})[0] == 401
        assert f.request("POST", "/api/v1/instances/nope/restart", token=view)[0] == 403
        assert f.api("GET", "/api/v1/services/web", token=view)["service"]["desired"] == 1

        # a token with `write` does see them
        d.find_element(By.CSS_SELECTOR, "[data-test=signout]").click()
        sign_in(ops)
        wait_until(lambda: "ops" in d.find_element(By.CSS_SELECTOR, "[data-test=who]").text, what="signed in as ops")
        wait_css(d, "[data-test=action-scale]")
        wait_css(d, "[data-test=action-restart]")
    finally:
        quit_driver(d)
        cleanup(f)


SHOT_PAGES = [
    ("overview", "", "[data-test=service-row]"),
    ("service", "service/web", "[data-test=chart-rps]"),
    ("logs", "logs", "[data-test=log-line]"),
    ("traces", "traces", "[data-test=trace-row]"),
    ("trace", None, "[data-test=span]"),
    ("errors", "errors", "[data-test=error-group]"),
    ("events", "events", "[data-test=event]"),
    ("kv", "kv", "[data-test=kv-row]"),
    ("flags", "flags", "[data-test=flag-row]"),
]


def test_screenshots_of_every_page(fleet, driver):
    SHOTS.mkdir(parents=True, exist_ok=True)
    traffic(fleet, 30)
    _, trace_id = a_trace(fleet)
    for name, hash_path, ready in SHOT_PAGES:
        open_page(driver, fleet, hash_path if hash_path is not None else "trace/" + trace_id, ready)
        if name == "kv":
            click(driver, "[data-test=kv-key]")
            wait_css(driver, "[data-test=kv-value-text]")
        if name == "errors":
            click(driver, "[data-test=error-toggle]")
            wait_css(driver, "[data-test=error-latest]")
        out = SHOTS / f"{name}.png"
        assert driver.save_screenshot(str(out)), out
        head = out.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        assert (width, height) == (1280, 800), (name, width, height)
    assert not severe(driver)
