"""HTML → WET text: all visible text kept (boilerplate included), one line per block, robust
decoding. Expected outputs are exact."""

from __future__ import annotations

import pytest

from filters.html import ExtractedText, decode_html, html_to_text, meta_charset

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>
    Widgets &amp; Gadgets  |  Example Shop
  </title>
  <style>body { color: red }</style>
  <script>var tracking = "do not keep";</script>
</head>
<body>
  <header><a href="/">Example Shop</a></header>
  <nav>
    <ul>
      <li><a href="/">Home</a></li>
      <li><a href="/widgets">Widgets</a></li>
      <li><a href="/about">About us</a></li>
    </ul>
  </nav>
  <div id="cookies">We use cookies to improve your experience. <a href="/p">Privacy policy</a></div>
  <main>
    <h1>All   about
        widgets</h1>
    <p>Widgets are <b>small</b>, <i>useful</i>
       and cheap.</p>
    <p>First line<br>second line</p>
    <table>
      <tr><th>Name</th><th>Price</th></tr>
      <tr><td>Widget</td><td>&euro;5</td></tr>
    </table>
    <noscript>Please enable JavaScript.</noscript>
    <template><p>Template text</p></template>
    <img src="w.png" alt="A widget">
  </main>
  <footer><p>&copy; 2024 Example Shop &mdash; All rights reserved.</p></footer>
  <script>document.write("nor this");</script>
</body>
</html>
"""


def test_page_keeps_boilerplate_and_drops_code() -> None:
    assert html_to_text(PAGE.encode("utf-8")) == ExtractedText(
        title="Widgets & Gadgets | Example Shop",
        text=(
            "Example Shop\n"  # header
            "Home\nWidgets\nAbout us\n"  # navigation, one line per item
            "We use cookies to improve your experience. Privacy policy\n"  # cookie banner
            "All about widgets\n"
            "Widgets are small, useful and cheap.\n"
            "First line\nsecond line\n"
            "Name Price\nWidget €5\n"  # one line per table row
            "© 2024 Example Shop — All rights reserved."  # footer; no script/style/noscript
        ),
    )


def test_str_input_gives_the_same_result() -> None:
    assert html_to_text(PAGE) == html_to_text(PAGE.encode("utf-8"))


def test_block_elements_become_lines_and_inline_ones_do_not() -> None:
    html = (
        "<div>div</div><p>p</p><h2>h2</h2><ul><li>one</li><li>two</li></ul><ol><li>three</li></ol>"
        "<blockquote>quote</blockquote><dl><dt>term</dt><dd>definition</dd></dl>"
        "<pre>  code   with\n  spaces</pre><section>section</section><aside>aside</aside>"
        "text <span>inline</span> <em>text</em><address>address</address>"
    )
    assert html_to_text(html).text.split("\n") == [
        "div", "p", "h2", "one", "two", "three", "quote", "term", "definition",
        "code with", "spaces", "section", "aside", "text inline text", "address",
    ]  # fmt: skip


def test_entities_are_decoded_and_no_break_spaces_collapse() -> None:
    html = "<p>a&nbsp;&nbsp;b &lt;tag&gt; &quot;q&quot; &#x263A; &#9731; caf&eacute; &amp;amp;</p>"
    assert html_to_text(html).text == 'a b <tag> "q" ☺ ☃ café &amp;'


def test_no_empty_lines_anywhere() -> None:
    html = "\n\n<body>\n<div>  </div><p>a</p><p>\n</p><br><br><p>b</p><div>\t</div>\n</body>\n"
    assert html_to_text(html).text == "a\nb"


@pytest.mark.parametrize(
    ("html", "title"),
    [
        ("<title>\n  Hello\n   World  </title><p>x</p>", "Hello World"),
        ("<p>no title</p>", ""),
        ("<title></title><p>x</p>", ""),
    ],
)
def test_title(html: str, title: str) -> None:
    assert html_to_text(html).title == title


@pytest.mark.parametrize("empty", [b"", ""])
def test_empty_input(empty: bytes | str) -> None:
    assert html_to_text(empty) == ExtractedText(title="", text="")


def test_charset_from_meta() -> None:
    html = '<html><head><meta charset="windows-1251"><title>Новости</title></head>'
    html += "<body><p>Привет, мир</p></body></html>"
    assert html_to_text(html.encode("cp1251")) == ExtractedText("Новости", "Привет, мир")


def test_charset_from_http_equiv_meta_with_the_whatwg_mapping() -> None:
    # iso-8859-1 means windows-1252 to browsers: 0x80 is the euro sign
    html = b'<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
    html += b"<p>Caf\xe9 \x80 5</p>"
    assert html_to_text(html).text == "Café € 5"


def test_transport_charset_hint_wins_over_meta() -> None:
    html = '<meta charset="utf-8"><p>Grüße</p>'.encode("latin-1")
    assert html_to_text(html, encoding_hint="iso-8859-1").text == "Grüße"


def test_byte_order_mark_wins_over_everything() -> None:
    html = b"\xef\xbb\xbf" + '<meta charset="koi8-r"><p>Grüße</p>'.encode()
    assert html_to_text(html, encoding_hint="iso-8859-1").text == "Grüße"
    assert html_to_text("<p>Grüße</p>".encode("utf-16")).text == "Grüße"


def test_meta_declaring_utf16_is_read_as_utf8() -> None:
    assert html_to_text('<meta charset="utf-16"><p>Grüße</p>'.encode()).text == "Grüße"


def test_unknown_labels_are_ignored() -> None:
    # "latin-1" is not a WHATWG label: browsers ignore it and so do we (then: valid UTF-8)
    html = '<meta charset="latin-1"><p>Grüße</p>'.encode()
    assert html_to_text(html, encoding_hint="no-such-charset").text == "Grüße"


def test_detection_without_a_declaration() -> None:
    text = "Съешь же ещё этих мягких французских булок, да выпей чаю. Широкая электрификация."
    assert html_to_text(f"<p>{text}</p>".encode("cp1251")).text == text


def test_invalid_bytes_become_replacement_characters() -> None:
    html = b'<meta charset="utf-8"><title>ok \xff</title><p>caf\xc3\xa9 \xc3 bad \xfe\xfe end</p>'
    assert html_to_text(html) == ExtractedText("ok \ufffd", "café \ufffd bad \ufffd\ufffd end")


def test_lone_surrogates_in_str_input_do_not_raise() -> None:
    assert html_to_text("<p>a\udcffb</p>").text == "a?b"


def test_meta_charset_reads_only_the_prescan_window() -> None:
    assert meta_charset(b'<head><meta charset="Shift_JIS">') == "Shift_JIS"
    assert meta_charset(b"<head><meta content='text/html; charset = koi8-r'>") == "koi8-r"
    assert meta_charset(b"<p>no declaration</p>") is None
    assert meta_charset(b" " * 1024 + b'<meta charset="koi8-r">') is None


def test_decode_html_strips_the_bom() -> None:
    assert decode_html(b"\xef\xbb\xbf<p>x</p>") == "<p>x</p>"
