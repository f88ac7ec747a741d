"""Ctrl-C during a run: the first asks the loop to stop at a step boundary, with its state
saved; the next ones never cut a checkpoint in half."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class StopFlag:
    """The first Ctrl-C asks the loop to stop at the next step boundary; a second one
    interrupts at once, except inside `critical()` (a checkpoint being written), which it
    lets finish first.

    `ends_process`: the process ends when the run stops (`aespec run`), so from the flag's
    exit on the Ctrl-Cs after the first are ignored: they would land in the interpreter's
    exit, as a traceback. A library caller (a notebook) gets its own handler back instead.
    """

    def __init__(self, ends_process: bool = False) -> None:
        self.ends_process = ends_process
        self.requested = False
        self._old: Any = None
        self._critical = 0
        self._pending = False
        self._ending = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self._ending:
            return  # the handler is being switched off: this Ctrl-C is one of "the next ones"
        if not self.requested:
            self.requested = True
        elif self._critical:
            self._pending = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """No KeyboardInterrupt from a second Ctrl-C until the block is done."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if self._pending and not self._critical:
            self._pending = False
            raise KeyboardInterrupt

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            ending = self.requested and self.ends_process  # see the class's docstring
            self._ending = ending  # from here a Ctrl-C that reaches _handle is dropped
            new = signal.SIG_IGN if ending else self._old
            for _ in range(3):
                try:
                    signal.signal(signal.SIGINT, new)
                    # a Ctrl-C that came while the first call switched is still pending,
                    # with no Python handler to run: it raises OSError ("Signal 2 ignored
                    # due to race condition") at the next check, this call at the latest
                    signal.signal(signal.SIGINT, new)
                    break
                except OSError:
                    continue  # that Ctrl-C is one of the next ones: dropped
            self._old = None
