"""How the problems of the data name what they found: a few of the
offending files or annotation ids, not all of them."""
from typing import Sequence

#: How many offending files or annotation ids a message lists.
SHOWN = 5


def listing(items: Sequence[object]) -> str:
    """The first few ``items``, comma-separated, with ``...`` if there are
    more."""
    shown = ', '.join(str(item) for item in items[:SHOWN])
    return shown + (', ...' if len(items) > SHOWN else '')
