from __future__ import annotations

import argparse

import pytest

from transforms.booleans import as_bool


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), (None, False), ("True", True), (" yes ", True), ("1", True), ("on", True),
    ("False", False), ("", False), ("None", False), ("0", False), ("off", False), (1, True), (0, False),
])
def test_yes_and_no_in_every_spelling_a_param_or_template_gives(value: object, expected: bool) -> None:
    assert as_bool(value) is expected


@pytest.mark.parametrize("value", ["ture", "maybe", "2", "dry"])
def test_anything_else_is_an_error_not_a_quiet_no(value: str) -> None:
    with pytest.raises(ValueError, match="expected true or false"):
        as_bool(value)


def test_a_job_argument_reads_the_same_way() -> None:
    p = argparse.ArgumentParser(exit_on_error=False)
    p.add_argument("--dry-run", nargs="?", const=True, default=False, type=as_bool)
    assert p.parse_args(["--dry-run"]).dry_run is True and p.parse_args(["--dry-run", "false"]).dry_run is False
    with pytest.raises(argparse.ArgumentError):
        p.parse_args(["--dry-run", "maybe"])
