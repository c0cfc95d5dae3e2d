"""Run a long XLA computation so that Ctrl-C still reaches Python."""

from __future__ import annotations

import threading
from collections.abc import Callable

import jax


def run_interruptibly(function: Callable, *args: object) -> object:
    """Run ``function(*args)`` to completion in a worker thread; Ctrl-C stays responsive.

    While XLA runs, the main thread would sit in C++ where Python cannot deliver
    KeyboardInterrupt until the whole ensemble has finished; here it waits in short joins.
    An interrupted computation is abandoned (the thread is a daemon), never stored.
    """
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = jax.block_until_ready(function(*args))
        except BaseException as error:  # handed to the main thread below
            outcome["error"] = error

    worker = threading.Thread(target=target, name="samplelab-ensemble", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
