"""`python -m engine ...`: the MicroPulse command line (contract in DESIGN.md).

Each engine package that offers commands has a `cli.py` with `add_commands(subparsers)`;
this file only wires them together, so adding a command never touches another package.
A known command imports only its own package (an upload should not pay for importing the
forecasting and optimisation stacks); `--help` and unknown commands import them all.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "init": "engine.warehouse.cli",
    "ingest": "engine.ingest.cli",
    "events": "engine.ingest.cli",
    "forecast": "engine.forecast.cli",
    "backtest": "engine.forecast.cli",
    "accuracy": "engine.forecast.live_cli",
    "elasticity": "engine.pricing.cli",
    "price-optimize": "engine.pricing.cli",
    "pricing": "engine.pricing.cli",
    "competitors": "engine.pricing.competitors_cli",
    "reorder": "engine.inventory.cli",
    "rank-mandis": "engine.sourcing.cli",
    "geo": "engine.geo_cli",
    "alerts": "engine.alerts_cli",
    "scenario": "engine.scenarios.cli",
    "trends": "engine.intel.cli",
    "ask": "engine.assistant.cli",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for `command` alone when it is known, else for every command."""
    parser = argparse.ArgumentParser(prog="python -m engine",
                                     description="MicroPulse demand intelligence engine")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for name in modules:
        importlib.import_module(name).add_commands(sub)
    return parser


EXIT_STORAGE = 74          # sysexits EX_IOERR: the disk is full or read-only


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as exc:    # noqa: BLE001 - an engine or storage error: one line
        return _one_line_error(exc)


def _one_line_error(exc: Exception) -> int:
    """Every command's engine errors (engine.errors.MicroPulseError: a bad input, a locked
    warehouse, a missing forecast...) and storage failures (disk full, read-only) end as
    one `error: ...` line on stderr, never a traceback: exit 74 for storage, 2 for the
    others. Anything else is a bug: re-raised."""
    from engine.errors import MicroPulseError
    from engine.warehouse.db import WarehouseError, storage_error

    problem = storage_error(exc, what="this run's results could not be saved",
                            where=_where(exc)) if not isinstance(exc, WarehouseError) \
        else storage_error(exc)
    if problem is not None or isinstance(exc, MicroPulseError):
        print("error: " + " ".join(str(problem or exc).split()), file=sys.stderr)
        return EXIT_STORAGE if problem is not None else 2
    raise exc


def _where(exc: Exception) -> str:
    """The disk an OSError happened on, as the sentence names it."""
    from pathlib import Path

    name = str(getattr(exc, "filename", "") or "")
    if not name or name.endswith((".duckdb", ".wal", ".tmp")):
        return "the disk that holds the warehouse"
    return f"the disk that holds {Path(name).parent}"


if __name__ == "__main__":
    sys.exit(main())
