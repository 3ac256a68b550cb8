"""Engine calls from a page: a result, or a sentence for the user, never a traceback; and
any engine error (engine.errors.MicroPulseError) shown with its evidence table.

`attempt()` gives a `Problem`: the sentence as a plain `str` (pages that `st.error` it keep
working) that also keeps the error's code and evidence rows, so `show_error()` can draw the
rows behind the sentence in an expander (Indian number and date formats, as every table).
"""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd
import streamlit as st

from components.format import indian_grouping
from components.tables import show_table
from engine.errors import EVIDENCE_LIMIT, MicroPulseError


class Problem(str):
    """A sentence for the user that keeps the engine error's `code` and `evidence` (a
    table, at most EVIDENCE_LIMIT rows). Picklable, so cached page functions can return it."""

    code: str = ""
    evidence: pd.DataFrame | None = None
    evidence_total: int = 0      # rows the error had (more than `evidence` when capped)

    @classmethod
    def of(cls, exc: BaseException, sentence: str | None = None) -> "Problem":
        out = cls(sentence if sentence is not None else str(exc))
        if isinstance(exc, MicroPulseError):
            out.code = exc.code
            table = exc.evidence_table()
            out.evidence = table.head(EVIDENCE_LIMIT) if not table.empty else None
            out.evidence_total = len(table)
        return out


def attempt(fn: Callable, *args, expected: tuple[type[Exception], ...] = (),
            failed: str = "That did not work", **kwargs) -> tuple[Any, str | None]:
    """(fn(*args, **kwargs), None), or (None, a Problem) when it raises: the error's own
    sentence (and evidence) for any engine error and the typed errors in `expected`
    (they are written for users), else `failed` followed by the error's type and text."""
    try:
        return fn(*args, **kwargs), None
    except (MicroPulseError, *expected) as exc:
        return None, Problem.of(exc)
    except Exception as exc:  # noqa: BLE001 - shown as a sentence, the page stays alive
        return None, Problem(f"{failed} ({type(exc).__name__}: {exc}).")


def show_error(problem: str | BaseException, icon: str = ":material/error:",
               kind: str = "error") -> None:
    """The sentence as st.error (or st.warning / st.info with `kind`), then, when the
    error carried evidence, the rows behind it in a collapsed expander."""
    if isinstance(problem, BaseException):
        problem = Problem.of(problem)
    getattr(st, kind)(str(problem), icon=icon)
    evidence = getattr(problem, "evidence", None)
    if evidence is None or evidence.empty:
        return
    total = max(getattr(problem, "evidence_total", 0), len(evidence))
    label = ("Show the row behind this" if total == 1 else
             f"Show the {indian_grouping(total)} rows behind this")
    with st.expander(label, icon=":material/table_rows:"):
        if total > len(evidence):
            st.caption(f"The first {len(evidence)} of {indian_grouping(total)}.")
        show_table(evidence)
        if problem.code:
            st.caption(f"Error code for support: {problem.code}")
