"""A terminal progress bar driven by the Separator's ``progress(fraction, message)`` callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

STEPS = 1000
"""Bar resolution: the fraction is shown in tenths of a percent."""


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[float, str], None]]:
    """A tqdm bar (on stderr) with ETA; yields the callback to pass as ``progress=``.

    The bar is closed on leaving the block, also when the separation fails or is interrupted.
    """
    bar = tqdm(
        total=STEPS,
        desc=description,
        leave=True,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}] {postfix}",
    )

    def update(fraction: float, message: str) -> None:
        bar.n = min(STEPS, round(fraction * STEPS))
        bar.set_postfix_str(message, refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
