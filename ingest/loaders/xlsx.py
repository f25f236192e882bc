"""Excel .xlsx: every sheet becomes Markdown table sections under the sheet's name."""
from __future__ import annotations

import datetime as _dt
import zipfile
from pathlib import Path

from ingest.errors import CorruptFile
from ingest.loaders.csv import table_sections
from ingest.types import LoadOptions, ParsedDocument


def _value(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, _dt.datetime):
        return v.isoformat(sep=" ", timespec="seconds").removesuffix(" 00:00:00")
    if isinstance(v, (_dt.date, _dt.time)):
        return v.isoformat()
    return str(v)


def load(path: Path, options: LoadOptions) -> ParsedDocument:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise CorruptFile(str(path), f"not a readable .xlsx workbook ({type(exc).__name__})") from None
    sections = []
    warnings = []
    try:
        for sheet in wb.worksheets:
            rows: list[list[str]] = []
            width = 0
            for row in sheet.iter_rows(values_only=True):
                vals = [_value(v).strip() for v in row]
                while vals and not vals[-1]:
                    vals.pop()
                if vals:
                    width = max(width, len(vals))
                    rows.append(vals)
            if not rows:
                continue
            rows = [r + [""] * (width - len(r)) for r in rows]
            sections += table_sections(rows, (sheet.title,))
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as exc:
        raise CorruptFile(str(path), f"workbook is damaged ({type(exc).__name__})") from None
    finally:
        wb.close()
    return ParsedDocument(source=str(path), sections=sections, warnings=warnings, format="xlsx")
