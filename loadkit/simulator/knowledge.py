"""What the simulated models know: answers to general-knowledge questions, by question text.

A real model answers "What is the capital of France?" without being told; the simulator stands in for one
(and for the gateway in front of it), so it imports nothing from the rest of loadkit and keeps its own
knowledge. It covers every question of loadkit's built-in factual prompts (loadkit.workload.prompts.FACTS;
tests/shaping/test_sim_tasks.py checks the two agree), so a run that sends no ``x-loadkit-expect`` hint is
judged as one that does.
"""

from __future__ import annotations

__all__ = ["KNOWN_ANSWERS", "known_answer"]

KNOWN_ANSWERS: dict[str, str] = {
    "What is the capital of France?": "Paris",
    "What is the capital of Japan?": "Tokyo",
    "What is the capital of Canada?": "Ottawa",
    "What is the capital of Australia?": "Canberra",
    "Which planet is known as the Red Planet?": "Mars",
    "What is the largest planet in the Solar System?": "Jupiter",
    "What is the chemical symbol for gold?": "Au",
    "What gas do plants absorb from the air for photosynthesis?": "carbon dioxide",
    "Who wrote the play Romeo and Juliet?": "Shakespeare",
    "Who painted the Mona Lisa?": "Leonardo da Vinci",
    "What is the longest river in South America?": "Amazon",
    "Which element has the chemical symbol O?": "oxygen",
    "What is the hardest natural substance?": "diamond",
    "In which country are the pyramids of Giza?": "Egypt",
    "What is the smallest prime number?": "2",
    "Which ocean is the largest?": "Pacific",
    "Who developed the theory of general relativity?": "Einstein",
    "What is the freezing point of water in degrees Celsius?": "0",
    "Which language has the most native speakers?": "Mandarin",
    "What is the currency of the United Kingdom?": "pound",
}


def known_answer(source: str) -> str | None:
    """The answer of the known question asked last in ``source`` (None when it asks none)."""
    best: tuple[int, str] | None = None
    for question, answer in KNOWN_ANSWERS.items():
        at = source.rfind(question)
        if at >= 0 and (best is None or at > best[0]):
            best = (at, answer)
    return best[1] if best else None
