"""Mixture definitions (SPEC §0) and the auditor that checks them against the data."""
