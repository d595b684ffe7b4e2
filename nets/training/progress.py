"""`fit`'s progress display: a "compiling" line, then a tqdm bar of the compiled epochs.

The first epoch of a run compiles its program (seconds, against milliseconds for an epoch of
a small model), so compiling is shown as a phase of its own and the bar starts after it: its
rate and ETA count compiled epochs only.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def _target(progress: Any) -> tuple[bool, Any]:
    """`(show, file)` for `fit`'s `progress` argument."""
    if progress is None:
        return sys.stderr.isatty(), None
    if isinstance(progress, bool):
        return progress, None
    if callable(getattr(progress, "write", None)):
        return True, progress
    raise TypeError("progress must be None (a bar when stderr is a terminal), True, False or "
                    f"a file-like object with a write method, got {progress!r}")


class Progress:
    """The compile line and the epoch bar of one `fit` call (nothing when not shown).

    `progress=True` uses `tqdm.auto` (a widget in notebooks, text on stderr elsewhere); a
    file-like `progress` gets plain tqdm text.
    """

    def __init__(self, progress: Any, *, epochs: int, done: int, steps_per_epoch: int):
        self.show, self.file = _target(progress)
        self.epochs, self.done, self.steps_per_epoch = epochs, done, steps_per_epoch
        self.bar = None
        self.started = 0.0
        if self.show:
            if self.file is None:
                from tqdm.auto import tqdm
            else:
                from tqdm import tqdm
            self._tqdm = tqdm

    def _make(self, **kwargs) -> Any:
        return self._tqdm(file=self.file, dynamic_ncols=self.file is None, **kwargs)

    def compiling(self) -> None:
        self.started = time.perf_counter()
        if self.show:
            self.bar = self._make(
                total=None, bar_format="{desc}",
                desc=f"fit: compiling the epoch ({self.steps_per_epoch} steps)...")

    def compiled(self) -> float:
        """Close the compile line and open the epoch bar; the compile's seconds."""
        seconds = time.perf_counter() - self.started
        if self.show:
            self.bar.set_description_str(f"fit: compiled in {seconds:.2f}s")
            self.bar.close()
            self.bar = self._make(total=self.epochs, initial=self.done, unit="epoch",
                                  desc=f"fit ({self.steps_per_epoch} steps/epoch)")
        return seconds

    def epoch(self, train_loss: float, val_loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{train_loss:.4g}", val=f"{val_loss:.4g}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
