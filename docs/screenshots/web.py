"""Screenshots of the main pages of the web application (``make screenshots``; the web pages are ``web-*.png``).

Builds the SYNTHETIC demo cohort in a temporary directory, runs ``decidua
serve`` on 127.0.0.1 and photographs the pages with Playwright in Debian's
chromium (``/usr/bin/chromium``) into this folder.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PASSWORD = "screenshot password"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main() -> None:
    import httpx
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="decidua-shots-"))
    url = f"sqlite:///{tmp / 'demo.sqlite'}"
    env = {**os.environ, "DECIDUA_DATA_DIR": str(tmp / "var"), "DECIDUA_USER": "admin"}
    exe = [sys.executable, "-c", "from decidua.cli import main; main()"]
    subprocess.run([*exe, "demo", "--database", url], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([*exe, "--db", url, "users", "set-password", "admin", "--password-stdin"],
                   env=env, input=PASSWORD, text=True, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    subprocess.run([*exe, "--db", url, "users", "add", "admin", "--role", "admin",
                    "--password-stdin"], env=env, input=PASSWORD, text=True, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*exe, "--db", url, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        bad = tmp / "pregnancies.csv"
        bad.write_text("patient_id,order,outcome,outcome_date\nDEC-0001,9,sometimes,2023-01-01\n"
                       "DEC-0002,1,miscarriage,2023-02-30\n")
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            page = b.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"{base}/login")
            page.screenshot(path=str(HERE / "web-login.png"))
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button:has-text('Log in')")
            page.wait_for_url(f"{base}/patients")
            page.screenshot(path=str(HERE / "web-patients.png"))
            first = re.findall(r'href="/patients/([A-Z]+-\d+)"', page.content())[1]
            page.goto(f"{base}/patients/{first}")
            page.set_viewport_size({"width": 1200, "height": 1500})
            page.screenshot(path=str(HERE / "web-patient.png"))
            page.set_viewport_size({"width": 1200, "height": 900})
            page.goto(f"{base}/upload")
            page.select_option("select[name=kind]", "pregnancies")
            page.set_input_files("input[name=file]", str(bad))
            page.click("button:has-text('Check the file')")
            page.screenshot(path=str(HERE / "web-upload-errors.png"))
            page.goto(f"{base}/users")
            page.screenshot(path=str(HERE / "web-users.png"))
            b.close()
    finally:
        server.terminate()
        server.wait(20)
    print(f"screenshots written to {HERE}")


if __name__ == "__main__":
    main()
