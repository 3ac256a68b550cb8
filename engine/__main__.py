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
    "forecast": "engine.forecast.cli",
    "backtest": "engine.forecast.cli",
    "elasticity": "engine.pricing.cli",
    "price-optimize": "engine.pricing.cli",
    "reorder": "engine.inventory.cli",
    "rank-mandis": "engine.sourcing.cli",
    "geo": "engine.geo_cli",
    "alerts": "engine.alerts_cli",
    "scenario": "engine.scenarios.cli",
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
