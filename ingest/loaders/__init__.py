"""One loader per format. Each module exposes `load(path: Path, options: LoadOptions) -> ParsedDocument`
and raises only `IngestError` subclasses for files it cannot read."""
