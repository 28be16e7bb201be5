"""The SQL layer's files, installed as the package `focus_assets.sql` (pyproject.toml maps this
folder there), so that `importlib.resources` finds them in a wheel and in the checkout alike."""
