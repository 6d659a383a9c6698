"""The pages as a newcomer sees them in Chromium, at a desktop's and a phone's
width: what issue #14 found broken, measured in the browser.

Full-page screenshots go to test-artifacts/layout/ (git-ignored), to look at.
"""

import re
import uuid

import pytest

from tests.support.servers import ARTIFACTS

pytestmark = pytest.mark.e2e

SCREENSHOTS = ARTIFACTS / "layout"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 740}}
TRACE_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(params=SIZES, ids=list(SIZES))
def screen(request, chromium):
    """A fresh tab at one of the sizes; `screen.size` names it."""
    context = chromium.new_context(viewport=SIZES[request.param])
    tab = context.new_page()
    tab.set_default_timeout(10_000)  # a missing element fails fast
    tab.size = request.param
    yield tab
    context.close()


def screenshot(tab, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=SCREENSHOTS / f"{name}-{tab.size}.png", full_page=True)


def assert_fits_the_width(tab) -> None:
    width = tab.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width}"


# The weekday's text (not its box: a fixed-width box lets the text overflow it)
# and the toast's name, in each row of the week list.
WEEK_ROWS = """() => [...document.querySelectorAll('.week li')].map(li => {
    const day = li.querySelector('.day'), text = document.createRange();
    text.selectNodeContents(day);
    return {
        day: day.textContent.trim(),
        box: day.getBoundingClientRect().right,
        text: text.getBoundingClientRect().right,
        name: li.querySelector('a').getBoundingClientRect().left,
        top: [day.getBoundingClientRect().top, li.querySelector('a').getBoundingClientRect().top],
    };
})"""


def assert_weekdays_stay_clear_of_the_names(tab) -> None:
    rows = tab.evaluate(WEEK_ROWS)
    assert [row["day"] for row in rows] == [
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
    ]  # fmt: skip
    for row in rows:
        assert row["text"] <= row["box"] + 0.5, f"{row['day']} overflows its column: {row}"
        if abs(row["top"][0] - row["top"][1]) < 1:  # on one line: side by side
            assert row["name"] - row["text"] >= 6, f"{row['day']} runs into the name: {row}"


def test_home_says_what_the_site_is_for_and_leads_to_its_trace(untraced_site, screen):
    screen.goto(f"{untraced_site.url}/")
    screenshot(screen, "home")

    purpose = screen.locator("main .purpose")
    assert purpose.inner_text().startswith("toastsite is a tracing demo:")
    assert "trace in Zipkin" in purpose.inner_text()
    assert_weekdays_stay_clear_of_the_names(screen)
    assert_fits_the_width(screen)

    trace = screen.locator("footer a.trace")
    assert TRACE_ID.fullmatch(trace.inner_text())
    assert trace.get_attribute("href").endswith(f"/traces/{trace.inner_text()}")
    button = screen.get_by_role("link", name="See this page's trace in Zipkin")
    assert button.is_visible()
    assert button.get_attribute("href") == trace.get_attribute("href")
    box = button.bounding_box()
    assert box["height"] >= 32, f"a button-sized target: {box}"
    assert box["width"] >= 150, f"a button-sized target: {box}"


def test_week_list_keeps_each_weekday_apart_from_its_toast(untraced_site, screen):
    screen.goto(f"{untraced_site.url}/toasts/")
    screenshot(screen, "week")
    assert_weekdays_stay_clear_of_the_names(screen)
    assert_fits_the_width(screen)


def test_header_nav_fits_on_one_line(untraced_site, screen):
    screen.goto(f"{untraced_site.url}/toasts/")
    links = screen.locator("header nav a")
    assert links.all_inner_texts() == ["Today", "The week", "API", "Admin"]
    tops = {round(link.bounding_box()["y"]) for link in links.all()}
    assert len(tops) == 1, f"the nav wraps: link tops at {sorted(tops)}"
    assert_fits_the_width(screen)


def test_the_site_has_a_favicon(untraced_site, screen, visitor):
    screen.goto(f"{untraced_site.url}/")
    icon = screen.locator('head link[rel="icon"]')
    assert icon.count() == 1
    url = icon.evaluate("link => link.href")
    response = visitor.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/")
    # Chromium asks for /favicon.ico only when a page names no icon: once it has
    # fetched the icon the page names, it has made up its mind.
    with screen.expect_request(lambda request: request.url == url):
        screen.goto(f"{untraced_site.url}/toasts/")
    assert "/favicon.ico" not in untraced_site.log()


def test_toast_page_labels_its_rating_and_shows_the_comments(untraced_site, screen):
    screen.goto(f"{untraced_site.url}/toasts/")
    screen.locator(".week li a").first.click()
    toast_url = screen.url
    comment = "Crunchy <b>crust</b> & basil"  # user input: shown as written, not as HTML
    stars = screen.get_by_role("group", name="Stars")
    stars.get_by_role("radio", name="★★★★", exact=True).check()
    screen.get_by_label("Comment").fill(comment)
    screen.get_by_role("button", name="Send rating").click()
    screen.wait_for_url(toast_url)
    assert "Thanks! Your 4-star rating is saved." in screen.locator(".message").inner_text()
    screenshot(screen, "toast")

    summary = screen.locator("main .rating-summary")
    assert re.fullmatch(r"Rating: ★ \d\.\d from \d+ ratings?", summary.inner_text().strip())
    # It lines up with the heading above it: no indent of its own.
    left = summary.evaluate(
        """p => { const text = document.createRange(); text.selectNodeContents(p);
                  return text.getClientRects()[0].left; }"""
    )
    assert abs(left - screen.locator("main h1").bounding_box()["x"]) < 1

    newest = screen.locator(".recent-ratings li").first
    assert newest.locator(".comment").inner_text() == comment
    assert newest.locator(".comment b").count() == 0
    assert newest.get_by_role("img", name="4 of 5 stars").is_visible()
    assert_fits_the_width(screen)


def test_the_toast_detail_gives_its_newest_ratings_and_the_list_does_not(untraced_site, visitor):
    toast = visitor.get(f"{untraced_site.url}/api/toasts/").json()["results"][0]
    assert "recent_ratings" not in toast  # the list stays cheap
    url = f"{untraced_site.url}/api/toasts/{toast['id']}/"
    sent = [f"Comment {n} {uuid.uuid4()}" for n in range(6)]
    for n, comment in enumerate(sent):
        payload = {"stars": n % 5 + 1, "comment": comment}
        assert visitor.post(f"{url}ratings/", json=payload).status_code == 201
    recent = visitor.get(url).json()["recent_ratings"]
    assert [r["comment"] for r in recent] == sent[:0:-1]  # the newest five, newest first
    assert set(recent[0]) == {"stars", "comment", "created_at"}
