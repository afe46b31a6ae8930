"""The links a fetched page holds, as absolute http(s) URLs: what a re-plan may follow."""

from __future__ import annotations

from typing import cast

import lxml.etree
import lxml.html

from agent_common.urls import canonical


def page_links(html: str, base_url: str, limit: int) -> list[str]:
    """The page's <a href> targets in document order, each once, without links back to the
    page itself; at most `limit`."""
    try:
        # lxml-stubs type the result as a bare element; an HTML parser makes an HtmlElement
        root = cast(lxml.html.HtmlElement, lxml.html.document_fromstring(html, base_url=base_url))
    except (lxml.etree.ParserError, ValueError):
        return []
    root.make_links_absolute(base_url, resolve_base_href=True)
    here = canonical(base_url)
    found: list[str] = []
    seen = {here}
    for element, attribute, link, _ in root.iterlinks():
        if len(found) >= limit:
            break
        if element.tag != "a" or attribute != "href" or not link.lower().startswith(("http://", "https://")):
            continue
        key = canonical(link)
        if key not in seen:
            seen.add(key)
            found.append(link.split("#", 1)[0])
    return found
