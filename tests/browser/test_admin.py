"""The task admin in a browser: log in, filter, select, mark completed.

Django's live server (pytest-django's ``live_server``) rather than gunicorn: it
serves the suite's own database, SQLite or PostgreSQL, so the test makes its rows
with the factories and reads the outcome straight from the database, without a
migrate of its own. The production policy is switched on for it (the middleware
reads the setting per response), so the admin is shown to work under it too.
"""

from __future__ import annotations

from urllib.request import urlopen

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from api.middleware import build_policy
from config.settings import production
from tests.factories import DEFAULT_PASSWORD, TaskFactory, UserFactory
from todos.models import Task, TaskPriority, TaskStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def csp_live_server(settings, live_server):
    """The live server, answering with the production Content-Security-Policy."""
    settings.SECURE_CSP = production.SECURE_CSP
    with urlopen(f"{live_server.url}/admin/login/", timeout=10) as page:  # noqa: S310
        assert page.headers["Content-Security-Policy"] == build_policy(
            production.SECURE_CSP
        )
    return live_server


def test_staff_filters_tasks_and_marks_the_selected_ones_completed(
    browser, csp_live_server
):
    staff = UserFactory.create(is_staff=True, is_superuser=True)
    owner = UserFactory.create()
    urgent = TaskFactory.create_batch(
        2, owner=owner, status=TaskStatus.PENDING, priority=TaskPriority.URGENT
    )
    low = TaskFactory.create(
        owner=owner, status=TaskStatus.PENDING, priority=TaskPriority.LOW
    )
    wait = WebDriverWait(browser, 15)

    browser.get(f"{csp_live_server.url}/admin/login/?next=/admin/todos/task/")
    browser.find_element(By.NAME, "username").send_keys(staff.email)
    browser.find_element(By.NAME, "password").send_keys(DEFAULT_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait.until(lambda d: d.find_elements(By.ID, "result_list"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 3

    # The priority filter of list_filter, as a person clicks it.
    browser.find_element(
        By.XPATH, "//details[@data-filter-title='priority']//a[text()='Urgent']"
    ).click()
    wait.until(lambda d: "priority__exact=40" in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert sorted(r.find_element(By.CSS_SELECTOR, "th").text for r in rows) == sorted(
        t.title for t in urgent
    )

    browser.find_element(By.ID, "action-toggle").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("mark_completed")
    browser.find_element(By.NAME, "index").click()
    message = wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success")
    )
    assert message[0].text == "2 task(s) marked completed."

    statuses = dict(Task.objects.values_list("pk", "status"))
    assert statuses == {
        urgent[0].pk: TaskStatus.COMPLETED,
        urgent[1].pk: TaskStatus.COMPLETED,
        low.pk: TaskStatus.PENDING,
    }
    assert Task.objects.filter(completed_at__isnull=False).count() == 2

    # The admin needed nothing the production policy forbids.
    console = [e for e in browser.get_log("browser") if e["source"] == "security"]
    assert console == []
