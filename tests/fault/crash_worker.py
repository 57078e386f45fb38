"""``appwatch worker`` that kills itself (SIGKILL) after its detect stage has written its
state to the changelog and before it commits the input offsets, at the Nth such write
(``APPWATCH_TEST_CRASH_AT``): the worst moment for a replay.

    APPWATCH_TEST_CRASH_AT=3 python -m tests.fault.crash_worker worker
"""

from __future__ import annotations

import os
import signal

from streams.stage import DetectStage

AT = int(os.environ["APPWATCH_TEST_CRASH_AT"])
_write = DetectStage._write
_writes = 0


async def write_then_die(self: DetectStage) -> None:
    global _writes
    had_state = any(self.dirty.values())
    await _write(self)
    if had_state:
        _writes += 1
        if _writes >= AT:
            os.kill(os.getpid(), signal.SIGKILL)  # before ``_commit`` commits the offsets


DetectStage._write = write_then_die

if __name__ == "__main__":
    from appwatch.cli import main

    main()
