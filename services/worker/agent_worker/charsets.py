"""Turning a fetched body into text: which charset labels are believed, and what is
guessed when none is.

Only text encodings a browser would use are decoded (the WHATWG Encoding Standard's list):
a page that declares `rot13`, `base64`, `hex`, `utf-7` or `unicode_escape` names a Python
codec that is no web encoding (some raise on `bytes.decode`, some turn bytes into script),
so such a label is ignored as browsers ignore it.
"""

from __future__ import annotations

import codecs
import re

import chardet

# Python codec name -> the codec to decode with, for every WHATWG encoding Python has.
# As browsers do, latin-1 and ASCII labels mean windows-1252, and so on down the list.
WEB_CODECS: dict[str, str] = {
    "utf-8": "utf-8",
    "utf-16-le": "utf-16-le",
    "utf-16-be": "utf-16-be",
    "utf-16": "utf-16-le",
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "cp1252": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "cp874": "cp874",
    "cp866": "cp866",
    "koi8-r": "koi8-r",
    "koi8-u": "koi8-u",
    "mac-roman": "mac-roman",
    "mac-cyrillic": "mac-cyrillic",
    **{f"iso8859-{n}": f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)},
    **{f"cp125{n}": f"cp125{n}" for n in (0, 1, 3, 4, 5, 6, 7, 8)},
    "gbk": "gbk",
    "gb2312": "gbk",
    "gb18030": "gb18030",
    "big5": "big5hkscs",
    "big5hkscs": "big5hkscs",
    "euc_jp": "euc_jp",
    "iso2022_jp": "iso2022_jp",
    "shift_jis": "cp932",
    "cp932": "cp932",
    "euc_kr": "cp949",
    "cp949": "cp949",
}
# WHATWG labels that Python's codec registry does not know by that name
WEB_ALIASES = {
    "windows-874": "cp874",
    "x-mac-cyrillic": "mac-cyrillic",
    "windows-31j": "cp932",
    "iso-8859-8-i": "iso8859-8",
    "x-sjis": "cp932",
    "x-gbk": "gbk",
}

BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
# a guess below this confidence is worse than the web's legacy default (short Latin texts)
DETECT_MIN_CONFIDENCE = 0.9


def web_codec(label: str | bytes | None) -> str | None:
    """The codec for a charset label if it names a web text encoding, else None."""
    if not label:
        return None
    name = (label.decode("ascii", "ignore") if isinstance(label, bytes) else label).strip().lower()
    name = WEB_ALIASES.get(name, name)
    try:
        found = codecs.lookup(name).name
    except LookupError:
        return None
    return WEB_CODECS.get(found)


def _meta_codec(body: bytes, media: str) -> str | None:
    if media == "text/plain":
        return None
    meta = META_CHARSET.search(body[:4096])
    found = web_codec(meta.group(1)) if meta else None
    # a <meta> readable as ASCII cannot be in UTF-16: browsers read it as UTF-8
    return "utf-8" if found and found.startswith("utf-16") else found


def detect(body: bytes, sample_bytes: int) -> str | None:
    """A web codec chardet is confident about for the first `sample_bytes`, else None."""
    guess = chardet.detect(body[:sample_bytes])
    if (guess.get("confidence") or 0) < DETECT_MIN_CONFIDENCE:
        return None
    return web_codec(guess.get("encoding"))


def decode(body: bytes, declared: str | None, media: str, *, detect_bytes: int = 32_768) -> tuple[str, str]:
    """The text and the codec used: a BOM, then the header's charset, then <meta charset>
    for HTML (each only if it names a web encoding), then UTF-8 if the body is valid UTF-8,
    then a confident detection, else windows-1252 (the web's legacy default)."""
    for bom, name in BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, "replace"), name
    charset = web_codec(declared) or _meta_codec(body, media)
    if charset:
        return body.decode(charset, "replace"), charset
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    charset = detect(body, detect_bytes) or "cp1252"
    return body.decode(charset, "replace"), charset
