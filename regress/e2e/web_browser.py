#
# Copyright (c) 2026 The emailproxy authors
#
# Permission to use, copy, modify, and distribute this software for any
# purpose with or without fee is hereby granted, provided that the above
# copyright notice and this permission notice appear in all copies.
#
# THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
# WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
# MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
# ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
# WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
# ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
# OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
"""The authorisation page in a real browser: headless Chromium, driven by
Selenium through chromedriver, opens the page, fills the form, follows
the page to the scripted OAuth server's consent screen, allows access and
lands on the page that says the account is ready; an IMAP login with that
password then succeeds.  A screenshot of each page is kept in the test's
scratch directory (1-form.png, 2-consent.png, 3-done.png).  Without
Chromium, its driver or Selenium the test fails: it cannot be skipped.
"""

import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
AUTH = "auth@example.com"
PASSWORD = "browser-pw-7d21"
WAIT = 30               # seconds for any page to come

h = Harness("web_browser")
missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as e:
    missing.append("python3-selenium (%s)" % e)
h.check(not missing, "Chromium, chromedriver and Selenium are installed",
        ", ".join(missing))
if missing:
    h.finish()

h.start_dovecot()
oauth = h.oauth
oauth.set(consent_page=1)
page_port = h.free_port()
PAGE = "http://127.0.0.1:%d/" % page_port
h.start_emailproxy(h.standard_config(
    pop=False, smtp=False,
    extra_globals="kdf_iterations = 100000\n"
                  "authorisation_page_url = %s\n"
                  "authorisation_page_listen = 127.0.0.1:%d"
                  % (PAGE, page_port)))

profile = h.path("chromium-profile")
shutil.rmtree(profile, ignore_errors=True)
os.makedirs(profile)
opts = webdriver.ChromeOptions()
opts.binary_location = CHROMIUM
for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
          "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync",
          "--user-data-dir=" + profile, "--window-size=900,900",
          # the scripted OAuth server's certificate is from the test CA
          "--ignore-certificate-errors"):
    opts.add_argument(a)
driver = None
try:
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(WAIT)
    wait = WebDriverWait(driver, WAIT, poll_frequency=0.2)

    def shot(name):
        path = h.path(name)
        driver.save_screenshot(path)
        return os.path.getsize(path) if os.path.exists(path) else 0

    driver.get(PAGE)
    wait.until(lambda d: d.find_elements(By.ID, "password"))
    h.check(shot("1-form.png") > 0 and driver.title ==
            "Authorise your mail account", "Chromium shows the form "
            "(1-form.png)", driver.title)
    driver.find_element(By.ID, "address").send_keys(AUTH)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "continue").click()
    wait.until(lambda d: d.current_url.startswith(oauth.url) and
               d.find_elements(By.ID, "allow"))
    h.check(shot("2-consent.png") > 0 and "/authorize?" in
            driver.current_url, "the page sends Chromium to the provider's "
            "consent screen (2-consent.png)", driver.current_url)
    driver.find_element(By.ID, "allow").click()
    wait.until(lambda d: d.find_elements(By.ID, "done"))
    h.check(shot("3-done.png") > 0 and driver.current_url == PAGE +
            "status" and AUTH in driver.find_element(By.ID, "done").text,
            "Chromium lands on the page that says the account is ready "
            "(3-done.png)", driver.current_url)
    body = driver.find_element(By.TAG_NAME, "body").text
    h.check("Incoming mail (IMAP)" in body and
            str(h.proxy_ports["imap"]) in body,
            "... with the IMAP server and port for the mail client",
            body[:300])
    logs = [e for e in driver.get_log("browser")
            if "Content Security Policy" in e.get("message", "")]
    h.check(not logs, "no Content-Security-Policy violation in the "
            "browser's console", str(logs[:3]))
except Exception as e:  # noqa: BLE001 -- reported as a FAIL line
    h.check(False, "the browser completes the page's flow",
            "%s: %s" % (type(e).__name__, e))
finally:
    if driver is not None:
        try:
            driver.quit()
        except Exception:  # noqa: BLE001
            pass

c = h.connect(h.proxy_ports["imap"], timeout=30)
c.readline()
c.send(b'a LOGIN "%s" "%s"\r\n' % (AUTH.encode(), PASSWORD.encode()))
r = c.read_until(rb"^a (OK|NO|BAD)")[-1].decode("utf-8", "replace")
c.close()
h.check(r.startswith("a OK"), "IMAP login with the password given in the "
        "browser succeeds", r)
h.finish()
