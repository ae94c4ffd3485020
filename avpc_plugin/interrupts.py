"""SIGTERM (a cluster's time limit, ``kill``) raised as an exception, so the work in progress
unwinds as it does on Ctrl-C: partial files removed, a way to go on printed."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType


@contextlib.contextmanager
def sigterm_raises(error: Callable[[int], BaseException]) -> Iterator[None]:
    """While inside, SIGTERM raises ``error(signal_number)`` in the main thread.

    Only the main thread can take signals, so elsewhere this does nothing; the previous handler
    comes back on leaving. (The engine polls for signals instead: its handler must not raise
    while a thread holds a lock.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(number: int, frame: FrameType | None) -> None:
        raise error(number)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
