"""The dashboard in a real headless Chromium, against a real gunicorn (Selenium drives
Debian's chromium and chromedriver; `make test` installs them when missing).

Screenshots are saved under test-artifacts/.
"""

import os
from pathlib import Path

import pytest

from libraries.models import Library
from scanner.jobs import services
from scanner.models import ScanJob
from tests.helpers import local_worker, make_operator, many_files
from tests.procs import ROOT, Gunicorn, manage, server_env, wait_until

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    if os.environ.get("REQUIRE_BROWSER"):
        raise RuntimeError("REQUIRE_BROWSER is set but Debian's chromium/chromium-driver are not installed")
    pytest.skip("Debian's chromium and chromium-driver are not installed (make test installs them)",
                allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


@pytest.fixture
def browser(tmp_path):
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager try to download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations are reported there
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def server(tmp_path):
    env = server_env(tmp_path)
    assert manage("collectstatic", "--noinput", "-v0", env=env).returncode == 0
    gunicorn = Gunicorn(tmp_path, workers=2, env={
        "SCANNER_CLAIM_INTERVAL": "0.2", "SCANNER_BATCH_SIZE": "10", "SCANNER_MAX_FILES_PER_SECOND": "150",
    }).start()
    yield gunicorn
    gunicorn.kill()


def shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def settled(check):
    """`check` as a wait condition that tolerates the page being replaced under it (reloads)."""

    def attempt():
        try:
            return check()
        except (StaleElementReferenceException, NoSuchElementException, WebDriverException):
            return None  # the element went away with a refresh (Chromium words it several ways)

    return attempt


def card(driver, name: str):
    for element in driver.find_elements(By.CSS_SELECTOR, "article.library"):
        if element.find_element(By.CSS_SELECTOR, "h2").text == name:
            return element
    return None


def field(element, name: str) -> str:
    return element.find_element(By.CSS_SELECTOR, f'[data-field="{name}"]').text


def log_in(driver, server, username: str, password: str = "a-long-pass-123") -> None:
    driver.get(server.url + "/accounts/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def add_library(driver, name: str, path: str) -> None:
    form = driver.find_element(By.ID, "add-library")
    for input_name, value in (("name", name), ("path", path)):
        box = form.find_element(By.NAME, input_name)
        box.clear()
        box.send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_log_in_add_a_library_scan_pause_and_resume(browser, server, django_user_model, tmp_path):
    make_operator("owner", password="a-long-pass-123")
    films, music = tmp_path / "media/films", tmp_path / "media/music"
    many_files(films, 450)
    many_files(music, 900)

    browser.get(server.url + "/")
    assert "/accounts/login/" in browser.current_url
    browser.find_element(By.NAME, "username").send_keys("owner")
    browser.find_element(By.NAME, "password").send_keys("a-long-pass-123")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_until(lambda: browser.find_elements(By.ID, "add-library"), timeout=10, what="the dashboard")

    # A bad folder shows the API's reason; a good one appears as a card.
    add_library(browser, "Films", str(tmp_path / "nowhere"))
    error = wait_until(lambda: browser.find_element(By.CSS_SELECTOR, '[data-error="path"]').text, timeout=10,
                       what="the validation message")
    assert "No such folder" in error
    shot(browser, "1-validation-message")
    add_library(browser, "Films", str(films))
    films_card = wait_until(settled(lambda: card(browser, "Films")), timeout=10, what="the new library's card")

    # Start: the bar moves and reaches 100%.
    films_card.find_element(By.CSS_SELECTOR, '[data-action="start"]').click()
    seen: list[float] = []

    def progress_until_complete():
        scan = card(browser, "Films").find_element(By.CSS_SELECTOR, "[data-scan]")
        seen.append(float(scan.find_element(By.CSS_SELECTOR, ".bar").get_attribute("aria-valuenow")))
        if 30 < seen[-1] < 90 and not (ARTIFACTS / "2-scan-running.png").exists():
            shot(browser, "2-scan-running")
        return scan.get_attribute("data-status") == "completed"

    wait_until(settled(progress_until_complete), timeout=30, interval=0.2, what="the scan to complete on the page")
    films_card = card(browser, "Films")
    # Read again: the page may have refreshed between the two reads of the last poll.
    seen.append(float(films_card.find_element(By.CSS_SELECTOR, ".bar").get_attribute("aria-valuenow")))
    assert seen[-1] == 100.0 and field(films_card, "percent") == "100.0%"
    assert any(0 < value < 100 for value in seen), f"the bar never showed progress: {seen}"
    assert seen == sorted(seen), "progress never goes backwards"
    assert field(films_card, "files") == "450 / 450"
    # The last scan as the script says it, as the server-rendered page says it (tests/test_library_card.py).
    assert field(films_card, "last") == "manual: the whole library, 450 files, just now"
    # The count of the catalogue follows the scan, with no reload.
    wait_until(settled(lambda: card(browser, "Films").find_element(By.CSS_SELECTOR, ".count").text
                       == "450 files catalogued"), timeout=10, what="the catalogued count to follow the scan")
    shot(browser, "3-scan-complete")

    # Pause and resume a second library's scan.
    add_library(browser, "Music", str(music))
    wait_until(settled(lambda: card(browser, "Music")), timeout=10, what="the music card")
    card(browser, "Music").find_element(By.CSS_SELECTOR, '[data-action="start"]').click()
    wait_until(settled(lambda: float(card(browser, "Music").find_element(By.CSS_SELECTOR, ".bar")
                                     .get_attribute("aria-valuenow")) > 5), timeout=20,
               what="the music scan to progress")
    card(browser, "Music").find_element(By.CSS_SELECTOR, '[data-action="pause"]').click()
    wait_until(settled(lambda: field(card(browser, "Music"), "status") == "paused"), timeout=10,
               what="paused on the page")
    job = ScanJob.objects.get(library__name="Music")
    assert (job.status, job.pause_reason) == ("paused", "user") and job.files_processed < 900
    assert field(card(browser, "Music"), "phase") == "paused"  # not the "scanning" it stopped in
    shot(browser, "4-scan-paused")
    resume = card(browser, "Music").find_element(By.CSS_SELECTOR, '[data-action="resume"]')
    assert resume.is_enabled()
    resume.click()
    wait_until(settled(lambda: field(card(browser, "Music"), "status") == "completed"), timeout=30,
               what="the resumed scan")
    job.refresh_from_db()
    assert (job.status, job.resume_count, job.files_processed) == ("completed", 1, 900)
    shot(browser, "5-dashboard")


def test_a_failed_poll_keeps_the_page_and_says_it_is_retrying(browser, server, django_user_model, make_library):
    make_library(name="Films")
    django_user_model.objects.create_user("viewer", password="a-long-pass-123")
    log_in(browser, server, "viewer")
    wait_until(settled(lambda: card(browser, "Films")), timeout=10, what="the dashboard")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-action]"), "no controls for non-staff users"
    server.kill()
    banner = browser.find_element(By.ID, "connection")
    wait_until(lambda: banner.is_displayed(), timeout=10, what="the connection-lost banner")
    assert banner.text == "Connection lost, retrying…"
    assert card(browser, "Films") is not None, "the page keeps its content"
    shot(browser, "6-connection-lost")


def test_the_watch_line_follows_a_watch_taken_up_with_no_reload(browser, server, django_user_model, make_library):
    """Issue 26: "the 'Watched by ...' line refreshes like the rest; today it needs a reload"."""
    from scanner.models import LibraryWatch

    library = make_library(name="Films")
    django_user_model.objects.create_user("viewer", password="a-long-pass-123")
    log_in(browser, server, "viewer")
    films = wait_until(settled(lambda: card(browser, "Films")), timeout=10, what="the dashboard")
    assert films.find_element(By.CSS_SELECTOR, ".watch").text.startswith("Not watched now")
    worker = local_worker(os.getpid())  # this process: alive, so no server drops the lease
    LibraryWatch.objects.create(library=library, worker=worker)
    wait_until(settled(lambda: card(browser, "Films").find_element(By.CSS_SELECTOR, ".watch").text
                       == f"Watched by {worker.label}"), timeout=15, what="the watch line to follow")


def test_the_scan_job_list_fits_1400_pixels(browser, server, django_user_model, make_library):
    """Issue 26: the admin's scan-job list, with its trigger column, fits a 1400 px window."""
    library = make_library(name="Films and series")
    for trigger, status, reason in (("catch_up", "completed", None), ("watch", "completed", None),
                                    ("schedule", "paused", "interrupted")):
        ScanJob.objects.create(library=library, status=status, trigger=trigger, files_found=123_456,
                               files_processed=12_345, progress=10, pause_reason=reason,
                               worker_name="media-server.example.org:123456")
    django_user_model.objects.create_superuser("root", password="a-long-pass-123")
    browser.set_window_size(1400, 1000)
    log_in(browser, server, "root")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "h1"), timeout=10, what="the dashboard")
    browser.get(server.url + "/admin/scanner/scanjob/")
    assert "Catch-up" in browser.find_element(By.ID, "result_list").text
    shot(browser, "8-admin-scan-jobs")
    for box in ("document.documentElement", "document.querySelector('#changelist .results')"):
        width, room = browser.execute_script(f"const e = {box}; return [e.scrollWidth, e.clientWidth]")
        assert width <= room, f"{box} is {width} px wide in {room} px: it scrolls sideways"


def test_no_page_breaks_the_content_security_policy_or_warns_in_the_console(browser, server, django_user_model,
                                                                           make_library):
    library = make_library(name="Films")
    job = ScanJob.objects.create(library=library, status="completed", progress=40, files_found=10,
                                 files_processed=4)
    django_user_model.objects.create_superuser("root", password="a-long-pass-123")
    log_in(browser, server, "root")
    wait_until(settled(lambda: card(browser, "Films")), timeout=10, what="the dashboard")
    violations = []
    for path in ["/", f"/libraries/{library.pk}/", f"/jobs/{job.pk}/", "/accounts/password_change/", "/admin/",
                 "/admin/libraries/library/", f"/admin/libraries/library/{library.pk}/change/",
                 f"/admin/scanner/scanjob/{job.pk}/change/", "/api/docs/"]:
        browser.get(server.url + path)
        if path == "/api/docs/":
            wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".opblock"), timeout=15,
                       what="Swagger UI to render the operations")
        # CSP violations, unknown Permissions-Policy features, and a missing favicon: each is
        # a console line on every page.
        violations += [(path, entry["message"]) for entry in browser.get_log("browser")
                       if any(what in entry["message"] for what in ("Content Security Policy", "Permissions-Policy",
                                                                     "favicon"))]
    assert violations == []

    # The progress bar, drawn without a style attribute, still shows the job's progress.
    browser.get(server.url + f"/libraries/{library.pk}/")
    bar = browser.find_element(By.CSS_SELECTOR, ".bar")
    fill = bar.find_element(By.CSS_SELECTOR, ".fill")
    assert abs(fill.size["width"] / bar.size["width"] - 0.4) < 0.02


def test_scan_a_folder_from_the_folder_view(browser, server, make_library):
    make_operator("owner", password="a-long-pass-123")
    library = make_library(name="Music")
    many_files(Path(library.path) / "Artist", 30)
    many_files(Path(library.path) / "Other", 5)
    first = services.scan_start(library_id=library.pk).job  # the server scans it
    wait_until(lambda: ScanJob.objects.get(pk=first.pk).status == "completed", timeout=30, what="the first scan")
    log_in(browser, server, "owner")
    wait_until(lambda: browser.find_elements(By.ID, "add-library"), timeout=10, what="the dashboard")
    browser.get(server.url + f"/libraries/{library.pk}/browse/")
    row = wait_until(lambda: [r for r in browser.find_elements(By.CSS_SELECTOR, "table.folders tbody tr")
                              if r.text.startswith("Artist/")], timeout=10, what="the folder list")[0]
    row.find_element(By.CSS_SELECTOR, "[data-scan-folder]").click()
    message = wait_until(lambda: browser.find_element(By.CSS_SELECTOR, '[data-field="browse-message"]').text,
                         timeout=10, what="the page to say the scan was queued")
    job = ScanJob.objects.filter(library=library).latest("pk")
    assert message == f"Scan #{job.pk} queued for Artist" and job.scope == ["Artist"]
    wait_until(lambda: ScanJob.objects.get(pk=job.pk).status == "completed", timeout=30, what="the folder's scan")
    job.refresh_from_db()
    assert job.files_processed == 30, "only the folder was scanned"


def test_scan_all_libraries_then_a_full_scan_of_one(browser, server, make_library):
    """Issue 26: "Scan all libraries" at the top, "Full scan" on a card."""
    films, music = make_library(name="Films"), make_library(name="Music")
    many_files(Path(films.path), 30)
    many_files(Path(music.path), 40)
    make_operator("owner", password="a-long-pass-123")
    log_in(browser, server, "owner")
    wait_until(settled(lambda: card(browser, "Music")), timeout=10, what="the dashboard")

    browser.find_element(By.ID, "scan-all").click()
    said = wait_until(settled(lambda: browser.find_element(By.ID, "scan-all-result").text), timeout=10,
                      what="what Scan all did")
    assert said == "Started 2 scans"
    for name in ("Films", "Music"):
        wait_until(settled(lambda name=name: field(card(browser, name), "status") == "completed"), timeout=30,
                   what=f"{name}'s scan to complete")
    assert sorted(ScanJob.objects.values_list("library__name", "mode")) == [("Films", "quick"), ("Music", "quick")]

    card(browser, "Music").find_element(By.CSS_SELECTOR, '[data-action="full"]').click()
    wait_until(lambda: ScanJob.objects.filter(library=music, mode="full", status="completed").exists(), timeout=30,
               what="the full scan")
    wait_until(settled(lambda: field(card(browser, "Music"), "files") == "40 / 40"
                       and field(card(browser, "Music"), "status") == "completed"), timeout=10,
               what="the card to show the full scan")
    shot(browser, "7-scan-all")


def test_a_card_edits_its_library_and_deletes_it_after_saying_what_happens(browser, server, make_library):
    make_operator("owner", password="a-long-pass-123")
    library = make_library(name="Films")
    log_in(browser, server, "owner")
    films = wait_until(settled(lambda: card(browser, "Films")), timeout=10, what="the dashboard")
    assert films.find_element(By.CSS_SELECTOR, "[data-schedule]").text == "No scheduled scans"

    def settings():
        element = card(browser, "Films") or card(browser, "Movies")
        details = element.find_element(By.CSS_SELECTOR, "details.settings")
        if details.get_attribute("open") is None:
            details.find_element(By.CSS_SELECTOR, "summary").click()
        return element.find_element(By.CSS_SELECTOR, "form[data-library-settings]")

    form = settings()
    form.find_element(By.NAME, "path").clear()
    form.find_element(By.NAME, "path").send_keys("/nowhere/at/all")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    error = wait_until(lambda: form.find_element(By.CSS_SELECTOR, '[data-error="form"]').text, timeout=10,
                       what="the API's reason on the card")
    assert error.startswith("path:")

    form.find_element(By.NAME, "path").clear()
    form.find_element(By.NAME, "path").send_keys(library.path)
    form.find_element(By.NAME, "name").clear()
    form.find_element(By.NAME, "name").send_keys("Movies")
    form.find_element(By.NAME, "watch").click()  # off
    form.find_element(By.NAME, "interval").send_keys("6")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    movies = wait_until(settled(lambda: card(browser, "Movies")), timeout=10, what="the saved card")
    library.refresh_from_db()
    assert (library.name, library.watch, library.scan_interval.total_seconds()) == ("Movies", False, 6 * 3600)
    assert movies.find_element(By.CSS_SELECTOR, "[data-schedule]").text.startswith("Scanned every 6 h · next ")

    settings().find_element(By.CSS_SELECTOR, "[data-delete-library]").click()
    alert = browser.switch_to.alert
    assert 'Delete the library "Movies"?' in alert.text and "A scan running now is stopped" in alert.text
    alert.dismiss()  # no: nothing happens
    assert Library.objects.filter(pk=library.pk).exists()
    settings().find_element(By.CSS_SELECTOR, "[data-delete-library]").click()
    browser.switch_to.alert.accept()
    wait_until(lambda: not Library.objects.filter(pk=library.pk).exists(), timeout=10, what="the library deleted")
    wait_until(settled(lambda: card(browser, "Movies") is None and browser.find_elements(By.CSS_SELECTOR, "p.empty")),
               timeout=10, what="the card gone")
