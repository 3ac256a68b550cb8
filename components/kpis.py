"""KPI tiles: headline figures with growth vs the same period last year."""
from __future__ import annotations

import streamlit as st

from components.format import dd_mmm, indian_grouping, inr_compact, pct, units


def _comparison(k: dict) -> str:
    if k.get("prior_start") is None:
        return "No comparison period."
    period = (f"{dd_mmm(k['prior_start'], with_year=True)} to "
              f"{dd_mmm(k['prior_end'], with_year=True)}")
    if not k.get("prior_covered"):
        return f"Growth needs sales for {period}; the data does not go back that far."
    return f"Compared with the same days last year ({period})."


def _units_short(value: float) -> str:
    """'91,280' or '2.35 lakh' (the tile's label already says units)."""
    return units(value).removesuffix(" units")


def render_kpis(k: dict) -> None:
    """Four tiles (revenue, units, active SKUs, active PIN codes) and a caption with the
    period, the average revenue a day and what growth compares with."""
    note = _comparison(k)
    cols = st.columns([1.25, 1.1, 0.8, 0.95])
    cols[0].metric("Revenue", inr_compact(k["revenue"]),
                   delta=pct(k["revenue_growth"]) if k["revenue_growth"] is not None else None,
                   help=f"Sales value in the selected period. {note} "
                        f"Last year: {inr_compact(k.get('prior_revenue'))}.",
                   border=True)
    cols[1].metric("Units sold", _units_short(k["units"]),
                   delta=pct(k["units_growth"]) if k["units_growth"] is not None else None,
                   help=f"Units sold in the selected period. {note}", border=True)
    cols[2].metric("Active SKUs", indian_grouping(k["active_skus"]),
                   help="Products with at least one unit sold in the period.", border=True)
    cols[3].metric("Active PIN codes", indian_grouping(k["active_pins"]),
                   help="PIN codes with at least one unit sold in the period.", border=True)
    if k.get("start") is not None:
        st.caption(f"{dd_mmm(k['start'], with_year=True)} to {dd_mmm(k['end'], with_year=True)}"
                   f" · {inr_compact(k['avg_daily_revenue'])} a day on average · {note}")
