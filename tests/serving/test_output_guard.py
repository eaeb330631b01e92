"""The output guard with the real sensitive scorer: what it masks, what it withholds, what it leaves alone."""

from __future__ import annotations

import pytest

from pipelines.core.prompt import SYSTEM_PROMPT
from serving.output_guard import WITHHELD, OutputGuard


@pytest.fixture(scope="module")
def guard() -> OutputGuard:
    return OutputGuard()


def test_personal_data_and_secrets_are_masked_and_counted(guard):
    guarded = guard.check("Write to jane.doe@acme-corp.com for access. The key is AKIAQ7XK2M9PLR4TZW3B.")
    assert "jane.doe@acme-corp.com" not in guarded.text and "AKIAQ7XK2M9PLR4TZW3B" not in guarded.text
    assert guarded.text == "Write to <EMAIL_1> for access. The key is <AWS_KEY_1>."
    assert guarded.counts == {"pii_email": 1, "secret_aws_key": 1} and guarded.masked == 2


def test_a_copy_of_the_system_prompt_is_withheld(guard):
    guarded = guard.check(f"Sure. {SYSTEM_PROMPT} VACUUM reclaims storage.")
    assert "numbered sources below" not in guarded.text and WITHHELD in guarded.text
    assert guarded.text.startswith("Sure.") and guarded.text.endswith("VACUUM reclaims storage.")
    assert guarded.counts["prompt_system_leak"] >= 1


def test_clean_answer_passes_unchanged(guard):
    text = "VACUUM reclaims storage occupied by dead tuples [1]. Cite sources in answers."
    guarded = guard.check(text)
    assert guarded.text == text and guarded.masked == 0
