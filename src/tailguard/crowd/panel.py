"""Reading a panel CSV (``unit,period,y,first_treated``) for ``tailguard crowd estimate``.

Every refusal is an :class:`~tailguard.errors.InvalidInputError` naming the file, the line and
the reason, so the CLI prints one line and exits 2.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from tailguard.crowd.did import PANEL_COLUMNS
from tailguard.errors import InvalidInputError

_INT = r"^[+-]?[0-9]+$"


def _first_bad(mask: pl.Series) -> int:
    # Line numbers count the header as line 1.
    return int(mask.arg_true()[0]) + 2


def parse_panel_csv(text: str, *, source: str = "<panel>") -> pl.DataFrame:
    """Parse panel CSV text into ``unit`` (str), ``period`` (i64), ``y`` (f64), ``first_treated``.

    ``first_treated`` empty or 0 means never treated (stored as 0). Extra columns are ignored.

    Raises:
        InvalidInputError: missing columns, a non-integer period or first_treated, a y that is
            not a finite number, an empty unit, a negative first_treated, or unparsable CSV.
    """
    try:
        raw = pl.read_csv(
            text.encode(),
            infer_schema=False,
            truncate_ragged_lines=False,
        )
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise InvalidInputError(
            f"{source}: not a readable CSV ({str(exc).splitlines()[0]})"
        ) from exc
    raw = raw.rename({c: c.strip() for c in raw.columns})
    missing = [c for c in PANEL_COLUMNS if c not in raw.columns]
    if missing:
        raise InvalidInputError(f"{source}: missing column(s) {', '.join(missing)}")
    if raw.height == 0:
        raise InvalidInputError(f"{source}: no rows")
    cols = {c: raw[c].fill_null("").str.strip_chars() for c in PANEL_COLUMNS}
    if (cols["unit"] == "").any():
        line = _first_bad(cols["unit"] == "")
        raise InvalidInputError(f"{source}:{line}: unit is empty")
    bad_period = ~cols["period"].str.contains(_INT)
    if bad_period.any():
        line = _first_bad(bad_period)
        value = cols["period"][line - 2]
        raise InvalidInputError(f"{source}:{line}: period {value!r} is not an integer")
    ft = cols["first_treated"]
    bad_ft = (ft != "") & ~ft.str.contains(_INT)
    if bad_ft.any():
        line = _first_bad(bad_ft)
        raise InvalidInputError(
            f"{source}:{line}: first_treated {ft[line - 2]!r} is not an integer or empty"
        )
    y = cols["y"].cast(pl.Float64, strict=False)
    bad_y = y.is_null() | y.is_nan() | y.is_infinite()
    if bad_y.any():
        line = _first_bad(bad_y)
        raise InvalidInputError(
            f"{source}:{line}: y {cols['y'][line - 2]!r} is not a finite number"
        )
    try:
        period = cols["period"].str.strip_prefix("+").cast(pl.Int64, strict=True)
        first = (
            pl.DataFrame({"ft": ft})
            .select(
                pl.when(pl.col("ft") == "")
                .then(pl.lit("0"))
                .otherwise(pl.col("ft"))
                .str.strip_prefix("+")
                .cast(pl.Int64, strict=True)
            )
            .to_series()
        )
    except pl.exceptions.PolarsError as exc:
        raise InvalidInputError(f"{source}: an integer is out of range") from exc
    frame = pl.DataFrame({"unit": cols["unit"], "period": period, "y": y, "first_treated": first})
    if (frame["first_treated"] < 0).any():
        line = _first_bad(frame["first_treated"] < 0)
        raise InvalidInputError(f"{source}:{line}: first_treated must be 0, empty or a period")
    return frame


def read_panel_csv(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read and parse a panel CSV file (see :func:`parse_panel_csv`).

    Raises:
        InvalidInputError: the file cannot be read or is not a valid panel.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read panel {str(p)!r}: {exc}") from exc
    return parse_panel_csv(text, source=str(p))
