"""Rollups: pre-aggregated tables of owned datasets, kept in step with ingestion and used only
when an answer from them is provably the one the raw rows give (`match`)."""
