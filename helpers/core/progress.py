"""Progress bars: a live widget in JupyterLab, plain text in a headless run (so the saved notebook
shows each bar's final state, not a widget frozen at 0 %).

>>> bar = progress_bar(total=3, desc="POST /orders", disable=True)
>>> bar.update(3); bar.close()

Headless runners (``orderlab run`` / ``class``) set ``ORDERLAB_HEADLESS=1`` for their kernels.
"""

from __future__ import annotations

import os
import sys
from typing import Any

HEADLESS_ENV = "ORDERLAB_HEADLESS"


def headless() -> bool:
    """True in a run nobody watches live (papermill through the orderlab runner, CI)."""
    return os.environ.get(HEADLESS_ENV, "") == "1"


def progress_bar(iterable: Any = None, **options: Any) -> Any:
    """``tqdm(iterable, **options)``: ``tqdm.auto`` when watched, text on stdout (final state kept) headless."""
    if headless():
        from tqdm.std import tqdm

        options["leave"] = True  # a saved notebook keeps the bar's last line: how far it got
        options.setdefault("file", sys.stdout)
        options.setdefault("ascii", False)
        options.setdefault("mininterval", 0.5)
        options.setdefault("dynamic_ncols", False)
        options.setdefault("ncols", 80)
        return tqdm(iterable, **options)
    from tqdm.auto import tqdm as auto_tqdm

    return auto_tqdm(iterable, **options)
