"""Deterministic, realistic demo data for the built-in datasets, so every profile has answers."""
