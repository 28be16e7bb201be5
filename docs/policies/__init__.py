"""The IAM and RAM policy templates, installed as the package `focus_assets.policy_templates`
(pyproject.toml maps this folder there) and rendered by `focus_assets/policies.py`."""
