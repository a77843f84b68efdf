"""The access-pattern table in :mod:`session_service.data.keys` names every key prefix the keys module defines."""

from __future__ import annotations

import pytest

from session_service.data import keys

KEY_PARTS = sorted(
    name for name in vars(keys) if name.endswith(("_PREFIX", "_SK")) and isinstance(getattr(keys, name), str)
)


@pytest.mark.parametrize("name", KEY_PARTS)
def test_every_key_prefix_is_in_the_key_table(name: str) -> None:
    assert keys.__doc__ is not None
    assert f"``{getattr(keys, name)}" in keys.__doc__, f"{name} is missing from the key table of data/keys.py"


def test_the_key_table_covers_the_partitions_keys_are_built_for() -> None:
    assert keys.__doc__ is not None
    for partition in (keys.session_pk("<session_id>"), keys.user_pk("<user_id>"), "STATS", "ERASURE#<user_id>"):
        assert f"``{partition}``" in keys.__doc__
