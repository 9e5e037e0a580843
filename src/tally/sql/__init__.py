"""IR -> SQL text and parameters, one small dialect class per engine."""
