"""MicroPulse's UI library (Streamlit widgets, tables, charts, maps).

Importing any part of it registers the shared chart template (components/charts.py), so
every Plotly figure a page builds keeps its title clear of the chart toolbar."""
from components import charts as _charts  # noqa: F401
