"""The cost report: figures read from the SQL views (`figures`), rendered as one self-contained
HTML file with plotly charts (`html`). No Dagster here; the asset is `reporting.assets`."""
