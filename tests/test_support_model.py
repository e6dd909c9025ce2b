"""The shipped support model (qa/models/support-minilm-int8) and the scorer built on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.settings import PROJECT_ROOT, Settings
from qa.support import UNKNOWN_NAME_FACTOR, ModelSupportScorer, claim_names, make_scorer, unknown_name_factor
from qa.support_model import MAX_CLAIM_TOKENS, MAX_LENGTH, SupportModel, encode_pair

SEED = (PROJECT_ROOT / "seeds" / "000_eaa377af9f908790.md").read_text(encoding="utf-8").split("---", 2)[2]
BUDGET = ("China will increase its defense spending by 7.2 percent this year, maintaining a steady growth rate "
          "as Beijing faces sluggish economic expansion amid growing geopolitical challenges from Taiwan to "
          "Ukraine.")
MEDALS = ("Hosts France came second and China third. The Games closed on Sunday. "
          "The medal table was topped by Japan, with 27 golds.")


@pytest.fixture(scope="module")
def scorer(support_model: SupportModel) -> ModelSupportScorer:
    return ModelSupportScorer(lambda: support_model)


def test_the_model_ships_small_with_its_tokenizer_and_card() -> None:
    folder = PROJECT_ROOT / "qa" / "models" / "support-minilm-int8"
    assert (folder / "model.onnx").stat().st_size < 30_000_000
    assert (folder / "tokenizer.json").exists()
    card = (folder / "README.md").read_text()
    assert "all-MiniLM-L6-v2" in card and "CC BY-SA 4.0" in card and "train/train_support_model.py" in card


def test_a_pair_is_claim_then_evidence_cut_to_fit(support_model: SupportModel) -> None:
    ids, types = encode_pair(support_model.tokenizer, "Japan won.", "The table was topped by Japan.")
    assert support_model.tokenizer.decode(ids, skip_special_tokens=False) == (
        "[CLS] japan won. [SEP] the table was topped by japan. [SEP]")
    assert types == [0] * 5 + [1] * 8
    ids, types = encode_pair(support_model.tokenizer, "word " * 200, "evidence " * 400)
    assert len(ids) == MAX_LENGTH and types.count(0) == MAX_CLAIM_TOKENS + 2


def test_a_paraphrase_is_supported_and_a_wrong_fact_is_not(scorer: ModelSupportScorer) -> None:
    cutoff = Settings(support_scorer="model").support_cutoff
    right, wrong_number, wrong_name = (scorer.scores(claim, [BUDGET])[0] for claim in (
        "Beijing plans to raise its military budget 7.2% this year.",
        "Beijing plans to raise its military budget 9% this year.",
        "Tokyo plans to raise its military budget 7.2% this year.",
    ))
    assert right >= cutoff > max(wrong_number, wrong_name)


def test_the_lexical_scorers_miss_is_the_models_hit(scorer: ModelSupportScorer) -> None:
    # the LLM answer the lexical check dropped (issue 12): a paraphrase sharing almost no words
    score, (start, end) = scorer.best_support("The country at the top of the medal table was Japan [1].", MEDALS)
    assert MEDALS[start:end] == "The medal table was topped by Japan, with 27 golds."
    assert score >= Settings(support_scorer="model").support_cutoff
    wrong, _ = scorer.best_support("The medal table was topped by Korea [1].", MEDALS)
    assert wrong < Settings(support_scorer="model").support_cutoff
    # Limitation: names, not roles. "...was China" passes on "Hosts France came second and China
    # third", as it does with the lexical scorer; the model alone does not learn roles either.


ROYAL = ("The christening was a close family gathering. But the queen and her husband Prince Philip were not "
         "there. Palace officials said the Duke of Edinburgh, 97, has largely retired from public life. The queen "
         "was to meet President Trump at Windsor Castle later in the week.")


def test_a_name_the_passage_never_mentions_is_not_supported(scorer: ModelSupportScorer) -> None:
    # As the local LLM answered a RealTime QA dev question: the question's "according to The Daily
    # Telegraph" and "next month" put on an older passage, kept at 0.67 (names half found)
    cutoff = Settings(support_scorer="model").support_cutoff
    padded, _ = scorer.best_support("Prince Philip is expected to retire from public life next month, according "
                                    "to a report in The Daily Telegraph [1].", ROYAL)
    right, _ = scorer.best_support("Prince Philip has largely retired from public life [1].", ROYAL)
    assert right >= cutoff > padded
    # a title, or another name of the same country, is not a name the passage lacks
    assert unknown_name_factor(claim_names("President Biden spoke in Britain.", "x"),
                               "Biden spoke in the UK on Monday.") == 1.0
    assert unknown_name_factor(claim_names("Kamala Harris spoke.", "x"), "Biden spoke.") == UNKNOWN_NAME_FACTOR


def test_best_support_quotes_the_sentence_of_a_seed_article(scorer: ModelSupportScorer) -> None:
    score, (start, end) = scorer.best_support(
        "Based on the provided articles, Beijing's growth target for 2025 is around 5% [2].", SEED)
    assert SEED[start:end].startswith("China's 2025 economic growth target of about 5 percent")
    assert score >= Settings(support_scorer="model").support_cutoff
    unsupported, _ = scorer.best_support("Taiwan's population is 23 million.", SEED)
    assert unsupported < Settings(support_scorer="model").support_cutoff


def test_a_verbatim_quote_needs_no_model_call(support_model: SupportModel, monkeypatch: pytest.MonkeyPatch) -> None:
    scorer = ModelSupportScorer(lambda: support_model)
    monkeypatch.setattr(support_model, "probabilities", lambda *a: pytest.fail("the model was called"))
    assert scorer.best_support("Xi aims to complete a full military modernization by 2035.", SEED)[0] == 1.0


def test_settings_choose_the_model_scorer_and_its_threshold(fake_embedder: object) -> None:
    settings = Settings(support_scorer="model", support_model_threshold=0.4, support_threshold=0.7)
    assert settings.support_cutoff == 0.4
    assert Settings(support_scorer="lexical", support_threshold=0.7).support_cutoff == 0.7
    scorer = make_scorer(settings, fake_embedder)  # type: ignore[arg-type]
    assert isinstance(scorer, ModelSupportScorer) and scorer._model is None  # loaded at the first check


def test_a_missing_model_is_a_clear_error_when_the_scorer_is_built(tmp_path: Path, fake_embedder: object) -> None:
    with pytest.raises(FileNotFoundError, match="train/train_support_model.py"):
        make_scorer(Settings(support_scorer="model", support_model_dir=str(tmp_path)), fake_embedder)  # type: ignore[arg-type]
