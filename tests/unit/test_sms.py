"""SMS segments as carriers count them: GSM-7 160/153, UCS-2 70/67, pairs never split."""

from __future__ import annotations

import pytest

from outreach.campaigns.render import sms_segments
from outreach.campaigns.sms import normalize_typography


@pytest.mark.parametrize(("text", "encoding", "segments", "units"), [
    ("", "GSM-7", 0, 0),
    ("a" * 160, "GSM-7", 1, 160),
    ("a" * 161, "GSM-7", 2, 161),
    ("a" * 306, "GSM-7", 2, 306),
    ("a" * 307, "GSM-7", 3, 307),
    ("€" * 80, "GSM-7", 1, 160),  # extension characters cost 2 septets
    ("€" * 81, "GSM-7", 2, 162),
    ("é à ñ Ø £ ¥ §", "GSM-7", 1, 13),  # these are in the GSM-7 basic set
    ("ç", "UCS-2", 1, 1),  # only capital Ç is GSM-7
    ("a" * 70 + "’", "UCS-2", 2, 71),
    ("a" * 69 + "’", "UCS-2", 1, 70),
    ("😀" * 35, "UCS-2", 1, 70),  # an emoji is 2 UTF-16 code units
    ("😀" * 36, "UCS-2", 2, 72),
    ("Call now ✊", "UCS-2", 1, 10),
])
def test_encoding_segments_and_units(text, encoding, segments, units):
    result = sms_segments(text)
    assert (result.encoding, result.segments, result.units) == (encoding, segments, units)


def test_an_escape_pair_is_never_split_across_segments():
    # 152 septets then a 2-septet €: it cannot straddle the 153 boundary, so it moves whole.
    text = "a" * 152 + "€" + "a" * 10
    assert sms_segments(text).units == 164
    assert sms_segments(text).segments == 2
    assert sms_segments("a" * 152 + "€" + "a" * 152).segments == 3  # 152 | 2+151 | 1


def test_a_surrogate_pair_is_never_split():
    text = "a" * 66 + "😀" + "a" * 67
    # 66 units, then the 2-unit emoji does not fit in 67: segment 2 starts with it.
    assert sms_segments(text).segments == 3
    assert sms_segments("a" * 65 + "😀").segments == 1  # 67 units: one segment still


def test_the_characters_that_forced_ucs2_are_named():
    assert sms_segments("Don’t stop — call ✊").non_gsm_characters == ("’", "—", "✊")


def test_typography_is_normalized_to_gsm7():
    text = normalize_typography("Don’t wait — call your DA “today”…")
    assert text == "Don't wait - call your DA \"today\"..."
    assert sms_segments(text).encoding == "GSM-7"
