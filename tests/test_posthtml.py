"""Post bodies as StackExchange writes them, and the text they become."""

from __future__ import annotations

from filters.posthtml import html_to_text

BODY = """<p>I'm trying to parse a file where each line looks like <code>key=value</code>,
but values can contain <code>&lt;</code> and <code>&amp;</code>. What I've tried:</p>

<pre><code>with open(path) as f:
    for line in f:
        if '&lt;' in line and x &amp; 1:

            key, _, value = line.partition('=')
</code></pre>

<p>This fails when:</p>

<ol>
<li>the line is empty;</li>
<li><p>the value has an <a href="https://docs.python.org/3/library/stdtypes.html">escape</a>:</p>
<ul>
<li>like <code>\\n</code></li>
<li>or <strong>&#39;quoted&#39;</strong> &mdash; sometimes</li>
</ul></li>
</ol>

<blockquote>
  <p>Errors should never pass silently.<br>
  Unless explicitly silenced.</p>
</blockquote>

<h2>Update</h2>

<p>Solved, see below.</p>
"""

EXPECTED = """I'm trying to parse a file where each line looks like key=value, but values can \
contain < and &. What I've tried:

with open(path) as f:
    for line in f:
        if '<' in line and x & 1:

            key, _, value = line.partition('=')

This fails when:

* the line is empty;
* the value has an escape:
  * like \\n
  * or 'quoted' \u2014 sometimes

> Errors should never pass silently.
> Unless explicitly silenced.

Update

Solved, see below."""


def test_real_looking_post() -> None:
    assert html_to_text(BODY) == EXPECTED


def test_code_block_inside_a_list_item_and_a_quote() -> None:
    html = "<ul><li>Run:<pre><code>a  =  1\n  b\n</code></pre></li></ul>"
    html += "<blockquote><pre>x &gt; 0</pre></blockquote>"
    # inside a list, blocks are one line apart: the item stays one item
    assert html_to_text(html) == "* Run:\n  a  =  1\n    b\n\n> x > 0"


def test_paragraphs_and_entities() -> None:
    html = "<p>one&nbsp;&amp;&#x27;two&#39;</p><p>three</p>\n\n<p>four</p>"
    assert html_to_text(html) == "one &'two'\n\nthree\n\nfour"  # a no-break space is a space


def test_broken_html_never_raises() -> None:
    assert html_to_text("<p>unclosed <b>bold <i>and</p></div></li> stray</ul>") == (
        "unclosed bold and\n\nstray"
    )
    assert html_to_text("<pre><code>never closed &lt;") == "never closed <"
    assert html_to_text("") == ""
    assert html_to_text("<p>a<br><br>b</p>") == "a\n\nb"
    assert html_to_text("<script>alert(1)</script><p>ok</p>") == "ok"
