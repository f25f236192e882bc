"""Legacy .doc/.ppt through LibreOffice, when it is installed."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ingest.errors import CorruptFile, UnsupportedFile
from ingest.types import LoadOptions, ParsedDocument

_TARGET = {".doc": "docx", ".ppt": "pptx"}


def load_legacy(path: Path, options: LoadOptions) -> ParsedDocument:
    suffix = path.suffix.lower()
    target = _TARGET[suffix]
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        kind = "Word .doc" if suffix == ".doc" else "PowerPoint .ppt"
        raise UnsupportedFile(str(path), f"legacy {kind} is not supported without LibreOffice (soffice); "
                                         f"save it as .{target}")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run([soffice, "--headless", "--convert-to", target, "--outdir", tmp, str(path)],
                           check=True, capture_output=True, timeout=180)
        except (subprocess.SubprocessError, OSError) as exc:
            raise CorruptFile(str(path), f"LibreOffice could not convert it ({type(exc).__name__})") from exc
        converted = Path(tmp) / f"{path.stem}.{target}"
        if not converted.exists():
            raise CorruptFile(str(path), "LibreOffice produced no output")
        from ingest.loaders import load_by_format

        doc = load_by_format(converted, target, options)
        return ParsedDocument(source=str(path), sections=doc.sections, warnings=doc.warnings, pages=doc.pages,
                              format=suffix.lstrip("."))
