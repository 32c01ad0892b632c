"""Turn a file into text (plus records for tables and FAQs); every refusal is an IngestError with a reason."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.chunking import Record

TEXT_TYPES = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
              ".pdf": "pdf", ".docx": "docx", ".csv": "csv", ".xlsx": "xlsx", ".json": "json", ".jsonl": "jsonl",
              ".png": "image", ".jpg": "image", ".jpeg": "image", ".webp": "image"}
DEFAULT_CHUNKING = {"text": "fixed", "markdown": "heading", "html": "heading", "pdf": "fixed", "docx": "heading",
                    "csv": "row", "xlsx": "row", "json": "qa", "jsonl": "qa", "image": "fixed"}
KEY_COLUMNS = ("sku", "id", "code", "key", "name", "question")


class IngestError(Exception):
    """A file that cannot be ingested; the message says why and what to do."""


@dataclass
class Extracted:
    kind: str
    title: str
    text: str
    records: list[Record] | None = None
    meta: dict = field(default_factory=dict)


def kind_of(path: Path) -> str:
    kind = TEXT_TYPES.get(path.suffix.lower())
    if kind is None:
        raise IngestError(f"unsupported file type {path.suffix or '(none)'!r}; supported: "
                          f"{', '.join(sorted(TEXT_TYPES))}")
    return kind


def extract(path: Path, *, max_bytes: int, ocr_timeout_s: float = 20.0) -> Extracted:
    """Read `path` according to its type; raises IngestError for anything unusable."""
    kind = kind_of(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise IngestError(f"file is {size:,} bytes; the limit is {max_bytes:,} (max_file_bytes)")
    if size == 0:
        raise IngestError("file is empty")
    data = path.read_bytes()
    _check_content(path, kind, data)
    out = _READERS[kind](path, data, ocr_timeout_s)
    if not out.text.strip():
        raise IngestError("no text found in the file")
    return out


# What a file's first bytes say it is. Text kinds must not be any of these.
_SIGNATURES = [(b"%PDF-", "a PDF"), (b"PK\x03\x04", "a ZIP archive (DOCX/XLSX)"), (b"\x89PNG\r\n\x1a\n", "a PNG image"),
               (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"), (b"\x7fELF", "a Linux executable"),
               (b"MZ", "a Windows executable"), (b"\x1f\x8b", "a gzip archive")]
_EXPECTED = {"pdf": ("a PDF",), "docx": ("a ZIP archive (DOCX/XLSX)",), "xlsx": ("a ZIP archive (DOCX/XLSX)",),
             ".png": ("a PNG image",), ".jpg": ("a JPEG image",), ".jpeg": ("a JPEG image",), ".webp": ("a WebP image",)}


def sniff(data: bytes) -> str | None:
    """What the content is by its signature, or None for anything else (text included)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP image"
    return next((name for magic, name in _SIGNATURES if data.startswith(magic)), None)


def _check_content(path: Path, kind: str, data: bytes) -> None:
    """Refuse a file whose content is not what its extension claims (a renamed binary, a disguised executable)."""
    found = sniff(data[:16])
    suffix = path.suffix.lower()
    expected = _EXPECTED.get(kind) or _EXPECTED.get(suffix)
    if expected is None:  # a text kind
        if found is not None or b"\x00" in data[:8192]:
            what = found or "binary data"
            raise IngestError(f"the content is {what}, not the text a {suffix} file holds; rename it to match its "
                              "content or export it again")
        return
    if found not in expected:
        raise IngestError(f"the content is {found or 'not recognisable'}, not {expected[0]} as the extension "
                          f"{suffix} says; rename it to match its content or export it again")


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise IngestError("text is neither UTF-8 nor GB18030")


def _title(text: str, path: Path) -> str:
    for line in text.splitlines():
        s = line.strip().lstrip("#").strip()
        if s:
            return s[:200]
    return path.stem


def _plain(path: Path, data: bytes, _t: float) -> Extracted:
    text = _decode(data).replace("\r\n", "\n")
    return Extracted("text", _title(text, path), text)


def _markdown(path: Path, data: bytes, _t: float) -> Extracted:
    text = _decode(data).replace("\r\n", "\n")
    return Extracted("markdown", _title(text, path), text)


def _html(path: Path, data: bytes, _t: float) -> Extracted:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(data), "html.parser")
    for tag in soup(["script", "style", "nav", "footer"]):
        tag.decompose()
    for level in range(1, 7):  # headings become Markdown so heading chunking sees them
        for h in soup.find_all(f"h{level}"):
            h.replace_with(f"\n{'#' * level} {h.get_text(' ', strip=True)}\n")
    lines = [ln.strip() for ln in soup.get_text("\n").splitlines()]
    text = "\n".join(ln for ln in lines if ln)
    title = soup.title.get_text(strip=True) if soup.title else _title(text, path)
    return Extracted("html", title, text)


def _pdf(path: Path, data: bytes, _t: float) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise IngestError("PDF is encrypted; export an unencrypted copy and ingest that")
        pages = [(p.extract_text() or "") for p in reader.pages]
    except PdfReadError as exc:
        raise IngestError(f"PDF cannot be read: {exc}") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise IngestError("PDF has no extractable text (empty or scanned); OCR the pages as images instead")
    title = (reader.metadata.title if reader.metadata and reader.metadata.title else None) or _title(text, path)
    return Extracted("pdf", title, text, meta={"pages": len(pages)})


def _docx(path: Path, data: bytes, _t: float) -> Extracted:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several types for broken zips
        raise IngestError(f"DOCX cannot be read: {exc}") from None
    lines = []
    for p in document.paragraphs:
        if not p.text.strip():
            continue
        style = (p.style.name or "").lower() if p.style is not None else ""
        level = int(style.split()[-1]) if style.startswith("heading") and style.split()[-1].isdigit() else 0
        lines.append(f"{'#' * level} {p.text.strip()}" if level else p.text.strip())
    text = "\n".join(lines)
    return Extracted("docx", document.core_properties.title or _title(text, path), text)


def _rows_to_records(header: list[str], rows: list[list[str]]) -> tuple[str, list[Record]]:
    keycol = next((i for name in KEY_COLUMNS for i, h in enumerate(header) if h.strip().lower() == name), 0)
    parts, records, pos = [], [], 0
    for row in rows:
        if not any(str(c).strip() for c in row):
            continue
        line = "; ".join(f"{h.strip()}: {str(v).strip()}" for h, v in zip(header, row, strict=False) if str(v).strip())
        records.append(Record(str(row[keycol]).strip(), line, pos, pos + len(line)))
        parts.append(line)
        pos += len(line) + 1
    return "\n".join(parts), records


def _csv(path: Path, data: bytes, _t: float) -> Extracted:
    text = _decode(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect, strict=True))
    except csv.Error as exc:
        raise IngestError(f"malformed CSV: {exc}") from None
    if len(rows) < 2:
        raise IngestError("CSV needs a header row and at least one data row")
    header = rows[0]
    for n, row in enumerate(rows[1:], start=2):
        if row and len(row) != len(header):
            raise IngestError(f"malformed CSV: line {n} has {len(row)} fields, the header has {len(header)}")
    body, records = _rows_to_records(header, rows[1:])
    return Extracted("csv", path.stem.replace("_", " "), body, records, {"columns": header})


def _xlsx(path: Path, data: bytes, _t: float) -> Extracted:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a broken zip or not a workbook
        raise IngestError(f"XLSX cannot be read: {exc}") from None
    sheet = wb.worksheets[0]
    rows = [["" if c is None else str(c) for c in row] for row in sheet.iter_rows(values_only=True)]
    if len(rows) < 2:
        raise IngestError("sheet needs a header row and at least one data row")
    body, records = _rows_to_records(rows[0], rows[1:])
    return Extracted("xlsx", path.stem.replace("_", " "), body, records, {"columns": rows[0]})


def _faq_items(items: list) -> tuple[str, list[Record]]:
    parts, records, pos = [], [], 0
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise IngestError(f"FAQ item {n} is not an object")
        q = item.get("question") or item.get("q")
        a = item.get("answer") or item.get("a")
        if not q or not a:
            raise IngestError(f"FAQ item {n} needs `question` and `answer`")
        line = f"Q: {str(q).strip()}\nA: {str(a).strip()}"
        records.append(Record(str(item.get("id") or q).strip(), line, pos, pos + len(line)))
        parts.append(line)
        pos += len(line) + 2
    return "\n\n".join(parts), records


def _json(path: Path, data: bytes, _t: float) -> Extracted:
    try:
        doc = json.loads(_decode(data))
    except json.JSONDecodeError as exc:
        raise IngestError(f"malformed JSON: {exc}") from None
    items = doc.get("faq") or doc.get("items") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise IngestError("JSON must be a list of {question, answer} objects (or {\"faq\": [...]})")
    body, records = _faq_items(items)
    title = doc.get("title") if isinstance(doc, dict) and doc.get("title") else path.stem.replace("_", " ")
    return Extracted("json", title, body, records)


def _jsonl(path: Path, data: bytes, _t: float) -> Extracted:
    items = []
    for n, line in enumerate(_decode(data).splitlines(), start=1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise IngestError(f"malformed JSONL at line {n}: {exc}") from None
    body, records = _faq_items(items)
    return Extracted("jsonl", path.stem.replace("_", " "), body, records)


def _image(path: Path, data: bytes, timeout_s: float) -> Extracted:
    from PIL import Image, UnidentifiedImageError

    from knowledge.ocr import OcrTimeout, ocr_image

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise IngestError(f"image cannot be decoded: {exc}") from None
    try:
        result = ocr_image(image, timeout_s)
    except OcrTimeout as exc:
        raise IngestError(str(exc)) from None
    if not result.text.strip():
        raise IngestError("no text found in the image (OCR read nothing)")
    return Extracted("image", path.stem.replace("_", " "), result.text,
                     meta={"ocr_lines": len(result.lines), "image_hash": result.image_hash,
                           "ocr_confidence": round(min(ln.confidence for ln in result.lines), 3)})


_READERS = {"text": _plain, "markdown": _markdown, "html": _html, "pdf": _pdf, "docx": _docx, "csv": _csv,
            "xlsx": _xlsx, "json": _json, "jsonl": _jsonl, "image": _image}
