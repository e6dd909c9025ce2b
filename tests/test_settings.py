"""Settings: QA_* environment variables, overrides on top, and values that cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.settings import Settings, SettingsError


def test_environment_is_parsed_by_type_and_overrides_win() -> None:
    env = {"QA_INDEX_DIR": "~/idx", "QA_SEARCH_K": "7", "QA_RECENCY_WEIGHT": "0.25",
           "QA_REQUIRE_KEY_FOR_READS": "yes", "QA_CORS_ORIGINS": "https://a.example, https://b.example",
           "QA_MODEL": ""}  # empty means unset
    settings = Settings.from_env(env, search_k=None, model="local")
    assert settings.index_dir == Path("~/idx").expanduser()
    assert (settings.search_k, settings.recency_weight, settings.require_key_for_reads) == (7, 0.25, True)
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.model == "local"  # the override; None overrides are "not given"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"QA_SEARCH_K": "five"}, "QA_SEARCH_K='five': expected a number"),
        ({"QA_REQUIRE_KEY_FOR_READS": "maybe"}, "expected true or false"),
        ({"QA_RECENCY_WEIGHT": "1.5"}, "QA_RECENCY_WEIGHT=1.5: expected a number from 0 (off) to 1"),
        ({"QA_RECENCY_HALF_LIFE_DAYS": "0"}, "expected more than 0 days"),
        ({"QA_ANSWER_RANK_PENALTY": "-0.1"}, "QA_ANSWER_RANK_PENALTY=-0.1: expected 0 (off) or more"),
        ({"QA_ANSWER_TYPE_FACTOR": "1.5"}, "QA_ANSWER_TYPE_FACTOR=1.5: expected a number from 0 to 1 (off)"),
        ({"QA_PERIOD_SLACK_DAYS": "-2"}, "QA_PERIOD_SLACK_DAYS=-2: expected -1 (off) or 0 days or more"),
        ({"QA_STORE": "cloud"}, "QA_STORE='cloud': expected embedded or scale"),
        ({"QA_STORE": "scale"}, "QA_STORE=scale needs QA_POSTGRES_DSN"),
        ({"QA_MILVUS_CONSISTENCY": "strong"}, "expected Strong, Bounded, Session or Eventually"),
    ],
)
def test_unusable_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(env)


def test_unknown_override_is_an_error() -> None:
    with pytest.raises(SettingsError, match="unknown setting 'nope'"):
        Settings.from_env({}, nope=1)


def test_enabled_models_are_the_default_plus_the_allowed_ones() -> None:
    assert Settings.from_env({}).enabled_models() == ("extractive",)
    settings = Settings.from_env({"QA_MODEL": "openai", "QA_ALLOWED_MODELS": "extractive, local,openai"})
    assert settings.enabled_models() == ("openai", "extractive", "local")


def test_literal_settings_name_the_variable_and_the_choices() -> None:
    with pytest.raises(SettingsError, match=r"QA_SUPPORT_SCORER='nli': expected lexical, judge or model"):
        Settings(support_scorer="nli")  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match=r"QA_ENCODER='tf': expected onnx or torch"):
        Settings.from_env({"QA_ENCODER": "tf"})


def test_a_request_uses_the_model_it_names_else_the_default() -> None:
    settings = Settings(model="extractive")
    assert settings.model_for(None) == "extractive" and settings.model_for("openai") == "openai"


def test_the_embedded_stack_is_the_default_and_scale_is_chosen_by_environment() -> None:
    assert Settings.from_env({}).store == "embedded"
    scale = Settings.from_env({"QA_STORE": "scale", "QA_POSTGRES_DSN": "postgresql://qa@db/qa",
                               "QA_MILVUS_URI": "http://milvus:19530", "QA_MILVUS_INDEX": "IVF_FLAT"})
    assert (scale.store, scale.milvus_uri, scale.milvus_index, scale.milvus_consistency) == (
        "scale", "http://milvus:19530", "IVF_FLAT", "Session")
