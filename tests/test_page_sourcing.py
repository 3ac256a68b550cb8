"""AppTest of pages/5_Sourcing.py on the small demo warehouse."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "5_Sourcing.py")


def _submit(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "Optimise purchase").click().run()


def test_sourcing_page_ranks_and_allocates(app_env):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    assert not at.error
    assert at.dataframe[0].value["Mandi"].size >= 3         # ranked table rendered
    at.selectbox(key="src_commodity").set_value("Tomato")
    at.text_input(key="src_pin").set_value("560001")
    at.number_input(key="src_qty").set_value(120.0)
    at.run()
    assert not at.exception and not at.error
    at.number_input(key="src_max_mandis").set_value(2)
    at.slider(key="src_min_quality").set_value(20)
    at = _submit(at)
    assert not at.exception and not at.error
    assert any("Buy 120 quintals" in s.value for s in at.success)
    assert len(at.dataframe) >= 2                            # ranked + allocation tables
    assert at.get("download_button")


def test_sourcing_page_explains_infeasible_budget_and_bad_pin(app_env):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.number_input(key="src_budget").set_value(1000.0)
    at = _submit(at)
    assert not at.exception
    assert any("raise the budget from ₹1,000" in w.value for w in at.warning)
    at.text_input(key="src_pin").set_value("12345").run()
    assert not at.exception
    assert at.error[0].value.startswith("'12345' is not a PIN code")


def _agmarknet_warehouse(tmp_path) -> Path:
    """A warehouse holding only an Agmarknet-shaped onion file: no coordinates, no district
    column, one market no India Post office is named after."""
    from engine.__main__ import main
    from tests.test_sourcing_places import MARKETS, _agmarknet

    src = tmp_path / "onion.csv"
    _agmarknet(MARKETS).to_csv(src, index=False)
    path = tmp_path / "agmarknet.duckdb"
    assert main(["ingest", "mandi", str(src), "--warehouse", str(path), "--no-alerts"]) == 0
    return path


def test_sourcing_page_ranks_an_agmarknet_file_and_names_the_unplaced(tmp_path, monkeypatch,
                                                                      capsys):
    path = _agmarknet_warehouse(tmp_path)
    capsys.readouterr()
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception and not at.error
    table = next(df.value for df in at.dataframe if "Mandi" in df.value.columns)
    assert set(table["Mandi"]) == {"Lasalgaon(Niphad)", "Pimpalgaon Baswant(Saykheda)",
                                   "Sinner"}
    warning = next(w.value for w in at.warning if "could not be placed" in w.value)
    assert warning.startswith("1 mandi(s) with recent prices could not be placed on the map "
                              "and are not ranked: Qwzx (Maharashtra).")
    assert any("3 of 4 mandis placed on the map (3 from an India Post office of its name)."
               in c.value for c in at.caption)
    why = next(df.value for df in at.dataframe if "Reason" in df.value.columns)
    assert why.iloc[0].tolist() == ["Qwzx", "Maharashtra", "not placed: no post office or "
                                    "district called 'Qwzx' in Maharashtra"]


def test_sourcing_map_draws_state_outlines_and_non_overlapping_labels(app_env):
    import json

    from components.maps import state_outlines

    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    ids = [layer["id"] for layer in spec["layers"]]
    assert "labels" in ids and "mandis" in ids and "destination" in ids
    assert ("context" in ids) == (state_outlines() is not None)
    labels = next(layer for layer in spec["layers"] if layer["id"] == "labels")
    assert 0 < len(labels["data"]) <= 12


def test_sourcing_deck_labels_the_best_mandis_without_overlap_over_outlines():
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import box

    from components.maps import place_labels
    from components.sourcing_views import MAP_LABELS, sourcing_deck

    # 40 mandis crowded around Nashik: only the best few names fit; all are on the map.
    n = 40
    ranked = pd.DataFrame({"market": [f"Mandi number {i}" for i in range(n)],
                           "state": "Maharashtra", "lat": 20.0 + (pd.Series(range(n)) % 8) * 0.05,
                           "lon": 73.8 + (pd.Series(range(n)) // 8) * 0.05,
                           "score": [100 - i for i in range(n)], "landed_price": 1000.0,
                           "road_km": 10.0, "location_note": ""})
    outlines = gpd.GeoDataFrame({"name": ["Maharashtra"]}, geometry=[box(72.6, 15.6, 80.9, 22.0)],
                                crs="EPSG:4326")
    deck = sourcing_deck({"lat": 19.99, "lon": 73.79, "label": "Nashik (422001)"}, ranked,
                         context=outlines)
    layers = {layer.id: layer for layer in deck.layers}
    assert list(layers)[0] == "context"                         # outlines drawn first
    assert len(layers["mandis"].data) == n
    shown = pd.DataFrame(layers["labels"].data)
    assert 0 < len(shown) < MAP_LABELS                          # crowded: fewer names fit
    assert shown["market"].iloc[0] == "Mandi number 0"          # the best score keeps its name
    again = place_labels(shown.drop(columns="offset"), "market", deck.initial_view_state.zoom)
    assert len(again) == len(shown)                             # none of them overlap


def test_price_chart_keeps_its_title_short_and_its_legend_under_the_plot():
    import pandas as pd

    from components.sourcing_views import price_figure

    days = pd.date_range("2024-01-01", periods=30, freq="D")
    outlook = {"history": pd.DataFrame({"date": days, "modal_price": 1500.0}),
               "forecast": pd.DataFrame({"date": days + pd.Timedelta(days=30), "forecast": 1500.0,
                                         "lo": 1400.0, "hi": 1600.0}),
               "model": "ETS(A,Ad,N) on log price", "level": 0.95}
    fig = price_figure(outlook, "Pimpalgaon Baswant(Saykheda)")
    assert "ETS" not in fig.layout.title.text                   # the model is in the caption
    assert fig.layout.legend.y < 0 and fig.layout.legend.yanchor == "top"
    assert fig.layout.yaxis.automargin and fig.layout.xaxis.automargin
    assert fig.layout.template.layout.title.automargin          # the shared chart template


def test_sourcing_charts_carry_the_shared_title_band(app_env):
    import json

    from components.charts import MODEBAR_BAND_PX

    at = AppTest.from_file(PAGE, default_timeout=120).run()
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(specs) == 2
    for spec in specs:
        title = spec["layout"]["template"]["layout"]["title"]
        assert title["pad"]["t"] == MODEBAR_BAND_PX and title["automargin"] is True
        assert spec["layout"]["legend"]["y"] < 0               # legend under the plot
