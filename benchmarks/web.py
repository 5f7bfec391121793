"""Benchmark: the patient page of the demo cohort under 1, 10 and 50 concurrent connections.

Work: ``decidua demo`` builds the bundled SYNTHETIC demo cohort in a temporary
directory; ``decidua serve`` (one uvicorn worker, SQLite) runs on 127.0.0.1
only, on a free port. A logged-in client (httpx, asyncio) drives
``GET /patients/<id>`` over the cohort's women (the full page: timeline, risk
with its interval, care pathway) with 1, 10 and 50 connections, each level
bounded in time (``SECONDS``) and in count (``MAX_REQUESTS``).

Each page is visited once first (uncached: the risk model and the pathway are
computed, then cached by the database's content version) and that cost is
printed apart; the levels then run on the cached views.

Baseline (same run, same server, same connections): ``GET /healthz``, the
smallest response of the same stack (middleware, session cookie, headers), so
the ratio is the cost of the page's own work. Wall-clock latencies: the load
generator shares the machine with the server.

Targets (issue 16, 2-core machine): p95 < 100 ms at 10 connections, < 1 s at 50.

Run: .venv/bin/python benchmarks/web.py [SECONDS]
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0
MAX_REQUESTS = 3000
LEVELS = (1, 10, 50)
PASSWORD = "benchmark password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _drive(base: str, cookies: dict, paths: list[str], conns: int) -> tuple[int, float,
                                                                                 list[float]]:
    import httpx

    lat: list[float] = []
    done = 0
    stop = time.perf_counter() + SECONDS
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(base_url=base, cookies=cookies, limits=limits,
                                 timeout=30) as client:

        async def worker(k: int) -> None:
            nonlocal done
            i = k
            while time.perf_counter() < stop and done < MAX_REQUESTS:
                done += 1
                t0 = time.perf_counter()
                r = await client.get(paths[i % len(paths)])
                lat.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise SystemExit(f"{paths[i % len(paths)]}: HTTP {r.status_code}")
                i += conns

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(conns)))
        elapsed = time.perf_counter() - t0
    return len(lat), elapsed, lat


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
        print(f"{'work':<22}{'conns':>6}{'req':>7}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
              f"{'p99 ms':>9}{'ratio p50':>11}")
        for conns in LEVELS:
            bn, be, blat = asyncio.run(_drive(base, cookies, ["/healthz"], conns))
            n, e, lat = asyncio.run(_drive(base, cookies, paths, conns))
            for name, (k, el, ls) in (("baseline /healthz", (bn, be, blat)),
                                      ("patient page", (n, e, lat))):
                ratio = statistics.median(ls) / statistics.median(blat)
                print(f"{name:<22}{conns:>6}{k:>7}{k / el:>9.1f}{_pct(ls, .5) * 1e3:>9.1f}"
                      f"{_pct(ls, .95) * 1e3:>9.1f}{_pct(ls, .99) * 1e3:>9.1f}{ratio:>11.1f}")
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    main()
