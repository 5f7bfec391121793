"""Benchmark: the patient page of the demo cohort under 1, 10 and 50 concurrent connections.

Work: ``decidua demo`` builds the bundled SYNTHETIC demo cohort in a temporary
directory; ``decidua serve`` (one uvicorn worker, SQLite) runs on 127.0.0.1
only, on a free port. A logged-in client drives ``GET /patients/<id>`` over the
cohort's women (the full page: timeline, risk with its interval, care pathway)
with 1, 10 and 50 concurrent keep-alive connections, each level bounded in time
(``SECONDS``) and in count (``MAX_REQUESTS``).

The load generator is a small raw HTTP/1.1 client on asyncio (no client
library: it parses the status line and ``Content-Length``, so that it costs
little next to the server) in a separate process, so that it shares neither the
server's interpreter nor its event loop; it still shares the machine's cores.
Each request's latency is from writing it to having read the whole body; a
non-200 answer, a broken connection or a 30 s timeout is counted as an error
(printed, and the script exits non-zero), never as a latency.

Each page is visited once first (uncached: the risk model and the pathway are
computed, then cached) and that cost is printed apart; the levels then run on
the cached views. Last, a pregnancy is added to the first woman through the web
form and every page is visited again: hers is computed again, the others stay
cached (keyed by each woman's own records).

The server's CPU time per request (user + system, from ``/proc``) is printed
too: it depends much less than latencies on what else the machine runs.

Baseline (same run, same server, same connections): ``GET /healthz``, the
smallest response of the same stack (middleware, session cookie, headers), so
the ratio is the cost of the page's own work. Wall-clock latencies: the load
generator shares the machine with the server (the load average is printed).

Targets (issue 16, 2-core machine): p95 < 100 ms at 10 connections, < 1 s at 50.

Run: .venv/bin/python benchmarks/web.py [SECONDS]
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "--drive" else 8.0
MAX_REQUESTS = 3000
LEVELS = (1, 10, 50)
PASSWORD = "benchmark password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Conn:
    """One keep-alive HTTP/1.1 connection: a request, then its whole response read."""

    def __init__(self, host: str, port: int, cookie: str) -> None:
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nCookie: {cookie}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        """The status of ``GET path`` (the body read in full); reconnects when closed."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.head + b"\r\n")
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in
                  (ln.partition(":") for ln in lines[1:] if ln)}  # fmt: skip
        if "content-length" in fields:
            await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:  # no length: the body ends with the connection
            await self.reader.read()
            self.close()
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _drive(port: int, cookie: str, paths: list[str], conns: int, seconds: float,
                 max_requests: int) -> dict:
    """Closed loop: ``conns`` connections, each sending its next request when the last
    one's response has been read, until ``seconds`` pass or ``max_requests`` are sent.
    A non-200 answer or a broken connection counts as an error (the connection is opened
    again); latencies are of the requests answered 200."""
    lat: list[float] = []
    errors: dict[str, int] = {}
    sent = 0
    stop = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal sent
        conn = _Conn("127.0.0.1", port, cookie)
        i = k
        while time.perf_counter() < stop and sent < max_requests:
            sent += 1
            path = paths[i % len(paths)]
            i += conns
            t0 = time.perf_counter()
            try:
                status = await asyncio.wait_for(conn.get(path), timeout=30)
            except (TimeoutError, OSError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError, ValueError) as exc:  # fmt: skip
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                conn.close()
                continue
            if status == 200:
                lat.append(time.perf_counter() - t0)
            else:
                errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1
        conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(conns)))
    return {"sent": sent, "elapsed": time.perf_counter() - t0, "lat": lat, "errors": errors}


def _drive_in_child(port: int, cookie: str, paths: list[str], conns: int) -> dict:
    """:func:`_drive` in a separate process (its own interpreter and event loop, so the
    load generator does not share the server's GIL or loop), results as JSON."""
    import json

    job = json.dumps({"port": port, "cookie": cookie, "paths": paths, "conns": conns,
                      "seconds": SECONDS, "max_requests": MAX_REQUESTS})  # fmt: skip
    out = subprocess.run([sys.executable, __file__, "--drive"], input=job, text=True,
                         capture_output=True, check=True, timeout=SECONDS + 120)  # fmt: skip
    return json.loads(out.stdout)


def main() -> None:
    import httpx

    tmp = Path(tempfile.mkdtemp(prefix="decidua-web-bench-"))
    url = f"sqlite:///{tmp / 'demo.sqlite'}"
    env = {**os.environ, "DECIDUA_DATA_DIR": str(tmp / "var"), "DECIDUA_USER": "bench",
           "DECIDUA_SECRET_KEY": "benchmark"}  # fmt: skip
    exe = [sys.executable, "-c", "from decidua.cli import main; main()"]
    subprocess.run([*exe, "demo", "--database", url], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([*exe, "--db", url, "users", "add", "bench", "--role", "admin",
                    "--password-stdin"], env=env, input=PASSWORD, text=True, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    subprocess.run([*exe, "--db", url, "users", "set-password", "bench", "--password-stdin"],
                   env=env, input=PASSWORD, text=True, check=True, stdout=subprocess.DEVNULL)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*exe, "--db", url, "serve", "--host", "127.0.0.1", "--port",
                               str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        with httpx.Client(base_url=base) as c:
            page = c.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            r = c.post("/login", data={"username": "bench", "password": PASSWORD,
                                       "csrf_token": token})  # fmt: skip
            assert r.status_code == 303, r.text
            listing = c.get("/patients").text
            ids = re.findall(r'href="/patients/([A-Z]+-\d+)"', listing)
            cookies = dict(c.cookies)
        paths = [f"/patients/{i}" for i in ids]
        print(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"demo cohort: {len(ids)} women on the first page; {SECONDS:g} s or "
              f"{MAX_REQUESTS} requests per level; server: 1 uvicorn worker, SQLite\n")
        # first visit of each page: computes her risk and pathway (then cached by the
        # database's content version); reported apart, then the levels run warm
        cold = []
        with httpx.Client(base_url=base, cookies=cookies, timeout=60) as c:
            for p in paths:
                t0 = time.perf_counter()
                assert c.get(p).status_code == 200
                cold.append(time.perf_counter() - t0)
        print(f"first (uncached) visit of each page, 1 connection: p50 "
              f"{_pct(cold, .5) * 1e3:.0f} ms, p95 {_pct(cold, .95) * 1e3:.0f} ms\n")
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        print(f"{'work':<22}{'conns':>6}{'req':>7}{'errors':>7}{'req/s':>9}{'p50 ms':>9}"
              f"{'p95 ms':>9}{'p99 ms':>9}{'ratio p50':>11}{'server CPU ms/req':>19}")
        failed = False
        for conns in LEVELS:
            runs = []
            for work in (["/healthz"], paths):
                cpu0 = _cpu_s(server.pid)
                runs.append(_drive_in_child(port, cookie, work, conns))
                runs[-1]["cpu"] = _cpu_s(server.pid) - cpu0
            base_run, page_run = runs
            for name, run in (("baseline /healthz", base_run), ("patient page", page_run)):
                ls, nerr = run["lat"], sum(run["errors"].values())
                failed |= nerr > 0 or not ls
                if not ls:
                    print(f"{name:<22}{conns:>6}{run['sent']:>7}{nerr:>7}  no answer")
                    continue
                ratio = statistics.median(ls) / statistics.median(base_run["lat"] or ls)
                print(f"{name:<22}{conns:>6}{len(ls):>7}{nerr:>7}{len(ls) / run['elapsed']:>9.1f}"
                      f"{_pct(ls, .5) * 1e3:>9.1f}{_pct(ls, .95) * 1e3:>9.1f}"
                      f"{_pct(ls, .99) * 1e3:>9.1f}{ratio:>11.1f}"
                      f"{run['cpu'] / run['sent'] * 1e3:>19.2f}")
                if run["errors"]:
                    print(f"{'':<22}errors: {run['errors']}")
        # a write to one woman: her page is computed again, the others' stay cached
        # (keyed by each woman's own records' version)
        with httpx.Client(base_url=base, cookies=cookies, timeout=60) as c:
            n = max(map(int, re.findall(r"pregnancy (\d+)", c.get(paths[0]).text)), default=0)
            form = c.get(f"{paths[0]}/pregnancies/new").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            r = c.post(f"{paths[0]}/pregnancies/new", data={
                "csrf_token": token, "order": str(n + 1), "outcome": "miscarriage",
                "outcome_date": "2025-01-15"})  # fmt: skip
            if r.status_code != 303:
                errs = re.findall(r'class="error"[^>]*>([^<]+)<', r.text)
                raise SystemExit(f"adding a pregnancy: HTTP {r.status_code} {errs}")
            again = []
            for p in paths:
                t0 = time.perf_counter()
                assert c.get(p).status_code == 200
                again.append(time.perf_counter() - t0)
        print(f"\nafter a pregnancy added to {ids[0]}, each page again, 1 connection: hers "
              f"{again[0] * 1e3:.0f} ms; the {len(again) - 1} others p50 "
              f"{_pct(again[1:], .5) * 1e3:.1f} ms, p95 {_pct(again[1:], .95) * 1e3:.1f} ms")
        print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if failed:
            raise SystemExit("errors or levels without an answer (above)")
    finally:
        server.terminate()
        server.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)


def _drive_main() -> None:
    import json

    job = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(_drive(**job))))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--drive"]:
        _drive_main()
    else:
        main()
