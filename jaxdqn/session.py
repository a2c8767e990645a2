"""The session around a run: its run directory (made, locked, shared by every process) and
the signals that ask it to stop."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import jax

from jaxdqn import distributed
from jaxdqn.config import Config
from jaxdqn.options import RunOptions


class StopFlag:
    """Set by SIGINT/SIGTERM; the `StopSignals` tracker checks it between chunks."""

    def __init__(self):
        self.signal = None

    def __bool__(self):
        return self.signal is not None


@contextlib.contextmanager
def catch_signals(stop: StopFlag, logger) -> Iterator[StopFlag]:
    """SIGINT/SIGTERM set `stop` (the run finishes its chunk and checkpoints); a second one
    stops now. The previous handlers come back on exit."""

    def on_signal(signum, frame):
        del frame
        if stop:  # a second signal: stop now
            raise KeyboardInterrupt
        stop.signal = signal.Signals(signum).name
        message = f"{stop.signal}: finishing this chunk, then saving a checkpoint"
        logger.note(message) if logger is not None else print(message, flush=True)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def open_run_dir(config: Config, options: RunOptions, resume: bool) -> Iterator[Path]:
    """Makes (or reopens) the run directory `options` name and holds its lock while the run
    lasts.

    One process per run directory: a second is refused (`rundir.RunLockedError`), and the OS
    drops the lock if this one dies (even SIGKILL). In a multi-process run process 0 opens and
    locks it and the others follow; a failure there reaches every process.
    """
    from jaxdqn.rundir import lock_run_dir, make_run_dir

    if jax.process_count() == 1:
        run_dir = make_run_dir(config, options, resume=resume)
        with lock_run_dir(run_dir):
            yield run_dir
        return
    lock, failure, opened = None, None, ["", ""]
    if distributed.is_main():
        try:
            run_dir = make_run_dir(config, options, resume=resume)
            lock = lock_run_dir(run_dir)
            opened[0] = str(run_dir)
        except Exception as err:  # every process must hear of it, or the others would wait
            failure, opened[1] = err, f"{type(err).__name__}: {err}"
    run_dir, error = json.loads(distributed.broadcast_text(json.dumps(opened)))
    if failure is not None:
        raise failure
    if error:
        raise distributed.OtherProcessError(f"process 0 could not open the run directory: {error}")
    try:
        yield Path(run_dir)
    finally:
        if lock is not None:
            lock.release()
