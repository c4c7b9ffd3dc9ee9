"""Mixture definitions (docs/recipe/mixture.md) and the auditor that checks them against the
data."""
