"""The query IR, its validation against the catalog, and the normalize pipeline."""
