"""The baseline of bench_scorecard_cli.py: the 13 KPIs exactly, with Polars, from an event file.

Run: .venv/bin/python bench/polars_scorecard.py FILE AS_OF [W]

A plain script: ``pl.read_parquet`` (or ``pl.read_ndjson``) of the whole file, no validation,
then the exact Polars reference of INTERFACES.md section 2 (``metrics/exact.py``), printed as
the same JSON shape as ``tailguard scorecard --format json``.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime

import polars as pl

from tailguard.metrics.exact import exact_scorecard


def main() -> None:
    path, as_of = sys.argv[1], datetime.fromisoformat(sys.argv[2].replace("Z", "+00:00"))
    window = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    if path.endswith((".parquet", ".pq")):
        frame = pl.read_parquet(path)
    else:
        frame = pl.read_ndjson(path, infer_schema_length=None)
    scores = exact_scorecard(frame, as_of, window)
    cols = [c for c in scores.columns if c != "area_id"]
    areas = [
        {
            "area_id": row["area_id"],
            "kpis": {
                k: None if row[k] is None or not math.isfinite(row[k]) else row[k] for k in cols
            },
        }
        for row in scores.iter_rows(named=True)
    ]
    print(json.dumps({"as_of": sys.argv[2], "window_days": window, "areas": areas}))


if __name__ == "__main__":
    main()
