"""pydeck maps of PIN codes. They work offline with no token: `map_style=None` lets
Streamlit pick a token-free basemap when there is internet, and the layers (circles plus
city names) still make sense on a blank background when there is none."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pydeck as pdk
import streamlit as st
from pydeck.bindings.json_tools import default_serialize

from components.format import inr_compact, pct, units

# Sequential palette, low -> high (pale yellow -> orange -> deep red).
PALETTE = [(254, 224, 139), (253, 174, 97), (244, 109, 67), (215, 48, 39), (165, 0, 38)]


class Deck(pdk.Deck):
    """A pydeck Deck whose JSON (what st.pydeck_chart sends) is written by the C JSON
    encoder. pydeck indents its JSON, which makes Python fall back to its pure-Python
    encoder: 0.1-0.5 s per map with state outlines on every page view. Same content."""

    def to_json(self) -> str:
        return json.dumps(self, sort_keys=True, default=default_serialize)


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


def place_labels(names: pd.DataFrame, text_col: str, zoom: float,
                 weight_col: str | None = None, offset_px: float = 20,
                 char_px: float = 8.0, line_px: float = 17) -> pd.DataFrame:
    """The rows of `names` (lat, lon, `text_col`) whose labels fit at `zoom` without
    overlapping, heaviest (`weight_col`) first, each with its pixel `offset`: above its
    point, or below it when above is taken (a name that fits neither way is left out).
    A label is a box as wide as its text (Web Mercator, 512-px world at zoom 0)."""
    if names.empty:
        return names.assign(offset=[])
    world = 512 * 2 ** zoom
    lat = np.radians(names["lat"].clip(-85, 85).to_numpy(float))
    x = (names["lon"].to_numpy(float) + 180) / 360 * world
    y = (1 - np.log(np.tan(lat) + 1 / np.cos(lat)) / math.pi) / 2 * world
    width = names[text_col].astype(str).str.len().to_numpy() * char_px + 12
    order = (np.argsort(-names[weight_col].to_numpy(float), kind="stable") if weight_col
             else range(len(names)))
    placed: list[tuple[int, float]] = []     # (row, vertical offset in pixels)

    def free(i: int, dy: float) -> bool:
        return all(abs(x[i] - x[j]) * 2 >= width[i] + width[j]
                   or abs(y[i] + dy - y[j] - dj) >= line_px for j, dj in placed)

    for i in order:
        dy = next((d for d in (-offset_px, offset_px) if free(i, d)), None)
        if dy is not None:
            placed.append((i, dy))
    placed.sort()
    out = names.iloc[[i for i, _ in placed]].copy()
    out["offset"] = [[0, dy] for _, dy in placed]
    return out


def label_layer(names: pd.DataFrame, text_col: str, zoom: float,
                weight_col: str | None = None) -> pdk.Layer:
    """Place names as dark text with a white halo, without overlaps (place_labels)."""
    shown = place_labels(names, text_col, zoom, weight_col)
    return pdk.Layer(
        "TextLayer", id="labels", data=shown[["lon", "lat", text_col, "offset"]],
        get_position=["lon", "lat"], get_text=text_col, get_size=13,
        get_color=[15, 23, 42, 230], get_pixel_offset="offset", get_text_anchor="'middle'",
        font_weight=600, font_family="'Arial, Helvetica, sans-serif'",
        font_settings={"sdf": True}, outline_width=2, outline_color=[255, 255, 255, 230],
        pickable=False)


@st.cache_resource(show_spinner=False)
def _state_outlines():
    from engine.geo_polygons import cached_area_polygons

    return cached_area_polygons("state")


def state_outlines():
    """India's state outlines (GeoDataFrame) when the map cache is built (`make run` builds
    it), else None: a page can draw its map without them rather than wait ~20 s here.
    Read once per process (the same frame each time, so its layer is built once too);
    while the cache is not built, looked for again on the next call."""
    outlines = _state_outlines()
    if outlines is None:
        _state_outlines.clear()
    return outlines


_OUTLINE_LAYERS: dict[int, tuple[object, pdk.Layer]] = {}


def outline_layer(context) -> pdk.Layer:
    """Light grey area outlines (a GeoDataFrame) so a map reads without basemap tiles.
    Built once per outlines frame (state_outlines() hands out the same one): its rings
    cost ~0.1 s a map."""
    hit = _OUTLINE_LAYERS.get(id(context))
    if hit is not None and hit[0] is context:
        return hit[1]
    layer = pdk.Layer(
        "PolygonLayer", id="context", data=polygon_records(context, []),
        get_polygon="polygon", get_fill_color=[241, 245, 249, 255],
        get_line_color=[148, 163, 184, 255], line_width_min_pixels=0.7, stroked=True,
        filled=True, pickable=False)
    if len(_OUTLINE_LAYERS) >= 4:
        _OUTLINE_LAYERS.clear()
    _OUTLINE_LAYERS[id(context)] = (context, layer)
    return layer


def _label(value, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no comparison"
    return {"revenue": inr_compact, "units": units, "growth": pct}[kind](value)


def pin_scatter_deck(df: pd.DataFrame, value_col: str = "revenue",
                     label_col: str | None = "city", context=None) -> pdk.Deck | None:
    """Circles per PIN code, area and colour by `value_col`; city names as text (the
    bigger city wins where two names would overlap); `context` (GeoDataFrame of areas,
    e.g. states) drawn underneath as light outlines.

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
    layers = [outline_layer(context)] if context is not None and len(context) else []
    layers.append(pdk.Layer(
        "ScatterplotLayer", id="pins", data=pts[cols], get_position=["lon", "lat"],
        get_radius="radius", radius_units="'pixels'", get_fill_color="colour",
        get_line_color=[60, 60, 60, 160], line_width_min_pixels=0.5, stroked=True,
        pickable=True, auto_highlight=True))
    if label_col and label_col in pts:
        names = (pts[pts[label_col] != ""].groupby(label_col, as_index=False)
                 .agg(lat=("lat", "mean"), lon=("lon", "mean"), weight=(value_col, "sum")))
        layers.append(label_layer(names, label_col, view.zoom, "weight"))
    tooltip = {
        "html": "<b>{locality}</b> &middot; PIN {pin_code}<br/>{city}, {state}<br/>"
                "Revenue: <b>{revenue_label}</b><br/>Units: {units_label}<br/>"
                "vs last year: {growth_label}",
        "style": {"backgroundColor": "#0F172A", "color": "white", "fontSize": "13px"},
    }
    return Deck(layers=layers, initial_view_state=view, map_style=None, tooltip=tooltip)


def render_pin_map(df: pd.DataFrame, value_col: str = "revenue", context=None) -> None:
    """The map plus a legend in plain words."""
    deck = pin_scatter_deck(df, value_col, context=context)
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


# ---- choropleths --------------------------------------------------------------------------
# ColorBrewer ramps (Cynthia Brewer, colorbrewer2.org): YlOrRd reads from light to dark in
# print and greyscale; RdBu puts decline in red, growth in blue and "no change" in grey-white.
SEQUENTIAL = [(255, 255, 178), (254, 204, 92), (253, 141, 60), (240, 59, 32), (189, 0, 38)]
DIVERGING = [(178, 24, 43), (239, 138, 98), (253, 219, 199), (247, 247, 247),
             (209, 229, 240), (103, 169, 207), (33, 102, 172)]
# Categories (store clusters): Okabe-Ito, distinguishable with colour-blindness.
QUALITATIVE = [(0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233),
               (213, 94, 0), (240, 228, 66), (0, 0, 0)]
NO_DATA = (204, 204, 204)
FILL_ALPHA = 215
_TOOLTIP_STYLE = {"backgroundColor": "#0F172A", "color": "white", "fontSize": "13px"}


def format_value(value, fmt: str, signed: bool = False) -> str:
    """'inr' -> '₹12.40 lakh', 'units' -> '2,340 units', 'pct' -> '18.5%' (or '+4.2%')."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    if fmt == "inr":
        return inr_compact(value)
    if fmt == "units":
        return units(value)
    if fmt == "pct":
        return pct(value, signed=signed)
    if fmt == "cluster":
        return f"Cluster {int(value)}"
    raise ValueError(f"fmt must be 'inr', 'units', 'pct' or 'cluster', not {fmt!r}")


def colour_breaks(values: pd.Series, diverging: bool = False, categorical: bool = False
                  ) -> tuple[list[float], list]:
    """Class edges and their colours. Sequential: up to 5 quantile classes (every class
    holds about as many areas). Diverging: 7 equal classes symmetric around 0, so white
    is always "no change" and the same shade means the same size of rise or fall.
    Categorical (whole numbers 1..k, e.g. store clusters): one distinct colour each."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return [], []
    if categorical:
        k = int(v.max())
        return [i + 0.5 for i in range(k + 1)], [QUALITATIVE[i % len(QUALITATIVE)]
                                                 for i in range(k)]
    if diverging:
        m = float(v.abs().max()) or 1e-9
        edges = [float(e) for e in np.linspace(-m, m, len(DIVERGING) + 1)]
        return edges, list(DIVERGING)
    edges = sorted({float(e) for e in v.quantile(np.linspace(0, 1, len(SEQUENTIAL) + 1))})
    if len(edges) == 1:
        return [edges[0], edges[0]], [SEQUENTIAL[-1]]
    n = len(edges) - 1
    # Spread fewer classes over the whole ramp so the top class is always the darkest.
    picks = np.round(np.linspace(0, len(SEQUENTIAL) - 1, n)).astype(int) if n > 1 else [4]
    return edges, [SEQUENTIAL[i] for i in picks]


def classify(values: pd.Series, edges: list[float], colours: list) -> list[list[int]]:
    """RGBA per value (NO_DATA for NaN)."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    if not colours:
        return [[*NO_DATA, FILL_ALPHA] for _ in v]
    idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, len(colours) - 1)
    return [[*NO_DATA, FILL_ALPHA] if np.isnan(x) else [*colours[i], FILL_ALPHA]
            for x, i in zip(v, idx)]


def legend_spec(values: pd.Series, label: str, fmt: str, diverging: bool = False) -> dict:
    """{'title', 'items': [{'colour': (r,g,b), 'label': 'a – b'}], 'no_data': n}."""
    if fmt == "cluster":
        edges, colours = colour_breaks(values, categorical=True)
        items = [{"colour": c, "label": f"Cluster {i}"} for i, c in enumerate(colours, 1)]
    else:
        edges, colours = colour_breaks(values, diverging)
        items = [{"colour": c, "label": f"{format_value(lo, fmt, diverging)} – "
                                        f"{format_value(hi, fmt, diverging)}"}
                 for c, lo, hi in zip(colours, edges[:-1], edges[1:])]
    n_missing = int(pd.to_numeric(values, errors="coerce").isna().sum())
    return {"title": label, "items": items, "no_data": n_missing}


def legend_html(spec: dict) -> str:
    """A compact legend: one swatch per class, low to high, plus 'no data' when needed."""
    def swatch(rgb, text):
        return (f"<span style='display:inline-flex;align-items:center;margin:2px 10px 2px 0'>"
                f"<span style='width:16px;height:12px;background:rgb{tuple(rgb)};"
                f"border:1px solid #64748B;margin-right:4px'></span>{text}</span>")
    parts = [swatch(i["colour"], i["label"]) for i in spec["items"]]
    if spec["no_data"]:
        parts.append(swatch(NO_DATA, f"no data ({spec['no_data']})"))
    return (f"<div style='font-size:0.85rem;color:#334155'><b>{spec['title']}</b><br/>"
            f"{''.join(parts)}</div>")


def _rings(geom) -> list[list]:
    rings = [geom.exterior, *geom.interiors]
    return [[[round(x, 5), round(y, 5)] for x, y in r.coords] for r in rings]


def polygon_records(gdf, columns: list[str]) -> pd.DataFrame:
    """One row per polygon part (MultiPolygons exploded) with a `polygon` list of rings."""
    parts = gdf[[*columns, "geometry"]].explode(index_parts=False)
    parts = parts[~parts.geometry.is_empty & parts.geometry.notna()]
    parts = parts[parts.geometry.geom_type == "Polygon"]
    out = pd.DataFrame(parts[columns]).reset_index(drop=True)
    out["polygon"] = [_rings(g) for g in parts.geometry]
    return out


def choropleth_deck(gdf, value_col: str = "value", label: str = "Sales", fmt: str = "inr",
                    diverging: bool = False, context=None, selected: str | None = None,
                    show_points: bool | None = None, label_col: str | None = None
                    ) -> pdk.Deck | None:
    """Filled polygons coloured by `value_col`, with tooltips in plain words.

    `gdf` (GeoDataFrame, EPSG:4326) needs name, place and `value_col`; with pin_code,
    lat and lon it is a PIN map and also gets a dot per PIN (urban PIN polygons are too
    small to see at state zoom). `context` (GeoDataFrame) is drawn underneath as light
    grey outlines so the map reads without basemap tiles. `selected` outlines one PIN.
    The view fits the data's bounds. Returns None when nothing can be drawn."""
    if gdf is None or len(gdf) == 0:
        return None
    data = gdf.copy()
    edges, colours = colour_breaks(data[value_col], diverging, categorical=fmt == "cluster")
    data["fill"] = classify(data[value_col], edges, colours)
    data["value_label"] = [format_value(v, fmt, diverging) for v in data[value_col]]
    data["detail"] = ([f"{int(n)} PIN code{'s' if n != 1 else ''} with data"
                       for n in data["n_pins"]] if "n_pins" in data and "pin_code" not in data
                      else "")
    cols = [c for c in ("pin_code", "name", "place", "value_label", "detail", "fill")
            if c in data]
    layers = [outline_layer(context)] if context is not None and len(context) else []
    layers.append(pdk.Layer(
        "PolygonLayer", id="areas", data=polygon_records(data, cols), get_polygon="polygon",
        get_fill_color="fill", get_line_color=[71, 85, 105, 200], line_width_min_pixels=0.6,
        stroked=True, filled=True, pickable=True, auto_highlight=True))
    is_pin = {"pin_code", "lat", "lon"} <= set(data.columns)
    if show_points if show_points is not None else is_pin:
        pts = pd.DataFrame(data[[*cols, "lat", "lon"]]).dropna(subset=["lat", "lon"])
        layers.append(pdk.Layer(
            "ScatterplotLayer", id="pins", data=pts, get_position=["lon", "lat"],
            get_radius=700, radius_min_pixels=4, radius_max_pixels=8, get_fill_color="fill",
            get_line_color=[30, 41, 59, 220], line_width_min_pixels=0.8, stroked=True,
            pickable=True, auto_highlight=True))
    if selected is not None and "pin_code" in data:
        sel = data[data["pin_code"] == selected]
        if len(sel):
            outline = polygon_records(sel, ["pin_code"])
            outline["path"] = [p[0] for p in outline["polygon"]]
            layers.append(pdk.Layer(
                "PathLayer", id="selected", data=outline[["pin_code", "path"]],
                get_path="path", get_color=[15, 23, 42, 255], width_min_pixels=3))
    min_x, min_y, max_x, max_y = data.total_bounds
    view = fit_view(pd.Series([min_y, max_y]), pd.Series([min_x, max_x]))
    if label_col and label_col in data:
        rep = data.geometry.representative_point()
        # Where names would overlap, the one covering more areas (PINs) is kept.
        names = (pd.DataFrame({label_col: data[label_col], "lon": rep.x, "lat": rep.y})
                 .dropna().groupby(label_col, as_index=False)
                 .agg(lon=("lon", "mean"), lat=("lat", "mean"), weight=("lat", "size")))
        layers.append(label_layer(names, label_col, view.zoom, "weight"))
    tooltip = {"html": "<b>{name}</b><br/>{place}<br/>" + label +
                       ": <b>{value_label}</b><br/>{detail}", "style": _TOOLTIP_STYLE}
    return Deck(layers=layers, initial_view_state=view, map_style=None, tooltip=tooltip)
