"""Row validation against the catalog, idempotency, atomic batches."""
