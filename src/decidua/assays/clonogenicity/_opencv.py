"""OpenCV settings shared by the counting modules."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import cv2


def _single_threaded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``func`` with OpenCV restricted to one thread.

    OpenCV's parallel routines split work by the number of threads, which
    depends on the CPUs available to the process; counting always runs with
    one OpenCV thread so that its work split (and so any floating-point
    summation order) never differs between machines or runs. The caller's
    thread setting is restored afterwards. (The run-to-run differences
    actually seen came from uninitialised ``cv2.warpPolar`` output, fixed in
    :func:`refine_well_radius`.)
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        prev = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            return func(*args, **kwargs)
        finally:
            cv2.setNumThreads(prev)

    return wrapper
