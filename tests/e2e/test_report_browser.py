"""The backtest report in a real browser: headless Chromium takes a screenshot of it.

Needs Debian's Chromium and a CJK font (``apt-get install -y chromium fonts-noto-cjk``);
skipped when ``/usr/bin/chromium`` is missing. Set ``APPWATCH_REPORT_PNG`` to keep
a copy of the screenshot.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1400, 2000
TIMEOUT = 90

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (apt-get install -y chromium fonts-noto-cjk)"
)


def decode_png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """(width, height, rows, bytes per pixel) of an 8-bit, non-interlaced RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows, prev, p = [], bytes(stride), 0
    for _ in range(height):
        f, line = raw[p], bytearray(raw[p + 1 : p + 1 + stride])
        p += 1 + stride
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


@pytest.fixture
def chromium(tmp_path):
    """Run Chromium once; whatever happens, its process group is killed afterwards."""
    procs: list[subprocess.Popen] = []

    def shoot(page: Path, png: Path) -> subprocess.CompletedProcess:
        args = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={png}",
            f"--window-size={WIDTH},{HEIGHT}",
            page.as_uri(),
        ]
        log = (tmp_path / "chromium.log").open("wb")
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        procs.append(proc)
        try:
            rc = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"chromium did not finish in {TIMEOUT}s; log: {tmp_path / 'chromium.log'}")
        return subprocess.CompletedProcess(args, rc)

    yield shoot
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


def test_report_screenshot_is_a_full_non_blank_page(tmp_path, chromium):
    from connectors import catalog, demo
    from streams import backtest, report
    from streams.rules import load

    lines = [e.to_json() for e in demo.events()] + [raw for _, raw in demo.malformed()]
    ruleset = load()
    result = backtest.run(lines, ruleset, catalog.shipped().companies())
    page = tmp_path / "report.html"
    page.write_text(report.render(result, ruleset), encoding="utf-8")
    png = tmp_path / "report.png"

    done = chromium(page, png)
    log = (tmp_path / "chromium.log").read_text(errors="replace")[-2000:]
    assert done.returncode == 0, log
    assert png.exists() and png.stat().st_size > 20_000, log
    if os.environ.get("APPWATCH_REPORT_PNG"):
        shutil.copyfile(png, os.environ["APPWATCH_REPORT_PNG"])

    width, height, rows, bpp = decode_png(png.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    colours: set[bytes] = set()
    background = bytes((0xF5, 0xF7, 0xFA))
    busy = 0
    for y in range(0, height, 2):
        row = rows[y]
        for x in range(0, width * bpp, bpp * 2):
            px = row[x : x + 3]
            colours.add(px)
            busy += px != background
    samples = (height // 2) * (width // 2)
    assert len(colours) > 200, f"only {len(colours)} colours: blank or unstyled"
    assert 0.25 < busy / samples, f"{busy / samples:.0%} of the page differs from the background"

    def near(rgb: tuple[int, int, int], tol: int = 24) -> int:
        return sum(1 for c in colours if all(abs(c[i] - rgb[i]) <= tol for i in range(3)))

    assert near((0x25, 0x63, 0xEB), 10), "no series line (blue) drawn"
    assert near((0xC2, 0x41, 0x0C), 10), "no warning alert marker (orange) drawn"
