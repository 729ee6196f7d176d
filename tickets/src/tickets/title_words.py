"""The words of a title as a search matches them (see `tickets.search`)."""

import re
import unicodedata

_WORD = re.compile(r"\w+")


def words_of(text: str) -> list[str]:
    """The words of `text`: case and accents ignored (`Café` is `cafe`), each word once, in
    order."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return list(dict.fromkeys(_WORD.findall(plain)))
