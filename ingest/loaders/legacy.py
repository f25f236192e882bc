"""Legacy binary Word .doc / PowerPoint .ppt: converted with LibreOffice when it is installed."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

from ingest.errors import CorruptFile, UnsupportedFile
from ingest.types import LoadOptions, ParsedDocument

CONVERT_TIMEOUT_S = 180
_TARGET = {".doc": ("docx", "Word .doc", "docx"), ".ppt": ("pptx", "PowerPoint .ppt", "pptx")}


def find_soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def load(path: Path, options: LoadOptions) -> ParsedDocument:
    suffix = path.suffix.lower()
    target, label, loader_name = _TARGET.get(suffix, ("docx", "Word .doc", "docx"))
    soffice = find_soffice()
    if soffice is None:
        raise UnsupportedFile(
            str(path), f"legacy {label} is not supported without LibreOffice; save it as .{target}"
        )
    with tempfile.TemporaryDirectory(prefix="zhida-convert-") as tmp:
        tmpdir = Path(tmp)
        src = tmpdir / f"input{suffix}"  # a plain name: LibreOffice mangles odd characters
        shutil.copyfile(path, src)
        cmd = [soffice, f"-env:UserInstallation=file://{tmpdir / 'profile'}", "--headless",
               "--convert-to", target, "--outdir", str(tmpdir / "out"), str(src)]
        try:
            subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=CONVERT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise CorruptFile(str(path), f"LibreOffice did not convert it within {CONVERT_TIMEOUT_S} s") from None
        out = tmpdir / "out" / f"input.{target}"
        if not out.exists():
            raise CorruptFile(str(path), f"LibreOffice could not convert this {label} file")
        from importlib import import_module

        doc = import_module(f"ingest.loaders.{loader_name}").load(out, options)
    return replace(doc, source=str(path), format=suffix.lstrip("."),
                   warnings=[f"converted from {label} with LibreOffice"] + list(doc.warnings))
