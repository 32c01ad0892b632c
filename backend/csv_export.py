"""CSV files that spreadsheets open as data: formula-looking cells are neutralised, personal data redacted."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from backend.privacy import redact_text

# Excel, LibreOffice and Sheets evaluate a cell that starts with one of these (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """The cell as text; a leading apostrophe keeps `=HYPERLINK(...)` and friends from running."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def to_csv(header: list[str], rows: Iterable[list], *, redact: bool = True) -> str:
    """A UTF-8 CSV (with BOM, so spreadsheets read Chinese) of `rows`, every cell made safe."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(redact_text(str(v)) if redact and isinstance(v, str) else v) for v in row])
    return out.getvalue()
