"""Text of article attachments, so that what a PDF, a Word document or a text file says is
found by search (pure: bytes in, text out).

Extraction never refuses an attachment: a file that cannot be read is stored all the same and
says why its text is missing (``Extracted.error``).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 200_000  # what one attachment adds to the search index, at most
PDF_TYPES = frozenset({"application/pdf"})
DOCX_TYPES = frozenset({"application/vnd.openxmlformats-officedocument.wordprocessingml.document"})
TEXT_SUFFIXES = (".txt", ".md", ".log", ".csv", ".conf", ".cfg", ".ini", ".yaml", ".yml", ".json", ".xml", ".sh")


@dataclass(frozen=True)
class Extracted:
    text: str
    error: str | None = None  # why no (or not all) text could be read


def kind_of(filename: str, content_type: str) -> str | None:
    """``pdf``, ``docx``, ``text`` or None (stored, not searchable)."""
    name = filename.lower()
    if content_type in PDF_TYPES or name.endswith(".pdf"):
        return "pdf"
    if content_type in DOCX_TYPES or name.endswith(".docx"):
        return "docx"
    if content_type.startswith("text/") or name.endswith(TEXT_SUFFIXES):
        return "text"
    return None


def extract_text(filename: str, content_type: str, data: bytes) -> Extracted:
    kind = kind_of(filename, content_type)
    if kind is None:
        return Extracted("", None)
    try:
        if kind == "pdf":
            text = _pdf(data)
        elif kind == "docx":
            text = _docx(data)
        else:
            text = _plain(data)
    except Exception as error:  # a damaged or encrypted file: stored, but its text is unknown
        log.info("no text from attachment %r: %s", filename, type(error).__name__)
        return Extracted("", f"{kind} could not be read: {type(error).__name__}")
    text = text.replace("\x00", "")
    if len(text) > MAX_TEXT_CHARS:
        return Extracted(text[:MAX_TEXT_CHARS], f"only the first {MAX_TEXT_CHARS} characters are searchable")
    return Extracted(text)


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        reader.decrypt("")  # many PDFs are "encrypted" with an empty password; others raise
    parts = []
    for page in reader.pages:
        parts.append(page.extract_text() or "")
        if sum(len(p) for p in parts) > MAX_TEXT_CHARS:
            break
    return "\n".join(parts)


def _docx(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(parts)


def _plain(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1250", errors="replace")  # the Central European code page of older files
