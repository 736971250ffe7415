"""Reaction keys arrive with variation selectors and skin tones."""

from __future__ import annotations

import pytest

from bot.reactions import CLAIM_KEYS, normalize_key


@pytest.mark.parametrize("key", ["✋", "✋️", "✋🏻", "✋🏽", "✋🏿", "👍", "👍️", "👍🏼", "\u270b\ufe0e", " 👍 "])
def test_claim_keys_in_any_form(key):
    assert normalize_key(key) in CLAIM_KEYS


@pytest.mark.parametrize("key", ["👎", "🎉", "✌️", "+1", ""])
def test_other_keys_are_not_claims(key):
    assert normalize_key(key) not in CLAIM_KEYS
