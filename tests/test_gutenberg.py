"""filters/gutenberg.py on headers and footers of each era, in Project Gutenberg's own wording
(the files' bodies shortened)."""

from __future__ import annotations

from filters.gutenberg import StrippedBook, strip_gutenberg

# 1990s: the "small print" legal header, ending at its *END* line; an "End of The Project
# Gutenberg Etext" footer (Alice, etext #11, 1994).
SMALL_PRINT = """\
***This is the Project Gutenberg Etext of Alice in Wonderland***
*This 30th edition should be labeled alice30.txt or alice30.zip.
***This Edition Is Being Officially Released On March 8, 1994***

   Alice's Adventures in Wonderland

   March, 1994  [Etext #11]

***START**THE SMALL PRINT!**FOR PUBLIC DOMAIN ETEXTS**START***
Why is this "Small Print!" statement here?  You know: lawyers.
They tell us you might sue us if there is something wrong with
your copy of this etext, even if you got it for free from
someone other than us, and even if what's wrong is not our
fault.

This "Small Print!" by Charles B. Kramer, Attorney
Internet (72600.2026@compuserve.com); TEL: (212-254-5093)
*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*




                   ALICE'S ADVENTURES IN WONDERLAND

                             Lewis Carroll

                               CHAPTER I

                         Down the Rabbit-Hole


     Alice was beginning to get very tired of sitting by her sister
   on the bank, and of having nothing to do.


End of The Project Gutenberg Etext of Alice's Adventures in Wonderland
"""
ALICE = """\
                   ALICE'S ADVENTURES IN WONDERLAND

                             Lewis Carroll

                               CHAPTER I

                         Down the Rabbit-Hole


     Alice was beginning to get very tired of sitting by her sister
   on the bank, and of having nothing to do."""

# 2000s: "*** START OF THIS PROJECT GUTENBERG EBOOK", the producer's credit after it, an "End of
# Project Gutenberg's" line, the end marker and the full licence (#1013, 2004).
THIS_EBOOK = """\
The Project Gutenberg EBook of The First Men In The Moon, by H. G. Wells

This eBook is for the use of anyone anywhere at no cost and with
almost no restrictions whatsoever.  You may copy it, give it away or
re-use it under the terms of the Project Gutenberg License included
with this eBook or online at www.gutenberg.net


Title: The First Men In The Moon

Author: H. G. Wells

Release Date: October 20, 2004 [EBook #1013]

Language: English

Character set encoding: ASCII

*** START OF THIS PROJECT GUTENBERG EBOOK THE FIRST MEN IN THE MOON ***




This Project Gutenberg Etext was prepared by Barry Haworth.




THE FIRST MEN IN THE MOON

by H.G. Wells

Chapter 1

As I sit down to write here amidst the shadows of vine-leaves under the
blue sky of southern Italy, it comes to me with a certain quality of
astonishment that my participation in these amazing adventures of Mr.
Cavor was, after all, the outcome of the purest accident.



End of Project Gutenberg's The First Men In The Moon, by H. G. Wells

*** END OF THIS PROJECT GUTENBERG EBOOK THE FIRST MEN IN THE MOON ***

***** This file should be named 1013.txt or 1013.zip *****
This and all associated files of various formats will be found in:
        http://www.gutenberg.net/1/0/1/1013/

*** START: FULL LICENSE ***

THE FULL PROJECT GUTENBERG LICENSE
PLEASE READ THIS BEFORE YOU DISTRIBUTE OR USE THIS WORK

Section 1.  General Terms of Use and Redistributing Project Gutenberg-tm
electronic works
"""
FIRST_MEN = """\
THE FIRST MEN IN THE MOON

by H.G. Wells

Chapter 1

As I sit down to write here amidst the shadows of vine-leaves under the
blue sky of southern Italy, it comes to me with a certain quality of
astonishment that my participation in these amazing adventures of Mr.
Cavor was, after all, the outcome of the purest accident."""

# 2010s: a multi-line "Produced by" paragraph and a title continued on indented lines (#40815).
PRODUCED_BY = """\
The Project Gutenberg EBook of Prices of Books, by Henry B. Wheatley

Title: Prices of Books
       An Inquiry into the Changes in the Price of Books which
       have occurred in England at different Periods

Author: Henry B. Wheatley

Release Date: September 22, 2012 [EBook #40815]

Language: English

*** START OF THIS PROJECT GUTENBERG EBOOK PRICES OF BOOKS ***




Produced by Irma Spehar, Jennifer Linklater and the Online
Distributed Proofreading Team at http://www.pgdp.net (This
file was produced from images generously made available
by The Internet Archive/Canadian Libraries)









The Library Series

EDITED BY

DR. RICHARD GARNETT

The history of prices is one of the most interesting subjects that can
engage research. Project Gutenberg volunteers did not write this line.

                                                   R. GARNETT.



End of the Project Gutenberg EBook of Prices of Books, by Henry B. Wheatley

*** END OF THIS PROJECT GUTENBERG EBOOK PRICES OF BOOKS ***
"""
PRICES = """\
The Library Series

EDITED BY

DR. RICHARD GARNETT

The history of prices is one of the most interesting subjects that can
engage research. Project Gutenberg volunteers did not write this line.

                                                   R. GARNETT."""

# 2020s: "*** START OF THE PROJECT GUTENBERG EBOOK", the credit inside the header, an indented end
# marker and the licence after it (#71688, 2023).
THE_EBOOK = """\
The Project Gutenberg eBook of The French Revolution 1789-1795
\x20\x20\x20\x20
This ebook is for the use of anyone anywhere in the United States and
most other parts of the world at no cost and with almost no restrictions
whatsoever.

Title: The French Revolution 1789-1795


Author: Bertha Meriton Cordery Gardiner

Release date: September 19, 2023 [eBook #71688]

Language: English

Original publication: London: Longmans, Green, and Co, 1921

Credits: The Online Distributed Proofreading Team at https://www.pgdp.net


*** START OF THE PROJECT GUTENBERG EBOOK THE FRENCH REVOLUTION 1789-1795 ***





Transcriber\u2019s Notes: Italic text is enclosed in _underscores_.

                     HISTORICAL WORKS FOR SCHOOLS.

The index was not checked for proper alphabetization or correct page
references.



\x20\x20\x20\x20\x20\x20\x20\x20
            *** END OF THE PROJECT GUTENBERG EBOOK THE FRENCH REVOLUTION 1789-1795 ***
\x20\x20\x20\x20\x20\x20\x20\x20

\x20\x20\x20\x20

Updated editions will replace the previous one\u2014the old editions will
be renamed.


START: FULL LICENSE

THE FULL PROJECT GUTENBERG LICENSE
"""
REVOLUTION = """\
Transcriber\u2019s Notes: Italic text is enclosed in _underscores_.

                     HISTORICAL WORKS FOR SCHOOLS.

The index was not checked for proper alphabetization or correct page
references."""


def test_1990s_small_print():
    assert strip_gutenberg(SMALL_PRINT) == StrippedBook(
        ALICE, True, True, "Alice in Wonderland", None, None, 11, None
    )


def test_2000s_this_ebook_with_credit_and_full_licence():
    assert strip_gutenberg(THIS_EBOOK) == StrippedBook(
        FIRST_MEN,
        True,
        True,
        "The First Men In The Moon",
        "H. G. Wells",
        "October 20, 2004",
        1013,
        "English",
    )


def test_2010s_produced_by_paragraph_and_continued_title():
    title = (
        "Prices of Books An Inquiry into the Changes in the Price of Books which have occurred"
        " in England at different Periods"
    )
    assert strip_gutenberg(PRODUCED_BY) == StrippedBook(
        PRICES, True, True, title, "Henry B. Wheatley", "September 22, 2012", 40815, "English"
    )


def test_2020s_the_ebook_indented_end_marker():
    assert strip_gutenberg(THE_EBOOK) == StrippedBook(
        REVOLUTION,
        True,
        True,
        "The French Revolution 1789-1795",
        "Bertha Meriton Cordery Gardiner",
        "September 19, 2023",
        71688,
        "English",
    )


def test_crlf_and_bom_are_normalised():
    stripped = strip_gutenberg("\ufeff" + THIS_EBOOK.replace("\n", "\r\n"))
    assert stripped.text == FIRST_MEN
    assert (stripped.title, stripped.ebook_number) == ("The First Men In The Moon", 1013)


def test_no_spaces_uppercase_and_extra_asterisks():
    text = (
        "The Project Gutenberg EBook of Emma, by Jane Austen\n\n"
        "*****START OF THE PROJECT GUTENBERG EBOOK EMMA*****\n\n"
        "VOLUME I\n\nEmma Woodhouse, handsome, clever, and rich.\n\n"
        "  ***END OF THE PROJECT GUTENBERG EBOOK EMMA***\n"
    )
    assert strip_gutenberg(text) == StrippedBook(
        "VOLUME I\n\nEmma Woodhouse, handsome, clever, and rich.",
        True,
        True,
        "Emma",
        "Jane Austen",
    )


def test_small_print_then_start_marker_ends_at_the_last():
    text = (
        "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN EBOOKS*Ver.02/11/02*END*\n\n"
        "*** START OF THE PROJECT GUTENBERG EBOOK, BEOWULF ***\n\n"
        "This etext was prepared by David Starner.\n\n"
        "LO, praise of the prowess of people-kings\n\n"
        "End of this Project Gutenberg Etext of Beowulf\n"
    )
    assert strip_gutenberg(text).text == "LO, praise of the prowess of people-kings"


def test_end_the_small_print_without_asterisk_between():
    text = (
        "*END THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n\n"
        "Book text.\n\nEnd of Project Gutenberg Etext of Something\n"
    )
    assert strip_gutenberg(text) == StrippedBook("Book text.", True, True)


def test_start_marker_wrapped_onto_two_lines():
    text = (
        "*** START OF THIS PROJECT GUTENBERG EBOOK THE HISTORY OF THE DECLINE AND FALL OF\n"
        "THE ROMAN EMPIRE ***\n\nCHAPTER I.\n\n*** END OF THIS PROJECT GUTENBERG EBOOK ***\n"
    )
    assert strip_gutenberg(text).text == "CHAPTER I."


def test_licence_without_end_marker_is_a_footer():
    for licence in (
        "*** START: FULL LICENSE ***",
        "THE FULL PROJECT GUTENBERG LICENSE",
        "Section 1.  General Terms of Use and Redistributing Project Gutenberg-tm",
    ):
        text = f"*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\nBook.\n\n{licence}\nterms\n"
        assert strip_gutenberg(text) == StrippedBook("Book.", True, True), licence


def test_trailing_small_print_after_the_footer_is_not_a_header():
    text = (
        "*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\nShort book.\n\n"
        "End of the Project Gutenberg EBook of X\n\n"
        "***START**THE SMALL PRINT!**FOR PUBLIC DOMAIN ETEXTS**START***\nlegal\n"
        "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n"
    )
    assert strip_gutenberg(text).text == "Short book."


def test_old_opening_ends_at_the_credit_line():
    text = (
        "The Project Gutenberg Etext of The Iliad of Homer\n"
        "#3 in our series by Homer\n\n"
        "Copyright laws are changing all over the world.\n\n"
        "This etext was prepared by Jim Tinsley.\n\n"
        "BOOK I.\n\nSing, O goddess, the anger of Achilles son of Peleus.\n\n"
        "End of the Project Gutenberg Etext of The Iliad of Homer\n"
    )
    assert strip_gutenberg(text) == StrippedBook(
        "BOOK I.\n\nSing, O goddess, the anger of Achilles son of Peleus.",
        True,
        True,
        "The Iliad of Homer",
    )


def test_no_markers_is_returned_unchanged():
    text = "\r\n  CHAPTER I\r\n\r\nIt is a truth universally acknowledged.\r\n\r\n"
    stripped = strip_gutenberg(text)
    assert stripped == StrippedBook(text, False, False)
    assert stripped.text is text


def test_only_a_header():
    text = "*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n\nCHAPTER I\n\nText.\n\n\n"
    assert strip_gutenberg(text) == StrippedBook("CHAPTER I\n\nText.", True, False)


def test_only_a_footer():
    text = "\n\nCHAPTER I\n\nText.\n\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nlicence\n"
    assert strip_gutenberg(text) == StrippedBook("CHAPTER I\n\nText.", False, True)


def test_lines_that_mention_project_gutenberg_are_kept():
    body = (
        "The Project Gutenberg of his youth was a press in Mainz.\n"
        "He read of the start of the Project Gutenberg archive.\n"
        "  Produced by the author.\n"
        "The end of the small print was never read."
    )
    text = f"*** START OF THE PROJECT GUTENBERG EBOOK X ***\n{body}\n*** END OF THE PROJECT ***\n"
    assert strip_gutenberg(text).text == body + "\n*** END OF THE PROJECT ***"
    assert strip_gutenberg(body) == StrippedBook(body, False, False)


def test_produced_by_is_only_cut_as_a_short_first_paragraph():
    long_paragraph = "Produced by the company's players, this comedy ran for years.\n" + (
        "The play goes on and on without a blank line.\n" * 100
    )
    text = f"*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n{long_paragraph}"
    assert strip_gutenberg(text).text == long_paragraph.rstrip("\n")


def test_idempotent():
    once = strip_gutenberg(THIS_EBOOK).text
    assert strip_gutenberg(once) == StrippedBook(once, False, False)
