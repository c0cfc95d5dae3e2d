"""The ``samplelab`` command line (Typer).

Every user error prints one line ``error: <field>: <problem> — fix: <hint>`` to stderr and
exits with code 2; Ctrl-C exits with code 130 and says how to resume.
"""

from __future__ import annotations

import signal
import sys
import threading

import typer

from samplelab.cli import export, probe, reproduce, sample, tables, train  # noqa: F401  (registers the commands)
from samplelab.cli.common import INTERRUPTED, app, exit_on_interrupt
from samplelab.core.errors import ConfigError
from samplelab.core.version import __version__


def _version(value: bool) -> None:
    if value:
        print(f"samplelab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version"),
) -> None:
    """samplelab: sample efficiency of neural architectures."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``samplelab`` script; returns the exit code.

    Ctrl-C ends the process from the first line on, not only once training has started:
    a KeyboardInterrupt raised while Python runs a callback (JAX's garbage-collection
    hook, a ``__del__``) is printed and dropped, and the command would go on.
    """
    # Handlers are the main thread's to set; a Ctrl-C the caller ignores (a background job) stays ignored.
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return _run(argv)
    previous_handler = signal.signal(signal.SIGINT, exit_on_interrupt)
    try:
        return _run(argv)
    finally:  # None: the previous handler was not set from Python
        signal.signal(signal.SIGINT, signal.default_int_handler if previous_handler is None else previous_handler)


def _run(argv: list[str] | None) -> int:
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="samplelab", standalone_mode=False)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except typer.TyperException as err:  # usage errors (exit code 2) and other Click-style errors
        ctx = getattr(err, "ctx", None)
        where = (
            f"samplelab {ctx.info_name} --help" if ctx is not None and ctx.parent is not None else "samplelab --help"
        )
        message = " ".join(err.format_message().split())
        print(f"error: {message} — fix: see `{where}`", file=sys.stderr)
        return err.exit_code
    except (KeyboardInterrupt, typer.Abort):
        result = 130
    if result == 130:
        print(INTERRUPTED, file=sys.stderr)
    return result if isinstance(result, int) else 0
