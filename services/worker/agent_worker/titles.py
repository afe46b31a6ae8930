"""The article's title as reader modes find it: structured data (JSON-LD), then meta tags
(Dublin Core, Open Graph, Twitter), then the <title> without the site's name, as Readability
cuts it (agent_worker.extract uses it for every page)."""

from __future__ import annotations

import json
import re

import lxml.html

ARTICLE_TYPES = re.compile(
    r"^(Article|AdvertiserContentArticle|NewsArticle|AnalysisNewsArticle|AskPublicNewsArticle|"
    r"BackgroundNewsArticle|BlogPosting|DiscussionForumPosting|LiveBlogPosting|OpinionNewsArticle|"
    r"ReportageNewsArticle|ReviewNewsArticle|Report|SatiricalArticle|ScholarlyArticle|"
    r"MedicalScholarlyArticle|SocialMediaPosting|TechArticle)$"
)
META_TITLES = ("dc:title", "dcterm:title", "og:title", "title", "twitter:title", "parsely-title")
SEPARATOR = re.compile(r" [|\-\\/>»] ")


def pick_title(root: lxml.html.HtmlElement) -> str | None:
    """The article's title as reader modes find it: structured data (JSON-LD), then meta
    tags (Dublin Core, Open Graph, Twitter), then the <title> without the site's name."""
    document_title = clean_document_title(root)
    for candidate in (jsonld_title(root, document_title), meta_title(root), document_title):
        if candidate and candidate.strip():
            return " ".join(candidate.split())
    return None


def meta_title(root: lxml.html.HtmlElement) -> str | None:
    values: dict[str, str] = {}
    for meta in root.iter("meta"):
        content = meta.get("content")
        for key in (meta.get("property"), meta.get("name")):
            if key and content and content.strip():  # "DC.Title" is "dc:title"
                values.setdefault(re.sub(r"\s", "", key).lower().replace(".", ":"), content)
    return next((values[k] for k in META_TITLES if k in values), None)


def jsonld_title(root: lxml.html.HtmlElement, document_title: str | None) -> str | None:
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(re.sub(r"^\s*<!\[CDATA\[|\]\]>\s*$", "", script.text))
        except ValueError:
            continue
        article = find_article(data)
        if article:
            return article_name(article, document_title)
    return None


def find_article(data: object) -> dict | None:
    items = data if isinstance(data, list) else [data]
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("@type")
        kinds = kind if isinstance(kind, list) else [kind]
        if any(isinstance(k, str) and ARTICLE_TYPES.match(k) for k in kinds):
            return item
        if "@graph" in item:
            found = find_article(item["@graph"])
            if found:
                return found
    return None


def article_name(article: dict, document_title: str | None) -> str | None:
    name, headline = article.get("name"), article.get("headline")
    name = name if isinstance(name, str) and name.strip() else None
    headline = headline if isinstance(headline, str) and headline.strip() else None
    # when both differ, the one closer to the page's own title is the article's (the other is
    # often the site's)
    if (
        name
        and headline
        and name != headline
        and document_title
        and similarity(headline, document_title) > 0.75 >= similarity(name, document_title)
    ):
        return headline
    return name or headline


def similarity(a: str, b: str) -> float:
    """How much of b's wording a covers (Readability's text similarity)."""
    tokens_a = set(re.findall(r"\w+", a.lower()))
    tokens_b = re.findall(r"\w+", b.lower())
    if not tokens_a or not tokens_b:
        return 0.0
    missing = [t for t in tokens_b if t not in tokens_a]
    return 1 - len(" ".join(missing)) / len(" ".join(tokens_b))


def clean_document_title(root: lxml.html.HtmlElement) -> str | None:
    """<title> without the site name ("Article - Site" -> "Article"), as Readability does:
    keep the original when cutting would leave four words or fewer."""
    node = root.find(".//title")
    original = " ".join(node.text_content().split()) if node is not None else ""
    if not original:
        return heading(root)
    title, hierarchical = original, False
    if SEPARATOR.search(original):
        hierarchical = bool(re.search(r" [\\/>»] ", original))
        title = original[: [m.start() for m in SEPARATOR.finditer(original)][-1]]
        if len(title.split()) < 3:
            title = re.sub(r"^[^|\-\\/>»]*[|\-\\/>»]", "", original)
    elif ": " in original:
        if not any(" ".join(h.text_content().split()) == original for h in root.iter("h1", "h2")):
            title = original[original.rfind(":") + 1 :]
            if len(title.split()) < 3:
                title = original[original.find(":") + 1 :]
            elif len(original[: original.find(":")].split()) > 5:
                title = original
    elif not 15 <= len(original) <= 150:
        title = heading(root) or original
    title = title.strip()
    words = len(title.split())
    if words <= 4 and (not hierarchical or words != len(re.sub(r"[|\-\\/>»]+", "", original).split()) - 1):
        title = original
    return title


def heading(root: lxml.html.HtmlElement) -> str | None:
    """The page's only <h1>, if it has exactly one."""
    h1s = list(root.iter("h1"))
    if len(h1s) != 1:
        return None
    return " ".join(h1s[0].text_content().split()) or None
