"""Built-in prompts per task category, sized to a target input-token count.

Sizes use the client's estimate (4 characters a token, summed over every
message), so a prompt built for N tokens is estimated at N tokens by
:func:`loadkit.client.chat.estimate_tokens`. A target below a template's own
length gives the bare template. Padding text has no digits (so the first
``a op b`` in a math prompt is the question) and no ``def``.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["SYSTEM_PROMPT", "FACTS", "build_prompt", "CHARS_PER_TOKEN"]

CHARS_PER_TOKEN = 4
SYSTEM_PROMPT = "You are a helpful assistant."

# Question, expected answer (checked case-insensitively as a substring).
FACTS: tuple[tuple[str, str], ...] = (
    ("What is the capital of France?", "Paris"),
    ("What is the capital of Japan?", "Tokyo"),
    ("What is the capital of Canada?", "Ottawa"),
    ("What is the capital of Australia?", "Canberra"),
    ("Which planet is known as the Red Planet?", "Mars"),
    ("What is the largest planet in the Solar System?", "Jupiter"),
    ("What is the chemical symbol for gold?", "Au"),
    ("What gas do plants absorb from the air for photosynthesis?", "carbon dioxide"),
    ("Who wrote the play Romeo and Juliet?", "Shakespeare"),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci"),
    ("What is the longest river in South America?", "Amazon"),
    ("Which element has the chemical symbol O?", "oxygen"),
    ("What is the hardest natural substance?", "diamond"),
    ("In which country are the pyramids of Giza?", "Egypt"),
    ("What is the smallest prime number?", "2"),
    ("Which ocean is the largest?", "Pacific"),
    ("Who developed the theory of general relativity?", "Einstein"),
    ("What is the freezing point of water in degrees Celsius?", "0"),
    ("Which language has the most native speakers?", "Mandarin"),
    ("What is the currency of the United Kingdom?", "pound"),
)

_CODE_TASKS = (
    "returns the sum of the even numbers in a list of integers",
    "reverses the words of a sentence",
    "returns True when a string is a palindrome, ignoring case and spaces",
    "returns the n-th Fibonacci number",
    "merges two sorted lists into one sorted list",
    "counts how often each word occurs in a text and returns a dict",
    "removes duplicates from a list while keeping the first occurrence order",
    "returns the largest product of two numbers in a list",
)
_CREATIVE_TOPICS = (
    "a lighthouse keeper who finds a message in a bottle",
    "a city where it never stops raining",
    "a robot learning to paint",
    "the last day of summer in a small village",
    "a friendship between a fox and a crow",
    "a train that only runs at midnight",
)
_SENTENCES = (
    "The committee met early in the morning to review the quarterly plans.",
    "Several teams reported steady progress on their long running projects.",
    "Customers asked for clearer documentation and faster support replies.",
    "The new warehouse opened ahead of schedule and under budget.",
    "Engineers replaced the old billing system after a careful migration.",
    "Weather delays slowed deliveries along the northern routes.",
    "The board approved a modest increase in the research budget.",
    "Staff training focused on security habits and incident response.",
    "A pilot program tested shorter meetings and fewer status reports.",
    "Feedback from the field suggested simpler onboarding for new users.",
    "The marketing group prepared a campaign for the spring launch.",
    "Suppliers agreed to share forecasts to reduce shortages.",
    "An internal audit found the records complete and well kept.",
    "The support desk cut its backlog by half over the month.",
    "Planning for the next year starts with a review of open risks.",
)


def _filler(n_chars: int, rng: random.Random) -> str:
    if n_chars <= 0:
        return ""
    parts: list[str] = []
    size = 0
    while size < n_chars:
        s = _SENTENCES[rng.randrange(len(_SENTENCES))]
        parts.append(s)
        size += len(s) + 1
    return " ".join(parts)[:n_chars]


def _math_question(rng: random.Random) -> tuple[str, str]:
    op = rng.choice("+-*/")
    if op == "/":
        b = rng.randint(2, 40)
        q = rng.randint(2, 400)
        a, result = b * q, q
    else:
        a, b = rng.randint(2, 999), rng.randint(2, 999)
        result = a + b if op == "+" else a - b if op == "-" else a * b
    return f"What is {a} {op} {b}?", str(result)


def _parts(category: str, rng: random.Random) -> tuple[str, str, str, str | None]:
    """(text before the padding, padding label, text after the padding, expected)."""
    if category == "code":
        task = rng.choice(_CODE_TASKS)
        return (f"Write a Python function named solution that {task}. Reply with the code only.", "\n\nBackground: ",
                "", "solution")
    if category == "summarization":
        return ("Summarize the following text in two sentences.", "\n\n", "", None)
    if category == "factual":
        question, answer = rng.choice(FACTS)
        return ("", "Background: ", f"\n\nAnswer briefly: {question}", answer)
    if category == "creative":
        return (f"Write a short story about {rng.choice(_CREATIVE_TOPICS)}.", "\n\nStyle notes: ", "", None)
    if category == "math":
        question, answer = _math_question(rng)
        return (f"{question} Reply with the number.", "\n\nNotes: ", "", answer)
    return ("Say something helpful.", "\n\n", "", None)


def build_prompt(category: str, target_tokens: int, rng: random.Random) -> tuple[list[dict[str, Any]], str | None]:
    """Messages for ``category`` whose estimated size is ``target_tokens`` (or the bare template when larger), and the expected answer (or None)."""
    head, label, tail, expected = _parts(category, rng)
    bare = head + tail
    budget = target_tokens * CHARS_PER_TOKEN - len(SYSTEM_PROMPT) - len(bare)
    if budget > len(label) + 8:
        text = head + label + _filler(budget - len(label), rng) + tail
    else:
        text = bare
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]
    return messages, expected
