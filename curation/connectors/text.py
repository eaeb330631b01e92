"""Plain text, markdown, reST and HTML; and configuration files (JSON, YAML, INI, TOML, .env), read as text.

Configuration files keep their text as written: the secrets scorer looks for `password = ...` and
`"api_key": "..."` assignments, and the structure is what a reader needs to see which service a key is for.
They are parsed only to note in `meta["config"]` whether they are valid; a broken one is still scored
(quarantining it would leave the passwords it holds unscored).
"""

from __future__ import annotations

import configparser
import json
import tomllib
from collections.abc import Iterator

from curation.connectors.base import Blob, Context, Item, Part, Unreadable
from curation.html_text import html_to_text

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text", ""}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
CONFIG_SUFFIXES = {".json", ".yaml", ".yml", ".ini", ".cfg", ".conf", ".toml", ".env", ".properties"}
MINIFIED_LINE_CHARS = 2_000  # a one-line JSON this long is pretty-printed, so it chunks and reads


def decode_bytes(raw: bytes, *, legacy_encoding: str | None = None) -> tuple[str, str]:
    """Bytes to text and the encoding used.

    Text must be UTF-8, unless the steward names the one legacy encoding the archive uses (cp1252, say).
    Guessing per file is not safe: detectors mistake Latin-1 for cp1250 on short texts and turn a document
    into mojibake, so the detector's guess only goes into the quarantine record as a hint.
    """
    if not raw.strip():
        raise Unreadable("empty_file", f"{len(raw)} bytes, no text")
    if b"\x00" in raw[:8192]:
        raise Unreadable("binary_content", "NUL bytes in the first 8 KiB")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = f"byte {exc.start}: {exc.reason}"
    if legacy_encoding:
        try:
            return raw.decode(legacy_encoding), legacy_encoding
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw[:1_000_000]).best()
    hint = f"; looks like {best.encoding}" if best is not None and best.chaos <= 0.2 else ""
    raise Unreadable("not_utf8", f"not UTF-8 ({utf8_error}){hint}: re-encode it, or set legacy_encoding")


def read_text(blob: Blob, ctx: Context) -> tuple[str, str]:
    """The blob's text without a UTF-8 byte-order mark, and its encoding."""
    text, encoding = decode_bytes(blob.data, legacy_encoding=ctx.legacy_encoding)
    return text.removeprefix("\ufeff"), encoding


def parse_text(blob: Blob, ctx: Context) -> Iterator[Item]:
    text, encoding = read_text(blob, ctx)
    yield Part(text, meta={"encoding": encoding})


def parse_html(blob: Blob, ctx: Context) -> Iterator[Item]:
    text, encoding = read_text(blob, ctx)
    title, body = html_to_text(text)
    yield Part(body, title=title or None, meta={"encoding": encoding})


def config_format(name: str) -> str:
    """ini, json, yaml, toml, env or properties, from the file name (`.env`, `.env.prod`, `app.cfg`)."""
    lowered = name.lower()
    if lowered == ".env" or lowered.startswith(".env.") or lowered.endswith(".env"):
        return "env"
    suffix = lowered.rsplit(".", 1)[-1]
    return {"yml": "yaml", "cfg": "ini", "conf": "ini"}.get(suffix, suffix)


def parse_config(blob: Blob, ctx: Context) -> Iterator[Item]:
    text, encoding = read_text(blob, ctx)
    kind = config_format(blob.name)
    meta = {"encoding": encoding, "format": kind}
    try:
        if kind == "json":
            value = json.loads(text)
            if max(map(len, text.splitlines()), default=0) > MINIFIED_LINE_CHARS:
                text = json.dumps(value, indent=1, ensure_ascii=False)
                meta["reformatted"] = "minified JSON pretty-printed"
        elif kind == "yaml":
            import yaml

            list(yaml.safe_load_all(text))
        elif kind == "toml":
            tomllib.loads(text)
        elif kind == "ini":
            configparser.ConfigParser(interpolation=None, strict=False).read_string(text)
        meta["config"] = "valid" if kind in {"json", "yaml", "toml", "ini"} else "not checked"
    except Exception as exc:  # noqa: BLE001 - any parse error: the file is still scored as text
        meta["config"] = f"invalid {kind}: {type(exc).__name__}: {str(exc)[:200]}"
    yield Part(text, meta=meta)
