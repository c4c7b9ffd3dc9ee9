"""MediaWiki dumps rewritten in the multistream layout Wikimedia publishes: bz2 streams of 100
pages each and an index of stream offsets, so the Wikipedia pipeline can split a dump across
workers. Used to build the sample and test inputs.
"""

from __future__ import annotations

import bz2
import html

from readers.wikidump import ID_TAG, PAGE_CLOSE, PAGE_OPEN, TITLE_TAG


def split_dump(xml: bytes) -> tuple[bytes, list[bytes], bytes]:
    """Header (up to the first page's line), page chunks (whole lines) and footer of a dump."""
    first = xml.find(PAGE_OPEN)
    if first < 0:
        return xml, [], b""
    first = xml.rfind(b"\n", 0, first) + 1
    header, pages, pos = xml[:first], [], first
    while True:
        i = xml.find(PAGE_OPEN, pos)
        if i < 0:
            break
        j = xml.find(PAGE_CLOSE, i)
        stop = xml.find(b"\n", j)
        stop = len(xml) if stop < 0 else stop + 1
        pages.append(xml[pos:stop])
        pos = stop
    return header, pages, xml[pos:]


def write_multistream(xml: bytes, dump_path: str, index_path_: str, pages_per_stream: int = 100):
    """Write `xml` as a multistream bz2 dump plus its index, the layout Wikimedia publishes."""
    header, pages, footer = split_dump(xml)
    offset, index_lines = 0, []
    with open(dump_path, "wb") as out:
        block = bz2.compress(header, 9)
        out.write(block)
        offset += len(block)
        for k in range(0, len(pages), pages_per_stream):
            group = pages[k : k + pages_per_stream]
            for page in group:
                title = html.unescape(TITLE_TAG.search(page).group(1).decode()).encode()
                index_lines.append(b"%d:%s:%s" % (offset, ID_TAG.search(page).group(1), title))
            block = bz2.compress(b"".join(group), 9)
            out.write(block)
            offset += len(block)
        out.write(bz2.compress(footer, 9))
    with open(index_path_, "wb") as out:
        out.write(bz2.compress(b"\n".join(index_lines) + b"\n", 9))
