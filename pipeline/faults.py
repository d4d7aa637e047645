"""Named points where the test suite can kill or pause a real run, to prove that a run
killed anywhere leaves the previous outputs or the new ones, never a partial file.

    DOUDIAN_FAULT=NAME          SIGKILL this process when it reaches point NAME
    DOUDIAN_PAUSE=NAME:SECONDS  sleep at point NAME (to overlap two runs in a test)

Unset (always, outside tests), a point costs one dictionary lookup."""

from __future__ import annotations

import os
import signal
import time


def point(name: str) -> None:
    if os.environ.get("DOUDIAN_FAULT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    pause = os.environ.get("DOUDIAN_PAUSE", "")
    if pause.partition(":")[0] == name:
        time.sleep(float(pause.partition(":")[2] or 1))
