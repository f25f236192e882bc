"""Hostile documents for the fuzz run: seeded mutations of valid PDF/DOCX/XLSX files and a few bombs."""
from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

from tests.conftest import SHARED_DOCS
from tests.ingest import builders


def seeds(folder: Path) -> list[Path]:
    """Valid files to mutate: generated ones, plus a few real ones from ../shared when present."""
    folder.mkdir(parents=True, exist_ok=True)
    out = [builders.table_pdf(folder / "table.pdf"), builders.cjk_pdf(folder / "cjk.pdf"),
           builders.sample_docx(folder / "sample.docx"), builders.sample_xlsx(folder / "sample.xlsx", rows=40)]
    for name in ("en_tables.docx", "en_table_nics.pdf", "zh_wiki.md"):
        if (SHARED_DOCS / name).exists():
            out.append(SHARED_DOCS / name)
    return out


def _flip(data: bytearray, rng: random.Random, n: int) -> bytearray:
    for _ in range(n):
        i = rng.randrange(len(data))
        data[i] = rng.randrange(256) if rng.random() < 0.5 else data[i] ^ (1 << rng.randrange(8))
    return data


def _mutate_zip_member(data: bytes, rng: random.Random) -> bytes:
    """Structure-aware: flip or cut bytes inside one XML part and re-zip (so CRCs hold and the XML parser sees it)."""
    zin = zipfile.ZipFile(io.BytesIO(data))
    items = zin.infolist()
    xml = [i for i in items if i.filename.endswith(".xml")]
    target = rng.choice(xml).filename if xml else None
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in items:
            body = zin.read(item.filename)
            if item.filename == target and body:
                if rng.random() < 0.5:
                    body = bytes(_flip(bytearray(body), rng, rng.randint(1, 20)))
                else:
                    body = body[: rng.randrange(len(body))]
            zout.writestr(item.filename, body)
    return buf.getvalue()


def mutate(data: bytes, rng: random.Random, is_zip: bool) -> tuple[bytes, str]:
    """One mutated copy and how it was made."""
    r = rng.random()
    if r < 0.3:
        n = rng.randint(1, 64)
        return bytes(_flip(bytearray(data), rng, n)), f"flip{n}"
    if r < 0.5:
        cut = rng.randrange(1, len(data))
        return data[:cut], f"cut{cut}"
    if r < 0.6:
        i = rng.randrange(len(data))
        n = rng.randint(1, 4096)
        return data[:i] + bytes(rng.randrange(256) for _ in range(min(n, 64))) * (n // 64 + 1) + data[i + n:], "splice"
    if r < 0.7:
        i, j = sorted(rng.randrange(len(data)) for _ in range(2))
        return data[:j] + data[i:j] * rng.randint(2, 8) + data[j:], "repeat"
    if is_zip:
        try:
            return _mutate_zip_member(data, rng), "xml"
        except zipfile.BadZipFile:
            pass
    return bytes(_flip(bytearray(data), rng, 8)), "flip8"


def mutated_corpus(folder: Path, seed_files: list[Path], count: int, seed: int = 0) -> list[Path]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    blobs = [(p, p.read_bytes()) for p in seed_files]
    for i in range(count):
        src, data = blobs[i % len(blobs)]
        body, how = mutate(data, rng, src.suffix in (".docx", ".xlsx", ".pptx"))
        path = folder / f"m{i:04d}-{how}-{src.stem}{src.suffix}"
        path.write_bytes(body)
        out.append(path)
    return out


# --- bombs ----------------------------------------------------------------------------------

def _docx_parts() -> dict[str, bytes]:
    import docx

    buf = io.BytesIO()
    d = docx.Document()
    d.add_paragraph("MARKER")
    d.save(buf)
    zin = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    return {i.filename: zin.read(i.filename) for i in zin.infolist()}


def zip_bomb_docx(path: Path, unpacked_mb: int) -> Path:
    """A docx whose document.xml inflates to `unpacked_mb` MB (about 4.5 KB per MB on disk)."""
    parts = _docx_parts()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
        for name, data in parts.items():
            if name != "word/document.xml":
                zout.writestr(name, data)
                continue
            head, tail = data.split(b"MARKER")
            with zout.open(name, "w", force_zip64=True) as w:
                w.write(head)
                block = b"A" * (1 << 20)
                for _ in range(unpacked_mb):
                    w.write(block)
                w.write(tail)
    return path


def entity_bomb_docx(path: Path) -> Path:
    """Billion laughs: nested entities in word/document.xml (10^9 'lol's if expanded)."""
    parts = _docx_parts()
    doc = parts["word/document.xml"].decode("utf-8")
    doc = doc[doc.index("?>") + 2:] if doc.startswith("<?xml") else doc
    ents = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i + 1} "{("&lol" + (str(i) if i else "") + ";") * 10}">' for i in range(9))
    parts["word/document.xml"] = ('<?xml version="1.0"?><!DOCTYPE lolz [' + ents + "]>"
                                  + doc.replace("MARKER", "&lol9;")).encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in parts.items():
            zout.writestr(name, data)
    return path


def empty_pages_pdf(path: Path, pages: int) -> Path:
    """A valid PDF of `pages` blank pages, written directly (PyMuPDF takes seconds for 10,000)."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            ("<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, " ".join(f"{i + 3} 0 R" for i in range(pages)))).encode()]
    objs += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"] * pages
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def nested_html(path: Path, depth: int) -> Path:
    path.write_text("<html><body>" + "<div>" * depth + "deep text 深层文字" + "</div>" * depth + "</body></html>",
                    encoding="utf-8")
    return path


def single_line_text(path: Path, megabytes: int) -> Path:
    unit = "知识库问答 retrieval words without any newline "  # no line break anywhere
    block = (unit * ((1 << 20) // len(unit.encode("utf-8")) + 1)).encode("utf-8")[: 1 << 20]
    block = block.decode("utf-8", "ignore").encode("utf-8")
    with open(path, "wb") as fh:
        for _ in range(megabytes):
            fh.write(block)
    return path


def bombs(folder: Path, *, big: bool) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        zip_bomb_docx(folder / "zip-bomb.docx", 1024 if big else 256),
        entity_bomb_docx(folder / "entity-bomb.docx"),
        empty_pages_pdf(folder / "empty-10000-pages.pdf", 10_000),
        nested_html(folder / "nested.html", 100_000 if big else 20_000),
        single_line_text(folder / "one-line.txt", 200 if big else 20),
    ]
