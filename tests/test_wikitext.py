"""The Wikipedia cleaning rules of docs/recipe/wikipedia.md, one exact expectation per rule, and a
real article."""

from __future__ import annotations

import bz2
from pathlib import Path

import pytest
from lxml import etree

from filters.wikitext import (
    CATEGORY_ALIASES,
    LANGUAGES,
    MEDIA_ALIASES,
    CleanedPage,
    WikitextCleaner,
)

SAMPLE = Path(__file__).resolve().parent.parent / "data/sample/wikipedia"


def clean(wikitext: str, language: str = "en", **names: list[str]) -> CleanedPage:
    return WikitextCleaner(language, **names).clean(wikitext)


def test_alias_tables_cover_the_twenty_languages() -> None:
    assert len(LANGUAGES) == 20
    assert " ".join(LANGUAGES) == "bg ca cs da de en es fr hr hu it nl pl pt ro ru sl sr sv uk"
    assert set(MEDIA_ALIASES) == set(LANGUAGES) == set(CATEGORY_ALIASES)
    assert {"Медиј", "Датотека", "Слика", "Medij", "Datoteka", "Slika"} <= set(MEDIA_ALIASES["sr"])
    assert set(CATEGORY_ALIASES["sr"]) == {"Категорија", "Kategorija"}


@pytest.mark.parametrize(
    ("language", "wikitext", "expected"),
    [
        (
            "en",
            "Before [[File:A.jpg|thumb|A caption with [[Link|a link]] and [[B]].]] after.",
            "Before after.",
        ),
        ("en", "A [[Image:B.png|200px]] b [[media:C.ogg|sound]] c", "A b c"),
        (
            "en",
            "A [[ :file : D.jpg|x]] b [[FILE:E.jpg]] c [[Filed under]] d",
            "A b c Filed under d",
        ),
        (
            "de",
            "Ein [[Datei:X.jpg|mini|Bild]] Text [[Bild:Y.jpg]] und [[Medium:Z.ogg]].",
            "Ein Text und .",
        ),
        ("de", "Englisch geht auch: [[File:X.jpg|mini]] [[Image:Y.jpg]].", "Englisch geht auch: ."),
        (
            "ru",
            "Текст [[Файл:Москва.jpg|мини|Подпись [[Кремль]]]] и [[Изображение:X.png]].",
            "Текст и .",
        ),
        (
            "sr",
            "Текст [[Датотека:A.jpg|мини]] [[Слика:B.jpg]] [[Медиј:C.ogg]] крај.",
            "Текст крај.",
        ),
        (
            "sr",
            "Tekst [[Datoteka:A.jpg|mini]] [[Slika:B.jpg]] [[Medija:C.ogg]] kraj.",
            "Tekst kraj.",
        ),
        (
            "bg",
            "Текст [[Картинка:Uhilen.png|Ухилен съм]] [[Файл:B.jpg]] [[Медия:C]] край.",
            "Текст край.",
        ),
        ("fr", "Texte [[Fichier:A.jpg|vignette]] [[Média:B.ogg]] fin.", "Texte fin."),
        ("pt", "Texto [[Ficheiro:A.jpg]] [[Imagem:B.jpg]] [[Arquivo:C.jpg]] fim.", "Texto fim."),
        (
            "ro",
            "Text [[Fișier:A.jpg]] [[Fişier:B.jpg]] [[Imagine:C.jpg]] sfârșit.",
            "Text sfârșit.",
        ),
        ("uk", "Текст [[Файл:A.jpg]] [[Зображення:B.jpg]] кінець.", "Текст кінець."),
        ("sl", "Besedilo [[Slika:A.jpg]] [[Datoteka:B.ogg]] konec.", "Besedilo konec."),
        # Another language's alias is an ordinary (interwiki-looking) link there.
        ("en", "A [[Datei:X.jpg]] b", "A Datei:X.jpg b"),
    ],
)
def test_media_links_are_removed_with_their_captions(
    language: str, wikitext: str, expected: str
) -> None:
    assert clean(wikitext, language).text == expected


def test_unknown_language_uses_english_and_siteinfo_names() -> None:
    wikitext = "A [[File:X.jpg]] [[Tiedosto:Y.jpg]] [[Luokka:Fysiikka]] [[Category:Physics]] b"
    assert clean(wikitext, "fi").text == "A Tiedosto:Y.jpg Luokka:Fysiikka Physics b"
    assert (
        clean(wikitext, "fi", media_names=["Tiedosto"], category_names=["Luokka"]).text
        == "A Fysiikka Physics b"
    )


@pytest.mark.parametrize(
    ("language", "wikitext", "expected"),
    [
        ("de", "[[Kategorie:Physik]]", "Physik"),
        (
            "en",
            "[[Category:Far-left_politics]]\n[[category: Anarchism ]]",
            "Far-left politics\nAnarchism",
        ),
        # In a category link the pipe gives a sort key, not display text: the name is kept.
        ("en", "[[Category:Anarchism| ]]\n[[Category:People|Smith, John]]", "Anarchism\nPeople"),
        # With a leading colon it is a visible link to the category page: its text is kept.
        (
            "en",
            "See [[:Category:Physics|the physics category]] and [[:Category:Maths]].",
            "See the physics category and Maths.",
        ),
        ("ru", "[[Категория:Физика]]", "Физика"),
        ("sr", "[[Категорија:Физика]]\n[[Kategorija:Fizika]]", "Физика\nFizika"),
        ("uk", "[[Категорія:Фізика]]\n[[Категория:Химия]]", "Фізика\nХимия"),
        ("es", "[[Categoría:Física]]", "Física"),
        ("bg", "[[Категория:Календари]]", "Календари"),
    ],
)
def test_category_prefix_is_stripped(language: str, wikitext: str, expected: str) -> None:
    assert clean(wikitext, language).text == expected


@pytest.mark.parametrize(
    ("wikitext", "expected"),
    [
        ("Fact.<ref>Smith 2001, p. 3.</ref> More.", "Fact. More."),
        (
            'Fact.<ref name="s">Smith</ref> Again.<ref name="s"/> And <ref name=s /> end.',
            "Fact. Again. And end.",
        ),
        (
            "Fact.<ref>{{cite web|url=http://a.org|title={{lang|fr|Titre}}}}</ref> More.",
            "Fact. More.",
        ),
        ('Fact.<ref group="n">Note with [[link]].</ref> More.', "Fact. More."),
        (
            "Text.\n\n== Notes ==\n<references/>\n\n== Refs ==\n<references>\n<ref name=a>A</ref>\n"
            "</references>",
            "Text.",
        ),
        ("Case <REF>shouted</REF>insensitive.", "Case insensitive."),
    ],
)
def test_references_are_removed(wikitext: str, expected: str) -> None:
    assert clean(wikitext).text == expected


@pytest.mark.parametrize(
    ("wikitext", "expected"),
    [
        (
            'Before\n{| class="wikitable"\n|-\n! Head !! Er\n|-\n| cell [[x]] || {{y}}\n|}\nAfter',
            "Before\n\nAfter",
        ),
        ("Before <table><tr><td>t</td></tr></table> after", "Before after"),
        ("Before\n{|\n|-\n| outer\n{|\n| inner\n|}\n|}\nAfter", "Before\n\nAfter"),
    ],
)
def test_tables_are_removed(wikitext: str, expected: str) -> None:
    assert clean(wikitext).text == expected


@pytest.mark.parametrize(
    ("wikitext", "expected"),
    [
        (
            "{{Infobox person\n| name = X\n| birth_date = {{birth date|1900|1|1}}\n| image = "
            "[[File:X.jpg]]\n}}\n'''X''' was a {{nowrap|{{small|great}}}} person.",
            "X was a person.",
        ),
        (
            "{{Use dmy dates}}{{Short description|A thing}}\nText {{citation needed|date=May}}.",
            "Text .",
        ),
        ("a<!-- hidden [[link]] -->b <!--\nmulti\nline\n-->c", "ab c"),
        ("a __NOTOC__ b __FORCETOC__\n__TOC__\nc __NOEDITSECTION__", "a b\n\nc"),
        ("Python's __init__ and __X1__ stay.", "Python's __init__ and __X1__ stay."),
    ],
)
def test_templates_comments_and_magic_words_disappear(wikitext: str, expected: str) -> None:
    assert clean(wikitext).text == expected


@pytest.mark.parametrize(
    ("wikitext", "expected"),
    [
        ("[[A|b]] and [[A]] and [[A (film)|A]]s", "b and A and As"),
        ("[[A#Section|section text]] [[:Help:Contents]]", "section text Help:Contents"),
        (
            "[http://x.org text here] [http://y.org] http://bare.org/p end",
            "text here http://bare.org/p end",
        ),
        ("''it'' '''bold''' '''''both''''' ''''four''''", "it bold both 'four'"),
        ("An ''unclosed italic\nnext line", "An unclosed italic\nnext line"),
        ("&amp; &lt;b&gt; &#8212; caf&eacute;", "& <b> — café"),
        ("one<br />two<br>three", "one\ntwo\nthree"),
        ("x <math>E=mc^2</math> y <nowiki>''literal'' [[x]]</nowiki> z", "x y ''literal'' [[x]] z"),
        ("<span style='c'>span</span> <div>div</div> <small>small</small>", "span div small"),
        ("* one\n* two\n# three\n: four\n; term : def", "one\ntwo\nthree\nfour\nterm def"),
        ("{{{1|default}}} {{{2}}}", "default"),
        ("<div>\n== Heading in a tag ==\ntext\n</div>", "Heading in a tag\ntext"),
    ],
)
def test_inline_markup_keeps_visible_text(wikitext: str, expected: str) -> None:
    assert clean(wikitext).text == expected


def test_sections_headings_and_whitespace() -> None:
    wikitext = (
        "{{Infobox}}\nLead   sentence.  \n\n\n\nSecond  paragraph.\n"
        "== History ==\n=== Early years ===\nEarly text.\n"
        "==''Later'' [[life]]<ref>x</ref> ==\nLater text.\n\n\n\nMore.\n"
        "== See also ==\n{{Portal|X}}\n"
        "== References ==\n{{Reflist}}\n<references/>\n"
        "== External links ==\n<!-- none yet -->\n"
    )
    page = clean(wikitext)
    assert page.text == (
        "Lead sentence.\n\nSecond paragraph.\n\n"
        "History\n\n"
        "Early years\nEarly text.\n\n"
        "Later life\nLater text.\n\nMore."
    )
    assert page.opening == "Lead sentence.\n\nSecond paragraph."


def test_headings_that_render_empty() -> None:
    wikitext = (
        "Lead.\n== A ==\n=== {{tpl}} ===\nUnder an empty heading.\n"
        "== B ==\n=== <!-- x --> ===\n==== C ====\nDeep.\n== D ==\n=== {{y}} ===\n"
    )
    assert clean(wikitext).text == "Lead.\n\nA\n\nUnder an empty heading.\n\nB\n\nC\nDeep."


def test_opening_is_empty_without_a_lead() -> None:
    page = clean("{{Infobox}}\n== Only ==\nBody.")
    assert page.opening == ""
    assert page.text == "Only\nBody."


def test_empty_page() -> None:
    assert clean("") == CleanedPage(text="", opening="", references=())
    emptied = "{{Disambiguation}}\n[[File:X.jpg]]\n== A ==\n== B ==\n"
    assert clean(emptied) == CleanedPage("", "", ())


def test_reference_urls() -> None:
    wikitext = (
        "A.<ref>{{cite web |url= https://a.example/x |archive-url=http://archive.org/a "
        "|title=T}}</ref>"
        "B.<ref>{{Cite news|URL=http://b.example/<!-- checked -->|chapter-url=http://c.example}}</ref>"
        "C.<ref>[http://d.example/page Title] and http://e.example/bare and "
        "[ftp://f.example x] and [//g.example y] and {{cite book|url=mailto:h@i.j}}</ref>"
        "D.<ref name=dup>{{cite web|url=https://a.example/x}}</ref>"
        "E.<ref>{{sfn|{{cite web|url=http://nested.example}}}}</ref>"
        "Not cited: [http://outside.example out] {{cite web|url=http://template.example}}\n"
        "{{Infobox|population=5<ref>[http://infobox.example count]</ref>}}\n"
        "{|\n| cell<ref>http://table.example</ref>\n|}\n"
        "[[File:X.jpg|thumb|Caption<ref>[http://caption.example c]</ref>]]\n"
        "Amp.<ref>[http://amp.example/?a=1&amp;b=2 entity-escaped]</ref>\n"
        "== Notes ==\n<references>\n<ref name=ld>[https://listdefined.example L]</ref>\n"
        "</references>"
    )
    assert clean(wikitext).references == (
        "https://a.example/x",
        "http://b.example/",
        "http://d.example/page",
        "http://e.example/bare",
        "http://nested.example",
        "http://infobox.example",
        "http://table.example",
        "http://caption.example",
        "http://amp.example/?a=1&b=2",
        "https://listdefined.example",
    )


def test_cleaner_is_reusable_and_deterministic() -> None:
    cleaner = WikitextCleaner("de")
    first = cleaner.clean("[[Datei:A.jpg]] Text.<ref>[http://x.de x]</ref>")
    cleaner.clean("Anderer [[Artikel]].")
    assert cleaner.clean("[[Datei:A.jpg]] Text.<ref>[http://x.de x]</ref>") == first
    assert first == CleanedPage("Text.", "Text.", ("http://x.de",))


def _sample_page(dump: str, title: str) -> str:
    """One page's wikitext from the bundled sample dump (real Wikipedia text, pipelines/sample)."""
    path = SAMPLE / f"{dump}-pages-articles.xml.bz2"
    if not path.exists():
        pytest.fail(f"{path} is missing: build the sample corpus with `make sample`")
    with bz2.open(path) as fh:
        pages = etree.iterparse(
            fh, tag="{*}page", resolve_entities=False, no_network=True, load_dtd=False
        )
        for _, page in pages:
            if page.findtext("{*}title") == title:
                return page.findtext("{*}revision/{*}text") or ""
            page.clear()
    pytest.fail(f"no page {title!r} in {path}")


def test_real_article_anarchism() -> None:
    page = WikitextCleaner("en").clean(_sample_page("enwiki-sample", "Anarchism"))
    assert page.text.startswith(
        "Anarchism is a political philosophy that advocates self-governed societies based on "
        "voluntary institutions. These are often described as stateless societies, although "
        "several authors have defined them more specifically as institutions based on "
        "non-hierarchical free associations."
    )
    for markup in ("[[", "]]", "{{", "}}", "<ref", "|}", "{|", "__", "''", "&nbsp;"):
        assert markup not in page.text, markup
    assert "\n\n\n" not in page.text
    assert "\nHistory\n" in page.text and "\nReferences\n" not in page.text
    assert page.text.endswith("\nAnti-capitalism\nFar-left politics")
    assert page.opening and page.text.startswith(page.opening)
    assert "\n\nEtymology and terminology\n" in page.text[len(page.opening) :][:30]
    assert len(page.references) > 100
    assert page.references[0] == (
        "http://www.theanarchistlibrary.org/HTML/"
        "Petr_Kropotkin___Anarchism__from_the_Encyclopaedia_Britannica.html"
    )
    assert all(url.startswith(("http://", "https://")) for url in page.references)
    assert len(set(page.references)) == len(page.references)


def test_real_article_bulgarian() -> None:
    page = WikitextCleaner("bg").clean(_sample_page("bgwiki-sample", "Григориански календар"))
    assert page.text.startswith(
        "Григорианският календар (понякога наричан и Грегориански календар, „нов стил“) е "
        "съвременният международно признат светски календар"
    )
    for markup in ("[[", "{{", "<ref", "File:", "Файл:", "Картинка:", "Категория:", "''"):
        assert markup not in page.text, markup
    assert page.text.endswith("\nКалендари")  # from [[Категория:Календари]]
    assert "Вижте също\nВисокосна година\n" in page.text
    assert page.text.startswith(page.opening) and page.opening.count("\n\n") == 2
    assert "http://astro.nmsu.edu/~lhuber/leaphist.html" in page.references


@pytest.mark.parametrize(
    "wikitext",
    [
        "{{Infobox|x=<ref>{{cite web|url=http://i.example}}</ref>}}'''Bold'''"
        " [[File:A.jpg|thumb|c]] [[Category:C| ]] [http://x.org x] &amp;\n== H ==\nText.",
        "Lead ''it''.<ref name=a>[http://a.example a]</ref>\n{|\n| t\n|}\n"
        "=== [[Sub]] ===\n* item <br/> <math>x</math>\n== Empty ==\n{{Reflist}}",
    ],
)
def test_pure_python_tokenizer_gives_the_same_result(
    wikitext: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without mwparserfromhell's C extension the module falls back to its Python tokenizer."""
    from mwparserfromhell.parser.tokenizer import Tokenizer

    import filters.wikitext

    expected = clean(wikitext)
    monkeypatch.setattr(filters.wikitext, "_Tokenizer", Tokenizer)
    assert clean(wikitext) == expected
    assert expected.text and expected.references
