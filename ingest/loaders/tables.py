"""CSV and XLSX as Markdown tables (one section per sheet, split in row groups that repeat the header)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ingest.errors import CorruptFile
from ingest.loaders.text import read_text
from ingest.types import LoadOptions, ParsedDocument, Section

ROWS_PER_SECTION = 50


def _cell(value) -> str:
    if value is None:
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ").strip()


def markdown_table(rows: list[list]) -> str:
    width = max(len(r) for r in rows)
    rows = [[_cell(c) for c in r] + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def table_sections(rows: list[list], heading_path: tuple[str, ...]) -> list[Section]:
    rows = [r for r in rows if any(_cell(c) for c in r)]
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    if not body:
        return [Section(text=markdown_table([header]), heading_path=heading_path, kind="table")]
    return [Section(text=markdown_table([header] + body[i:i + ROWS_PER_SECTION]), heading_path=heading_path,
                    kind="table") for i in range(0, len(body), ROWS_PER_SECTION)]


def load_csv(path: Path, options: LoadOptions) -> ParsedDocument:
    text, _ = read_text(path)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    return ParsedDocument(source=str(path), sections=table_sections(rows, (path.stem,)), format="csv")


def load_xlsx(path: Path, options: LoadOptions) -> ParsedDocument:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise CorruptFile(str(path), f"not a readable Excel workbook ({type(exc).__name__}: {exc})") from exc
    sections: list[Section] = []
    try:
        for ws in wb.worksheets:
            rows = [list(r) for r in ws.iter_rows(values_only=True)]
            sections.extend(table_sections(rows, (ws.title,)))
    finally:
        wb.close()
    return ParsedDocument(source=str(path), sections=sections, format="xlsx")
