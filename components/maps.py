"""pydeck maps of PIN codes. They work offline with no token: `map_style=None` lets
Streamlit pick a token-free basemap when there is internet, and the layers (circles plus
city names) still make sense on a blank background when there is none."""
from __future__ import annotations

import math

import pandas as pd
import pydeck as pdk
import streamlit as st

from components.format import inr_compact, pct, units

# Sequential palette, low -> high (pale yellow -> orange -> deep red).
PALETTE = [(254, 224, 139), (253, 174, 97), (244, 109, 67), (215, 48, 39), (165, 0, 38)]


def _colour(frac: float) -> list[int]:
    """Interpolate PALETTE at frac in [0, 1]; RGBA with some transparency."""
    frac = min(max(frac, 0.0), 1.0) * (len(PALETTE) - 1)
    i = min(int(frac), len(PALETTE) - 2)
    t = frac - i
    rgb = [round(a + (b - a) * t) for a, b in zip(PALETTE[i], PALETTE[i + 1])]
    return rgb + [200]


def fit_view(lat: pd.Series, lon: pd.Series, width_px: int = 760, height_px: int = 460
             ) -> pdk.ViewState:
    """Centre and zoom so every point is on screen (Web Mercator, 512-px world at zoom 0)."""
    lat_span = max(lat.max() - lat.min(), 0.02)
    lon_span = max(lon.max() - lon.min(), 0.02)
    mid_lat = (lat.max() + lat.min()) / 2
    zoom_lon = math.log2(width_px * 0.8 * 360 / (512 * lon_span))
    zoom_lat = math.log2(height_px * 0.8 * 360 / (512 * lat_span / math.cos(math.radians(mid_lat))))
    zoom = max(3.0, min(12.0, min(zoom_lon, zoom_lat)))
    return pdk.ViewState(latitude=float(mid_lat), longitude=float((lon.max() + lon.min()) / 2),
                         zoom=round(zoom, 2), pitch=0, bearing=0)


def _label(value, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no comparison"
    return {"revenue": inr_compact, "units": units, "growth": pct}[kind](value)


def pin_scatter_deck(df: pd.DataFrame, value_col: str = "revenue",
                     label_col: str | None = "city") -> pdk.Deck | None:
    """Circles per PIN code, area and colour by `value_col`; city names as text.

    `df` needs pin_code, lat, lon and `value_col`; locality, city, state, revenue, units
    and growth are shown in the tooltip when present. Returns None if no row has
    coordinates.
    """
    pts = df.dropna(subset=["lat", "lon"]).copy()
    pts = pts[pts[value_col] > 0]
    if pts.empty:
        return None
    vmin, vmax = float(pts[value_col].min()), float(pts[value_col].max())
    frac = (pts[value_col] / vmax).clip(lower=0)
    # Colour spreads the palette from the smallest to the largest PIN on screen.
    shade = (pts[value_col] - vmin) / (vmax - vmin) if vmax > vmin else frac
    view = fit_view(pts["lat"], pts["lon"])
    # Radius in screen pixels (area ~ value), so circles read the same at any zoom.
    pts["radius"] = 3 + (frac ** 0.5) * 13
    pts["colour"] = [_colour(f) for f in shade]
    for col in ("locality", "city", "state"):
        if col not in pts:
            pts[col] = ""
        pts[col] = pts[col].fillna("")
    pts["revenue_label"] = [_label(v, "revenue") for v in pts.get("revenue", pts[value_col])]
    pts["units_label"] = [_label(v, "units") for v in pts.get("units", pts[value_col])]
    pts["growth_label"] = [_label(v, "growth") for v in pts.get("growth", [None] * len(pts))]
    cols = ["pin_code", "lat", "lon", "radius", "colour", "locality", "city", "state",
            "revenue_label", "units_label", "growth_label"]
    layers = [pdk.Layer(
        "ScatterplotLayer", data=pts[cols], get_position=["lon", "lat"],
        get_radius="radius", radius_units="'pixels'", get_fill_color="colour",
        get_line_color=[60, 60, 60, 160], line_width_min_pixels=0.5, stroked=True,
        pickable=True, auto_highlight=True)]
    if label_col and label_col in pts:
        names = (pts[pts[label_col] != ""].groupby(label_col, as_index=False)
                 [["lat", "lon"]].mean())
        layers.append(pdk.Layer(
            "TextLayer", data=names, get_position=["lon", "lat"], get_text=label_col,
            get_size=13, get_color=[30, 41, 59, 230], get_pixel_offset=[0, -20],
            get_text_anchor="'middle'", font_weight=600, pickable=False))
    tooltip = {
        "html": "<b>{locality}</b> &middot; PIN {pin_code}<br/>{city}, {state}<br/>"
                "Revenue: <b>{revenue_label}</b><br/>Units: {units_label}<br/>"
                "vs last year: {growth_label}",
        "style": {"backgroundColor": "#0F172A", "color": "white", "fontSize": "13px"},
    }
    return pdk.Deck(layers=layers, initial_view_state=view, map_style=None, tooltip=tooltip)


def render_pin_map(df: pd.DataFrame, value_col: str = "revenue") -> None:
    """The map plus a legend in plain words."""
    deck = pin_scatter_deck(df, value_col)
    if deck is None:
        st.info("No PIN codes with sales and map coordinates for these filters.")
        return
    st.pydeck_chart(deck, height=460, alt="Map of PIN codes sized and coloured by sales")
    pts = df.dropna(subset=["lat", "lon"])
    pts = pts[pts[value_col] > 0]
    lo, hi = pts[value_col].min(), pts[value_col].max()
    swatches = "".join(
        f"<span style='display:inline-block;width:14px;height:14px;border-radius:50%;"
        f"background:rgb{tuple(c)};margin:0 2px;vertical-align:middle'></span>"
        for c in PALETTE)
    fmt = inr_compact if value_col == "revenue" else units
    st.markdown(
        f"<div style='font-size:0.85rem;color:#475569'>Each circle is a PIN code; bigger "
        f"and redder means more {value_col}. {fmt(lo)} {swatches} {fmt(hi)} · "
        f"{len(pts)} PIN codes · hover a circle for details.</div>",
        unsafe_allow_html=True)
    unmapped = len(df) - len(df.dropna(subset=["lat", "lon"]))
    if unmapped:
        st.caption(f"{unmapped} PIN codes have no coordinates and are not on the map.")
