"""Which dump pages are articles (docs/recipe/wikipedia.md: main namespace, no redirects), and their
URLs."""

from __future__ import annotations

from urllib.parse import quote

from filters.base import KEEP, Decision, Filter

MAIN_NAMESPACE = 0
# MediaWiki leaves these unescaped in article paths.
_URL_SAFE = "/:@!$()*,;~'"


def article_decision(ns: int, redirect: bool) -> Decision:
    if ns != MAIN_NAMESPACE:
        return Decision.drop("namespace")
    if redirect:
        return Decision.drop("redirect")
    return KEEP


class ArticleFilter(Filter):
    """Pages (dicts with `ns` and `redirect`) that are articles: main namespace, no redirect."""

    name = "article"

    def decide(self, page: dict) -> Decision:
        return article_decision(page["ns"], page["redirect"])


def article_url(base: str, language: str, title: str) -> str:
    """`https://<lang>.wikipedia.org/wiki/Title_with_underscores`; `base` is siteinfo's <base>."""
    prefix = base.rsplit("/", 1)[0] + "/" if "/wiki/" in base else None
    prefix = prefix or f"https://{language}.wikipedia.org/wiki/"
    return prefix + quote(title.replace(" ", "_"), safe=_URL_SAFE)
