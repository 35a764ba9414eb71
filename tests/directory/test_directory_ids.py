"""Resource ids: a prefix and 15 base-62 characters, drawn uniformly, many at once as well as one by one."""

from __future__ import annotations

import re
import string
from collections import Counter

from services.directory import ids


def test_ids_have_the_prefix_and_fifteen_base62_characters() -> None:
    drawn = [ids.new_id(ids.SEGMENT_PREFIX), *ids.new_ids(ids.CONTACT_PREFIX, 1000)]
    assert re.fullmatch(r"SEG_[0-9A-Za-z]{15}", drawn[0])
    assert all(re.fullmatch(r"CID_[0-9A-Za-z]{15}", contact_id) for contact_id in drawn[1:])
    assert len(set(drawn)) == len(drawn)
    assert ids.new_ids(ids.CONTACT_PREFIX, 0) == []


def test_every_character_is_about_equally_likely() -> None:
    counts = Counter(char for contact_id in ids.new_ids("", 20_000) for char in contact_id)
    assert set(counts) == set(string.digits + string.ascii_letters)
    expected = 20_000 * 15 / 62  # ~4,839 each, standard deviation ~69: 6 of them either side is never reached by chance
    assert all(abs(count - expected) < 6 * 69 for count in counts.values()), counts
