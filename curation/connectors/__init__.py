"""Connectors: a folder of files becomes a stream of Documents, one parser per format.

    from curation.connectors import FolderConnector
    connector = FolderConnector(Path("corpus"), registry, file_timeout_s=60)
    items = list(connector)     # Document | QuarantineRecord; connector.units == len(items)
    connector.warnings          # manifest problems and unread formats, for the run summary

Formats (curation.connectors.registry): text, markdown, reST, HTML, JSONL tickets; PDF (text layer, page
offsets in `meta["page_starts"]`), DOCX, PPTX (`slide_starts`), XLSX (`sheets`, `sheet_starts`) and CSV/TSV
as `row N: column=value; ...` lines (a sheet of people is marked `meta["people_table"]`: connectors.people);
EML, MBOX and Outlook MSG (headers and body; attachments and messages as children `mail.eml#report.pdf`,
`archive.mbox#3`, `mail.msg#report.pdf`); JSON, YAML, INI, TOML and .env files read as text, so the secrets
scorer sees them. `location(doc.meta, offset)` says where a chunk lies in its file ("page 12").

A folder may carry `manifest.jsonl` (one line per file: path, title, source, source_type, updated); without
one, a file's source is its top-level folder. Every file yields Documents or one QuarantineRecord with a
stable reason (`encrypted`, `needs_ocr`, `zip_bomb`, `corrupt_file`, `too_large`, `timeout`, ...): nothing
read is lost (documents in = documents out + quarantined). Over a limit (pages, rows, unpacked bytes) a file
is quarantined `too_large`, never truncated: the unread part would go unscored.

Why these libraries (docs/formats.md has the numbers). pypdf, python-docx, python-pptx and openpyxl resolve
to 9 packages in all (`pip install --dry-run --ignore-installed --report`), Pillow and typing-extensions
already here; all pure Python but lxml. They hand back each format's structure (pages, slides, sheets,
cells) as data, which page and sheet citations need. The converters built on them resolve to far more:
markitdown with its PDF and Office extras to 37 packages (onnxruntime, magika, pandas, pdfminer.six,
pdfplumber), docling to 122 (torch, torchvision, CUDA libraries, transformers, OCR and layout models fetched
at first use, which this machine cannot do), unstructured with its document extras to 152 (torch, onnx,
timm, spaCy, pikepdf, google-cloud-vision); and they return one markdown text per file, so page and sheet
boundaries would have to be parsed back out of it. E-mail, CSV and configuration files need only the
standard library. Outlook .msg takes extract-msg (20 packages: RTF, compressed-RTF and EBCDIC decoders,
oletools), the one library that reads its OLE property streams; it is imported only when a .msg is read.
"""

from curation.connectors.base import Blob, Context, Failed, Limits, Part, Unreadable, location
from curation.connectors.folder import (
    SKIP_NAMES,
    TICKET_META_FIELDS,
    TICKET_SUFFIXES,
    FolderConnector,
    doc_id_for,
)
from curation.connectors.manifest import ManifestEntry, manifest_warnings, read_corpus_manifest
from curation.connectors.registry import PARSERS, parse_blob, parser_for
from curation.connectors.text import CONFIG_SUFFIXES, HTML_SUFFIXES, TEXT_SUFFIXES, decode_bytes

__all__ = [
    "CONFIG_SUFFIXES",
    "HTML_SUFFIXES",
    "PARSERS",
    "SKIP_NAMES",
    "TEXT_SUFFIXES",
    "TICKET_META_FIELDS",
    "TICKET_SUFFIXES",
    "Blob",
    "Context",
    "Failed",
    "FolderConnector",
    "Limits",
    "ManifestEntry",
    "Part",
    "Unreadable",
    "decode_bytes",
    "doc_id_for",
    "location",
    "manifest_warnings",
    "parse_blob",
    "parser_for",
    "read_corpus_manifest",
]
