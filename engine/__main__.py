"""`python -m engine ...`: the MicroPulse command line (contract in DESIGN.md).

Each engine package that offers commands has a `cli.py` with `add_commands(subparsers)`;
this file only wires them together, so adding a command never touches another package.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

COMMAND_MODULES = (
    "engine.warehouse.cli",   # init
    "engine.ingest.cli",      # ingest
    "engine.forecast.cli",    # forecast, backtest
    "engine.pricing.cli",     # elasticity, price-optimize
    "engine.inventory.cli",   # reorder
    "engine.sourcing.cli",    # rank-mandis
    "engine.geo_cli",         # geo
    "engine.alerts_cli",      # alerts
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine",
                                     description="MicroPulse demand intelligence engine")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
