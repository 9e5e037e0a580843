"""Put the demo data into a service once; later `tally demo` runs reuse it."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from rich.console import Console

from tally.config import Settings
from tally.demo.generate import generate_all
from tally.service import Service

MARKER = "demo.json"


def load_demo(service: Service, settings: Settings, rows: int, console: Console) -> None:
    marker = settings.data_dir / MARKER
    if marker.exists() and settings.database_path.exists():
        previous = orjson.loads(marker.read_bytes())
        if previous.get("rows") == rows:
            console.print(
                f"[dim]using the demo data generated {previous['generated_at']} "
                "(--reset to regenerate)[/dim]"
            )
            return
    now = datetime.now(UTC)
    with console.status(f"generating {rows:,} demo rows"):
        tables = generate_all(rows, now)
    for name, table in tables.items():
        if name not in service.catalog or not service.catalog.require(name).owned:
            continue  # a profile not served (TALLY_PROFILES), or a user's external dataset
        with console.status(f"loading {name} ({table.num_rows:,} rows)"):
            outcome = service.ingestion.load_table(name, table, partial=False)
        if outcome.rejected:
            first = outcome.rejected[0]
            raise RuntimeError(f"demo data for {name} was rejected: {first}")
        console.print(f"loaded {name}: {outcome.accepted:,} rows")
    marker.write_bytes(orjson.dumps({"rows": rows, "generated_at": now.isoformat()}))
