"""CSV/TSV: the rows as Markdown tables, split into row groups that repeat the header."""
from __future__ import annotations

import csv as _csv
import io
from pathlib import Path

from ingest.cleaning import markdown_table
from ingest.loaders._common import read_text
from ingest.types import LoadOptions, ParsedDocument, Section

ROWS_PER_SECTION = 100


def table_sections(rows: list[list[object]], heading_path: tuple[str, ...], page: int | None = None) -> list[Section]:
    """Rows (first = header) as one or more Markdown table sections of at most ROWS_PER_SECTION rows."""
    rows = [r for r in rows if any(str(v).strip() for v in r if v is not None)]
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    out = []
    for start in range(0, max(len(body), 1), ROWS_PER_SECTION):
        md = markdown_table([header] + body[start:start + ROWS_PER_SECTION])
        if md:
            out.append(Section(text=md, page=page, heading_path=heading_path, kind="table", page_end=page))
    return out


def load(path: Path, options: LoadOptions) -> ParsedDocument:
    text, encoding = read_text(path)
    if path.suffix.lower() == ".tsv":
        dialect: type[_csv.Dialect] | _csv.Dialect = _csv.excel_tab
    else:
        try:
            dialect = _csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
        except _csv.Error:
            dialect = _csv.excel
    rows = list(_csv.reader(io.StringIO(text), dialect))
    sections = table_sections(rows, (path.stem,))
    notes = [] if encoding in ("utf-8", "ascii", "utf-8-sig") else [f"decoded as {encoding}"]
    return ParsedDocument(source=str(path), sections=sections, warnings=notes, format="csv")
