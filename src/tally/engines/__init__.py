"""Execution only: run SQL text with parameters, create tables, load batches."""
