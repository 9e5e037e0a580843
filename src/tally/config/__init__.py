"""The service's settings: defined in `settings.py`, read from `tally.toml` and `TALLY_*`
variables by `load.py`, described for people by `reference.py`."""

from tally.config.load import ConfigError, Loaded, load
from tally.config.settings import Settings

__all__ = ["ConfigError", "Loaded", "Settings", "load"]
