"""Wikipedia article cleaning (docs/recipe/wikipedia.md): wikitext in, plain text, lead section and
cited URLs out.

mwparserfromhell's C tokenizer does the parsing; the text is then rendered in one pass over its
token stream, bottom-up: each construct ({{…}}, [[…]], <tag>…</tag>, [url …], == … ==) collects
the rendered text of its parts and, when it closes, hands its parent what should be seen of it.
Building mwparserfromhell's node tree would cost 3-5 times the tokenizing (its Builder is Python);
the reference implementation (Hugging Face's ``wikipedia`` builder) then also removed nodes one by
one and called ``strip_code`` per section, which is quadratic on long pages.

Sections are what ``Wikicode.get_sections(flat=True, include_lead=True, include_headings=True)``
gives: the lead, then one per top-level heading.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

from mwparserfromhell.definitions import INVISIBLE_TAGS
from mwparserfromhell.parser import tokens as tk

try:
    from mwparserfromhell.parser._tokenizer import CTokenizer as _Tokenizer
except ImportError:  # no C extension: the pure-Python tokenizer gives the same tokens, slower
    from mwparserfromhell.parser.tokenizer import Tokenizer as _Tokenizer

LANGUAGES: tuple[str, ...] = (
    "bg", "ca", "cs", "da", "de", "en", "es", "fr", "hr", "hu",
    "it", "nl", "pl", "pt", "ro", "ru", "sl", "sr", "sv", "uk",
)  # fmt: skip

# From MediaWiki 1.39 languages/messages/Messages*.php ($namespaceNames NS_MEDIA/NS_FILE/NS_CATEGORY
# plus $namespaceAliases, merged along each language's $fallback chain as MediaWiki does; sr = sr-ec
# Cyrillic + sr-el Latin, since sr.wikipedia accepts both scripts).
MEDIA_ALIASES: dict[str, tuple[str, ...]] = {
    "bg": ("Медия", "Файл", "Картинка"),
    "ca": ("Media", "Fitxer", "Imatge"),
    "cs": ("Média", "Soubor", "Obrázok"),  # Obrázok: alias from the sk fallback
    "da": ("Media", "Fil", "Billede"),
    "de": ("Medium", "Datei", "Bild"),
    "en": ("Media", "File", "Image"),
    "es": ("Medio", "Archivo", "Imagen"),
    "fr": ("Média", "Fichier"),
    "hr": ("Mediji", "Datoteka", "Slika"),
    "hu": ("Média", "Fájl", "Kép"),
    "it": ("Media", "File", "Immagine"),
    "nl": ("Media", "Bestand", "Afbeelding"),
    "pl": ("Media", "Plik", "Grafika"),
    "pt": ("Multimédia", "Ficheiro", "Imagem", "Arquivo"),
    "ro": ("Media", "Fișier", "Imagine", "Fişier"),  # comma-below and legacy cedilla ș
    "ru": ("Медиа", "Файл", "Изображение"),
    "sl": ("Datoteka", "Slika"),  # sl: Datoteka is Media, Slika is File
    "sr": ("Медиј", "Медија", "Датотека", "Слика", "Medij", "Medija", "Datoteka", "Slika"),
    "sv": ("Media", "Fil", "Bild"),
    "uk": ("Медіа", "Медиа", "Файл", "Зображення", "Изображение"),
}
CATEGORY_ALIASES: dict[str, tuple[str, ...]] = {
    "bg": ("Категория",),
    "ca": ("Categoria",),
    "cs": ("Kategorie",),
    "da": ("Kategori",),
    "de": ("Kategorie",),
    "en": ("Category",),
    "es": ("Categoría",),
    "fr": ("Catégorie",),
    "hr": ("Kategorija",),
    "hu": ("Kategória",),
    "it": ("Categoria",),
    "nl": ("Categorie",),
    "pl": ("Kategoria",),
    "pt": ("Categoria",),
    "ro": ("Categorie",),
    "ru": ("Категория",),
    "sl": ("Kategorija",),
    "sr": ("Категорија", "Kategorija"),
    "sv": ("Kategori",),
    "uk": ("Категорія", "Категория"),
}
# MediaWiki's canonical names work on every wiki, whatever its language.
_CANONICAL_MEDIA = ("Media", "File", "Image")
_CANONICAL_CATEGORY = ("Category",)

# Tags whose whole content goes: citations and tables (docs/recipe/wikipedia.md), and extension tags
# that render as something other than text (math, galleries, timelines: mwparserfromhell's invisible
# tags).
_DROPPED_TAGS = frozenset({"ref", "references", "table", *INVISIBLE_TAGS})
# Tags whose content the parser leaves unparsed: literal text, where '' is not markup.
_LITERAL_TAGS = frozenset({"nowiki", "pre", "source", "syntaxhighlight"})
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_QUOTES = re.compile(r"'{2,}")
_SPACES = re.compile(r"[ \t]{2,}|\t")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class CleanedPage:
    text: str  # whole article, cleaned
    opening: str  # the cleaned lead (text before the first heading): CCNet's "opening paragraphs"
    references: tuple[str, ...]  # http(s) URLs cited inside <ref>…</ref>, in order, deduplicated


def _ns_key(name: str) -> str:
    """MediaWiki namespace names ignore case, and '_' is a space in titles."""
    return " ".join(name.replace("_", " ").split()).casefold()


def _is_http(url: str) -> bool:
    return url[:8].lower().startswith(("http://", "https://"))


def _unquote(match: re.Match[str]) -> str:
    """MediaWiki's doQuotes: '' and ''' and ''''' are markup; '''' is an apostrophe then bold;
    a longer run keeps all but five as apostrophes."""
    n = len(match.group())
    return "'" if n == 4 else "'" * (n - 5) if n > 5 else ""


def _clean_block(text: str) -> str:
    """Per-line trim, single spaces, at most one blank line in a row, no blank edges."""
    if "__" in text:
        text = _MAGIC_WORD.sub("", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


# Kinds of open construct.
_ROOT, _TEMPLATE, _LINK, _EXTLINK, _TAG, _HEADING, _ARGUMENT = range(7)


class _Frame:
    """An open construct: ``out`` collects the rendered text of its current part."""

    __slots__ = ("brackets", "first", "in_ref", "key", "kind", "level", "name", "out")

    def __init__(self, kind: int) -> None:
        self.kind = kind
        self.out: list[str] = []
        self.first: list[str] | None = None  # the part before the first separator, once closed
        self.name: str | None = None  # tag name, lower case
        self.key: str | None = None  # template: name of the current parameter, lower case
        self.in_ref = False  # template: opened inside a <ref>; tag: a <ref> whose body is open
        self.brackets = False  # external link: [url title] rather than a bare url
        self.level = 0  # heading level


class WikitextCleaner:
    """Cleans the wikitext of one language's articles; build once per worker, reuse per page."""

    def __init__(
        self, language: str, media_names: Iterable[str] = (), category_names: Iterable[str] = ()
    ) -> None:
        """media_names/category_names: extra namespace names read from the dump's <siteinfo>, added
        to the built-in aliases (so a wiki with local aliases we do not know still gets cleaned)."""
        self.language = language
        self._media = frozenset(
            _ns_key(n)
            for n in (*_CANONICAL_MEDIA, *MEDIA_ALIASES.get(language, ()), *media_names)
            if n.strip()
        )
        self._category = frozenset(
            _ns_key(n)
            for n in (*_CANONICAL_CATEGORY, *CATEGORY_ALIASES.get(language, ()), *category_names)
            if n.strip()
        )

    def clean(self, wikitext: str) -> CleanedPage:
        # skip_style_tags: bold/italic stay text and are removed per Text token. mwparserfromhell
        # pairs '' across lines, so one unclosed '' would swallow the rest of the page (refs and
        # headings included) into an italic tag; MediaWiki closes it at the end of the line.
        tokens = _Tokenizer().tokenize(wikitext, 0, True)
        urls: list[str] = []
        sections = self._render(tokens, urls)
        cleaned = [(level, title, _clean_block(body)) for level, title, body in sections]
        return CleanedPage(
            text="\n\n".join(reversed(self._kept(cleaned))),
            opening=cleaned[0][2],
            references=tuple(dict.fromkeys(urls)),
        )

    @staticmethod
    def _kept(sections: list[tuple[int, str, str]]) -> list[str]:
        """Sections to keep, last first. A heading with no text of its own is kept only when one of
        its subsections is (so "History" stays above "Early years"); else it is dropped, like an
        emptied "References". Linear: one pass backwards with a stack of kept heading levels."""
        kept: list[str] = []
        below: list[int] = []  # levels of kept sections after this one, not yet closed
        for level, title, body in reversed(sections):
            has_sub = False
            while below and below[-1] > level:
                below.pop()
                has_sub = True
            if level == 0 or not title:  # the lead, or a heading that renders empty
                if body:
                    kept.append(body)
                elif not has_sub:
                    continue
            elif body or has_sub:
                kept.append(f"{title}\n{body}" if body else title)
            else:
                continue
            below.append(level)
        return kept

    def _link_text(self, title: str, text: list[str] | None) -> str:
        """What a [[title|text]] shows once cleaned."""
        stripped = title.strip()
        colon = stripped.startswith(":")
        if colon:
            stripped = stripped[1:].lstrip()
        i = stripped.find(":")
        if i > 0:
            key = _ns_key(stripped[:i])
            if key in self._media:
                return ""
            if key in self._category:
                if colon and text is not None:  # [[:Category:X|text]]: a visible link
                    return "".join(text)
                # Categorisation: the text after the pipe is a sort key, not display text.
                return " ".join(stripped[i + 1 :].replace("_", " ").split())
        return "".join(text) if text is not None else stripped

    def _render(self, tokens: list, urls: list[str]) -> list[tuple[int, str, str]]:
        """(heading level, heading, raw body text) per section, level 0 for the lead; appends the
        URLs cited in <ref>s to urls, wherever the ref is (templates and tables included)."""
        sections: list[tuple[int, str, str]] = []
        level, title = 0, ""
        root = top = _Frame(_ROOT)
        stack = [root]
        refs_open = 0
        i, n = 0, len(tokens)
        while i < n:
            tok = tokens[i]
            i += 1
            kind = type(tok)
            if kind is tk.Text:
                text = tok["text"]
                if "''" in text and not (top.kind == _TAG and top.name in _LITERAL_TAGS):
                    text = _QUOTES.sub(_unquote, text)
                top.out.append(text)
            elif kind is tk.TemplateParamSeparator or kind is tk.TemplateClose:
                if top.first is None:
                    top.first = top.out  # the template's name
                elif top.in_ref and top.key == "url":  # {{cite …|url=…}}, not archive-url=
                    url = "".join(top.out).strip()
                    if _is_http(url):
                        urls.append(url)
                top.key = None
                top.out = []
                if kind is tk.TemplateClose:  # templates render as nothing
                    stack.pop()
                    top = stack[-1]
            elif kind is tk.TemplateParamEquals:
                top.key = "".join(top.out).strip().lower()
                top.out = []
            elif kind is tk.WikilinkOpen or kind is tk.ExternalLinkOpen:
                frame = _Frame(_LINK if kind is tk.WikilinkOpen else _EXTLINK)
                frame.brackets = bool(tok.get("brackets"))
                stack.append(frame)
                top = frame
            elif kind is tk.WikilinkClose:
                stack.pop()
                if top.first is None:
                    shown = self._link_text("".join(top.out), None)
                else:
                    shown = self._link_text("".join(top.first), top.out)
                top = stack[-1]
                top.out.append(shown)
            elif kind is tk.TagOpenOpen:
                top = _Frame(_TAG)
                stack.append(top)
            elif kind is tk.TagCloseOpen:  # end of the opening tag: the body starts
                if top.name is None:
                    top.name = "".join(top.out).strip().lower()
                top.out = []
                if top.name == "ref":
                    top.in_ref = True
                    refs_open += 1
            elif kind is tk.TagOpenClose:  # the closing tag starts: keep the body
                top.first = top.out
                top.out = []
            elif kind is tk.TagCloseClose or kind is tk.TagCloseSelfclose:
                frame = stack.pop()
                top = stack[-1]
                name = frame.name
                if name is None:
                    name = "".join(frame.out).strip().lower()
                if frame.in_ref:
                    refs_open -= 1
                if name == "br":
                    top.out.append("\n")
                elif frame.first is not None and name not in _DROPPED_TAGS:
                    top.out.extend(frame.first)
            elif kind is tk.WikilinkSeparator or kind is tk.ExternalLinkSeparator:
                top.first = top.out
                top.out = []
            elif kind is tk.TemplateOpen:
                frame = _Frame(_TEMPLATE)
                frame.in_ref = refs_open > 0
                stack.append(frame)
                top = frame
            elif kind is tk.TagAttrStart:  # attributes are not rendered
                if top.name is None:
                    top.name = "".join(top.out).strip().lower()
                top.out = []
            elif kind is tk.ExternalLinkClose:
                frame = stack.pop()
                top = stack[-1]
                url = "".join(frame.out if frame.first is None else frame.first).strip()
                if refs_open:
                    self._cite(stack, url, urls)
                if not frame.brackets:
                    top.out.append(url)
                elif frame.first is not None:  # [url title] shows its title, [url] nothing
                    top.out.extend(frame.out)
            elif kind is tk.HeadingStart:
                top = _Frame(_HEADING)
                top.level = tok["level"]
                stack.append(top)
            elif kind is tk.HeadingEnd:
                frame = stack.pop()
                top = stack[-1]
                heading = " ".join("".join(frame.out).split())
                if top is root:  # a new section
                    sections.append((level, title, "".join(root.out)))
                    root.out = []
                    level, title = frame.level, heading
                else:  # a heading inside a tag: still a line of its own (the \n after is text)
                    top.out += ("\n", heading)
            elif kind is tk.HTMLEntityStart:
                entity = "&"
                while type(tokens[i]) is not tk.HTMLEntityEnd:
                    part = tokens[i]
                    entity += part.get("text") or part.get("char") or "#"
                    i += 1
                i += 1
                top.out.append(html.unescape(entity + ";"))
            elif kind is tk.CommentStart:
                while type(tokens[i]) is not tk.CommentEnd:
                    i += 1
                i += 1
            elif kind is tk.ArgumentOpen:
                top = _Frame(_ARGUMENT)
                stack.append(top)
            elif kind is tk.ArgumentSeparator:
                top.first = top.out
                top.out = []
            elif kind is tk.ArgumentClose:  # {{{name|default}}} shows its default
                frame = stack.pop()
                top = stack[-1]
                if frame.first is not None:
                    top.out.extend(frame.out)
            # TagAttrEquals, TagAttrQuote: inside attributes, which are dropped.
        sections.append((level, title, "".join(root.out)))
        return sections

    @staticmethod
    def _cite(stack: list[_Frame], url: str, urls: list[str]) -> None:
        """An external link in a <ref> is cited unless it sits in a template parameter (there it
        is an archive-url=, a chapter-url=…: the template's own url= is read instead)."""
        for frame in reversed(stack):
            if frame.kind == _TEMPLATE:
                return
            if frame.in_ref:
                if _is_http(url):
                    urls.append(url)
                return
