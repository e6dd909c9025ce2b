"""The small corpus and queries of the store contract tests (tests/test_stores.py, tests/test_migrate.py)."""

from __future__ import annotations

from qa.types import Article

CORPUS = [
    Article(id="volcano", title="Volcano erupts in Iceland",
            text="A volcano on the Reykjanes peninsula erupted overnight, sending lava towards the town of "
                 "Grindavik. Residents were evacuated and flights continued as normal.",
            published="2024-01-14", source="Reuters"),
    Article(id="rates", title="Central bank holds interest rates",
            text="The central bank kept its benchmark interest rate unchanged at 5.25 percent, saying "
                 "inflation was falling but remained above its two percent target.",
            published="2024-02-01", source="BBC"),
    Article(id="chess", title="Teenager wins chess championship",
            text="A sixteen-year-old grandmaster won the national chess championship after a tense final "
                 "game that lasted more than six hours.",
            published="2024-03-10", source="Reuters"),
    Article(id="rates-old", title="Central bank raises interest rates",
            text="The central bank raised its benchmark interest rate to 5.25 percent to fight inflation, "
                 "the highest level in fifteen years.",
            published="2023-08-03", source="BBC"),
    Article(id="undated", title="Museum opens dinosaur hall",
            text="The natural history museum opened a new hall of dinosaur skeletons, including a complete "
                 "tyrannosaurus found in Montana.", published=None, source="AP"),
]
QUERIES = ["volcano eruption lava", "interest rate kept unchanged", "chess grandmaster final",
           "dinosaur skeleton museum"]
