"""Rule-made training pairs for the verifier: near-identical questions that differ in meaning,
and reworded questions that do not.

Used by scripts/train_verifier.py. Every rule takes a question and a random generator and
returns the changed question, or None when the rule does not apply to it. The rules are
deliberately blunt; they teach the verifier which small edits matter (a negation, a swapped
role, another number, unit, entity or antonym) and which do not (a question frame,
contractions, synonyms, the order of a symmetric "A and B", letter case, a typo).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

__all__ = ["NEGATIVE_RULES", "POSITIVE_RULES", "make_pairs"]

Rule = Callable[[str, random.Random], str | None]

ANTONYMS = """
enable disable, increase decrease, best worst, cheap expensive, start stop, install uninstall,
buy sell, upload download, before after, minimum maximum, min max, hot cold, gain lose,
advantages disadvantages, pros cons, first last, import export, encrypt decrypt, open close,
add remove, top bottom, rich poor, legal illegal, safe dangerous, above below,
more less, win lose, love hate, male female, men women, boy girl, boys girls, morning evening,
north south, east west, boyfriend girlfriend, husband wife, he she, him her, his her,
father mother, brother sister, son daughter, king queen, inside outside, early late,
happy sad, good bad, easy hard, fast slow,
strong weak, true false, success failure, positive negative, pass fail, accept reject,
allow block, lock unlock, connect disconnect, encode decode, compress decompress,
push pull, send receive, input output, server client, front back, read write, public private,
yesterday tomorrow, past future, summer winter, day night, arrive leave, borrow lend,
import export, highest lowest, largest smallest, biggest smallest, most least, higher lower,
better worse, earn spend, profit loss, asleep awake, wet dry, full empty, online offline,
upstairs downstairs, increase reduce, raise lower, hire fire, ascending descending,
internal external, visible hidden, start end, begin end, entry exit, deposit withdraw,
lend borrow, teacher student, employer employee, landlord tenant, buyer seller, parent child,
sum product, rise fall, cheapest costliest, cheaper costlier, healthy unhealthy,
possible impossible, legal unlawful, vegetarian non-vegetarian, debit credit, asc desc
"""

SYNONYMS = """
buy purchase, start begin, big large, quick fast, quickly fast, fix repair, movie film,
movies films, kids children, photo picture, photos pictures, shop store, choose pick,
smart intelligent, rich wealthy, use utilize, help assist, show display,
mistakes errors, job occupation, answer reply, maybe perhaps, speak talk,
easiest simplest, cost price, car automobile, tips advice,
improve enhance, learn study, need require, try attempt, sick ill, hard difficult
"""

ENTITIES = """
Python|Java|JavaScript|C++|Ruby|Golang|Rust|PHP|Swift|Kotlin|C#|Scala|Perl|MATLAB|TypeScript
India|China|USA|UK|Canada|Australia|Germany|France|Japan|Pakistan|Russia|Brazil|Italy|Spain|Mexico|Singapore|Nepal|Israel|Iran|Korea
London|Paris|New York|Delhi|Mumbai|Bangalore|Tokyo|Berlin|Sydney|Toronto|Chicago|Boston|Seattle|Hyderabad|Chennai|Pune|Dubai|Kolkata
Google|Apple|Microsoft|Amazon|Facebook|Samsung|Tesla|Netflix|IBM|Intel|Oracle|Uber|Quora|Twitter|Infosys|TCS|Wipro
Windows|Linux|Mac|Android|iOS|Ubuntu
MySQL|PostgreSQL|MongoDB|Redis|SQLite|Cassandra
Trump|Clinton|Obama|Modi|Putin|Hillary|Kejriwal|Gandhi|Nehru
physics|chemistry|biology|mathematics|economics|history|geography|psychology|philosophy
English|Spanish|French|German|Hindi|Chinese|Japanese|Arabic|Tamil|Telugu
chicken|beef|pork|fish|rice|pasta|pizza|eggs|bread|coffee|tea|milk|beer|wine
cat|dog|horse|cow|snake|bird|rabbit|lion|tiger
January|February|March|April|June|July|August|September|October|November|December
Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday
football|cricket|basketball|tennis|baseball|hockey|golf|chess
guitar|piano|violin|drums|flute
GRE|GMAT|SAT|IELTS|TOEFL|JEE|CAT|GATE|UPSC|NEET
MBA|MS|PhD|BTech|MTech|BBA|MBBS
iPhone|iPad|Kindle|PS4|Xbox
Bitcoin|Ethereum|gold|silver|stocks|bonds
Mars|Venus|Jupiter|Saturn|Moon|Earth|Sun
Harvard|Stanford|MIT|Oxford|Cambridge|IIT|Yale|Princeton
"""  # noqa: E501

UNITS = """
kg|pounds|grams, km|miles|meters, celsius|fahrenheit, minutes|hours|seconds|days|weeks|months|years,
MB|GB|TB|KB, dollars|euros|rupees|pounds, liters|gallons, inches|centimeters|feet|meters,
Rs|USD|INR|EUR, mph|kmph, calories|grams, percent|times
"""

NUMBER_WORDS = "two three four five six seven eight nine ten eleven twelve".split()  # noqa: SIM905
ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth".split()  # noqa: SIM905

AUXILIARIES = {
    "is": "isn't",
    "are": "aren't",
    "was": "wasn't",
    "were": "weren't",
    "do": "don't",
    "does": "doesn't",
    "did": "didn't",
    "can": "can't",
    "could": "couldn't",
    "should": "shouldn't",
    "would": "wouldn't",
    "will": "won't",
    "has": "hasn't",
    "have": "haven't",
    "must": "mustn't",
}
NEGATED = {negated: plain for plain, negated in AUXILIARIES.items()} | {
    "cannot": "can",
    "can not": "can",
    "do not": "do",
    "does not": "does",
    "is not": "is",
    "are not": "are",
    "did not": "did",
    "should not": "should",
    "will not": "will",
}

CONTRACTIONS = {
    "what is": "what's",
    "it is": "it's",
    "do not": "don't",
    "does not": "doesn't",
    "cannot": "can't",
    "is not": "isn't",
    "i am": "i'm",
    "that is": "that's",
    "there is": "there's",
    "who is": "who's",
    "how is": "how's",
    "i would": "i'd",
    "you are": "you're",
    "we are": "we're",
    "they are": "they're",
}

FRAMES = [
    "how do i",
    "how can i",
    "how should i",
    "what is the best way to",
    "what's the best way to",
    "what is the way to",
    "how to",
    "what are the steps to",
    "in what way can i",
]

PREFIXES = [
    "Quick question: ",
    "Can you tell me ",
    "Please tell me: ",
    "I want to know ",
    "I'd like to know: ",
    "Hey, ",
    "Question: ",
    "Tell me, ",
]
SUFFIXES = [" Thanks!", " please", " Any ideas?", " Thank you.", " (asking for a friend)"]

SYMMETRIC = re.compile(r"\b(between )?([\w+#.-]+) (and|or|vs\.?|versus|&) ([\w+#.-]+)\b")
DIRECTED = re.compile(
    r"\b(from|convert|migrate|switch|move|translate|port|transfer|shift|change)\b"
    r"(.*?)\b([\w+#.]+) (to|into) ([\w+#.]+)\b",
    re.IGNORECASE,
)
COMPARED = re.compile(
    r"\b([\w+#.]+) (better|worse|faster|slower|bigger|smaller|more \w+|less \w+|cheaper|safer"
    r"|stronger|harder|easier) than ([\w+#.]+)\b"
)
PROPER = re.compile(r"\b[A-Z][a-zA-Z+#]+\b")
NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)(?![\w.]*\d)")
STOP_CAPITALS = {
    "I",
    "What",
    "How",
    "Why",
    "When",
    "Where",
    "Who",
    "Which",
    "Is",
    "Are",
    "Can",
    "Do",
    "Does",
    "Should",
    "Will",
    "Would",
    "If",
    "The",
    "A",
    "In",
    "My",
    "Could",
    "Did",
    "Has",
    "Have",
    "Was",
    "Were",
    "Am",
    "Shall",
    "Whom",
    "Whose",
    "As",
    "On",
    "For",
    "To",
    "After",
    "Before",
    "Why's",
    "What's",
    "It",
    "There",
    "Quora",
}


def _pairs(table: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in table.replace("\n", " ").split(","):
        words = item.split()
        if len(words) == 2:
            a, b = words
            mapping.setdefault(a, b)
            mapping.setdefault(b, a)
    return mapping


def _groups(table: str) -> list[list[str]]:
    lines = [line.strip() for line in re.split(r"[,\n]", table)]
    return [[word.strip() for word in line.split("|")] for line in lines if "|" in line]


ANTONYM = _pairs(ANTONYMS)
SYNONYM = _pairs(SYNONYMS)
ENTITY_OF = {name: group for group in _groups(ENTITIES) for name in group}
UNIT_OF = {name: group for group in _groups(UNITS) for name in group}


def _match_case(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _replace_one(
    text: str,
    pattern: re.Pattern[str],
    choose: Callable[[re.Match[str]], str | None],
    rng: random.Random,
) -> str | None:
    matches = [m for m in pattern.finditer(text) if choose(m) is not None]
    if not matches:
        return None
    m = rng.choice(matches)
    replacement = choose(m)
    assert replacement is not None
    return text[: m.start()] + replacement + text[m.end() :]


def _word_swap(table: dict[str, str]) -> Rule:
    pattern = re.compile(r"\b[\w'-]+\b")

    def rule(text: str, rng: random.Random) -> str | None:
        def choose(m: re.Match[str]) -> str | None:
            other = table.get(m.group().lower())
            return None if other is None else _match_case(other, m.group())

        return _replace_one(text, pattern, choose, rng)

    return rule


# Rules that change the meaning.


def negate(text: str, rng: random.Random) -> str | None:
    """Remove a negation, or add one where it turns the question around."""
    for negative, plain in sorted(NEGATED.items(), key=lambda kv: -len(kv[0])):
        found = re.search(rf"\b{re.escape(negative)}\b", text, re.IGNORECASE)
        if found:
            return text[: found.start()] + _match_case(plain, found.group()) + text[found.end() :]
    for plain, opposite in (("without", "with"), ("never", "always"), ("with", "without")):
        found = re.search(rf"\b{plain}\b", text, re.IGNORECASE)
        if found:
            return (
                text[: found.start()] + _match_case(opposite, found.group()) + text[found.end() :]
            )
    auxiliaries = "|".join(AUXILIARIES)
    found = re.match(rf"\s*(?:why|when|how come)\s+({auxiliaries})\b", text, re.IGNORECASE)
    if found:
        word = found.group(1)
        return (
            text[: found.start(1)]
            + _match_case(AUXILIARIES[word.lower()], word)
            + text[found.end(1) :]
        )
    found = re.search(r"\b(how|ways?|reasons?|best time) to (?=\w)", text, re.IGNORECASE)
    if found:
        return text[: found.end()] + "not " + text[found.end() :]
    return None


def swap_roles(text: str, rng: random.Random) -> str | None:
    """Swap the two sides of a directed relation: from A to B, A better than B, A ... B."""
    found = DIRECTED.search(text)
    if found and found.group(3).lower() != found.group(5).lower():
        a, b = found.group(3), found.group(5)
        return text[: found.start(3)] + b + " " + found.group(4) + " " + a + text[found.end(5) :]
    found = COMPARED.search(text)
    if found and found.group(1).lower() != found.group(3).lower():
        return (
            text[: found.start()]
            + f"{found.group(3)} {found.group(2)} than {found.group(1)}"
            + text[found.end() :]
        )
    names = [m for m in PROPER.finditer(text) if m.group() not in STOP_CAPITALS]
    names = [m for m in names if not _next_to_capital(text, m)]
    if len(names) < 2:
        return None
    first, second = names[0], names[1]
    between = text[first.end() : second.start()]
    if first.group() == second.group() or not re.search(r"\b[a-z]{2,}\b", between):
        return None
    if re.search(r"\b(and|or|vs|versus|between|with)\b|&|,|/", between + text[: first.start()]):
        return None
    return (
        text[: first.start()]
        + second.group()
        + text[first.end() : second.start()]
        + first.group()
        + text[second.end() :]
    )


def _next_to_capital(text: str, m: re.Match[str]) -> bool:
    before = text[: m.start()].split()
    after = text[m.end() :].split()
    return bool(before and before[-1][:1].isupper() and before[-1] not in STOP_CAPITALS) or bool(
        after and after[0][:1].isupper()
    )


def change_number(text: str, rng: random.Random) -> str | None:
    """Another number, version, year or count."""

    def choose(m: re.Match[str]) -> str:
        digits = m.group()
        head, dot, tail = digits.rpartition(".")
        if dot and tail.isdigit():
            return (
                f"{head}.{int(tail) + rng.choice([1, 2, -1]) if int(tail) > 0 else int(tail) + 1}"
            )
        value = int(digits.replace(",", "")) if digits.replace(",", "").isdigit() else 0
        if 1900 <= value <= 2100:
            return str(value + rng.choice([-3, -2, -1, 1, 2, 3]))
        return str(
            rng.choice(
                [value + 1, value + 2, value * 2 + 1, max(0, value - 1) or value + 3, value * 10]
            )
        )

    changed = _replace_one(text, NUMBER, choose, rng)
    if changed is not None:
        return changed
    words = re.compile(r"\b(" + "|".join(NUMBER_WORDS + ORDINALS) + r")\b", re.IGNORECASE)

    def choose_word(m: re.Match[str]) -> str:
        word = m.group().lower()
        pool = ORDINALS if word in ORDINALS else NUMBER_WORDS
        return _match_case(rng.choice([w for w in pool if w != word]), m.group())

    return _replace_one(text, words, choose_word, rng)


def change_unit(text: str, rng: random.Random) -> str | None:
    """Another unit of the same kind (kg for pounds, hours for minutes)."""
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, UNIT_OF)) + r")\b")

    def choose(m: re.Match[str]) -> str:
        return rng.choice([u for u in UNIT_OF[m.group()] if u != m.group()])

    return _replace_one(text, pattern, choose, rng)


def change_entity(text: str, rng: random.Random) -> str | None:
    """Another member of the same kind: Python for Java, India for China, June for July."""
    pattern = re.compile(
        r"(?<![\w+#])("
        + "|".join(sorted(map(re.escape, ENTITY_OF), key=len, reverse=True))
        + r")(?![\w+#])"
    )

    def choose(m: re.Match[str]) -> str:
        return rng.choice([e for e in ENTITY_OF[m.group()] if e != m.group()])

    return _replace_one(text, pattern, choose, rng)


def change_question_word(text: str, rng: random.Random) -> str | None:
    """Why for how, when for where: another question about the same thing."""
    swaps = {"why": "how", "how": "why", "when": "where", "where": "when", "who": "where"}
    found = re.match(r"\s*(why|how|when|where|who)\b(?! to\b| much\b| many\b)", text, re.IGNORECASE)
    if not found:
        return None
    word = found.group(1)
    return text[: found.start(1)] + _match_case(swaps[word.lower()], word) + text[found.end(1) :]


antonym = _word_swap(ANTONYM)
antonym.__doc__ = "An antonym: enable for disable, buy for sell, before for after."

NEGATIVE_RULES: dict[str, Rule] = {
    "negation": negate,
    "roles": swap_roles,
    "number": change_number,
    "unit": change_unit,
    "entity": change_entity,
    "antonym": antonym,
    "question word": change_question_word,
}


# Rules that keep the meaning.


def reframe(text: str, rng: random.Random) -> str | None:
    """Another way to ask how to do something."""
    lowered = text.lower()
    for frame in sorted(FRAMES, key=len, reverse=True):
        if lowered.startswith(frame + " "):
            other = rng.choice([f for f in FRAMES if f != frame])
            return _match_case(other, text) + text[len(frame) :]
    return None


def contract(text: str, rng: random.Random) -> str | None:
    """Contract or expand: what is / what's, do not / don't."""
    table = CONTRACTIONS | {short: long for long, short in CONTRACTIONS.items()}
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, table)) + r")(?![\w'])", re.IGNORECASE)
    return _replace_one(
        text, pattern, lambda m: _match_case(table[m.group().lower()], m.group()), rng
    )


def swap_symmetric(text: str, rng: random.Random) -> str | None:
    """A and B for B and A, A vs B for B vs A."""
    found = SYMMETRIC.search(text)
    if not found or found.group(2).lower() == found.group(4).lower():
        return None
    capitals = found.group(2)[:1].isupper() and found.group(4)[:1].isupper()
    if not (found.group(1) or capitals or found.group(3).startswith("v")):
        return None  # "between cats and dogs" swaps; "go and see" does not
    between = found.group(1) or ""
    swapped = f"{between}{found.group(4)} {found.group(3)} {found.group(2)}"
    return text[: found.start()] + swapped + text[found.end() :]


def number_form(text: str, rng: random.Random) -> str | None:
    """2 for two, 10% for 10 percent, km for kilometers."""
    forms = {str(i + 2): word for i, word in enumerate(NUMBER_WORDS)}
    forms |= {word: str(i + 2) for i, word in enumerate(NUMBER_WORDS)}
    forms |= {"%": " percent", "km": "kilometers", "kg": "kilograms", "hrs": "hours", "&": "and"}
    forms |= {"kilometers": "km", "kilograms": "kg", "percent": "%", "USA": "US", "US": "USA"}
    pattern = re.compile(
        r"(?<![\w.])(" + "|".join(map(re.escape, forms)) + r")(?![\w.]*\d)(?!\w)", re.IGNORECASE
    )

    def choose(m: re.Match[str]) -> str | None:
        key = m.group() if m.group() in forms else m.group().lower()
        return forms.get(key)

    return _replace_one(text, pattern, choose, rng)


def surface(text: str, rng: random.Random) -> str | None:
    """Letter case, punctuation, an article, a typo, a polite prefix or suffix."""
    choice = rng.randrange(6)
    if choice == 0:
        return text.lower()
    if choice == 1:
        return text.rstrip("?").rstrip() if text.endswith("?") else text + "?"
    if choice == 2:
        dropped = re.sub(r"\b(the|a|an) ", "", text, count=1, flags=re.IGNORECASE)
        return dropped if dropped != text else None
    if choice == 3:
        words = [i for i, w in enumerate(text.split(" ")) if len(w) >= 5 and w.isalpha()]
        if not words:
            return None
        parts = text.split(" ")
        i = rng.choice(words)
        j = rng.randrange(1, len(parts[i]) - 2)
        w = parts[i]
        parts[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
        return " ".join(parts)
    if choice == 4:
        prefix = rng.choice(PREFIXES)
        return prefix + text[:1].lower() + text[1:] if not text[:2].isupper() else prefix + text
    return text + rng.choice(SUFFIXES)


synonym = _word_swap(SYNONYM)
synonym.__doc__ = "A synonym: buy for purchase, movie for film."

POSITIVE_RULES: dict[str, Rule] = {
    "frame": reframe,
    "contraction": contract,
    "symmetric": swap_symmetric,
    "number form": number_form,
    "surface": surface,
    "synonym": synonym,
}


NEGATIVE_WEIGHTS = {
    "negation": 2.0,
    "roles": 1.5,
    "number": 1.5,
    "unit": 0.5,
    "entity": 1.5,
    "antonym": 1.5,
    "question word": 0.7,
}
POSITIVE_WEIGHTS = {
    "frame": 1.0,
    "contraction": 1.0,
    "symmetric": 1.0,
    "number form": 0.7,
    "surface": 2.0,
    "synonym": 1.0,
}


def _apply(
    rules: dict[str, Rule], weights: dict[str, float], texts: Sequence[str], rng: random.Random
) -> tuple[int, str, str] | None:
    """Pick a rule by weight, then a text it changes: (index of the text, rule, new text)."""
    name = rng.choices(list(weights), weights=list(weights.values()))[0]
    for _ in range(60):
        index = rng.randrange(len(texts))
        text = texts[index]
        changed = rules[name](text, rng)
        if changed and changed.strip() and changed.strip().lower() != text.strip().lower():
            return index, name, changed
    return None


def _reword(text: str, rng: random.Random) -> str:
    """A meaning-keeping change of a single text, or the text as it was."""
    return (_apply(POSITIVE_RULES, POSITIVE_WEIGHTS, [text], rng) or (0, "", text))[2]


def make_pairs(
    pairs: Sequence[tuple[str, str, int]], count: int, rng: random.Random
) -> list[tuple[str, str, int, str]]:
    """``count`` rule-made pairs (a, b, label, rule), half of each label.

    A hard negative changes one question of a duplicate pair by a meaning-changing rule and
    pairs it with the other question or with itself; sometimes a meaning-keeping rule follows,
    so that rewording cannot hide the change. A positive changes a question by one or two
    meaning-keeping rules.
    """
    duplicates = [p for p in pairs if p[2] == 1]
    sides = [p[i] for p in duplicates for i in (0, 1)]
    questions = [q for p in pairs for q in p[:2]]
    made: list[tuple[str, str, int, str]] = []
    while len(made) < count:
        if len(made) % 2 == 0:
            found = _apply(NEGATIVE_RULES, NEGATIVE_WEIGHTS, sides, rng)
            if found is None:
                continue
            index, rule, text = found
            pair = duplicates[index // 2]
            other = pair[1 - index % 2] if rng.random() < 0.5 else pair[index % 2]
            if rng.random() < 0.3:
                text = _reword(text, rng)
            made.append((other, text, 0, rule))
        else:
            found = _apply(POSITIVE_RULES, POSITIVE_WEIGHTS, questions, rng)
            if found is None:
                continue
            index, rule, text = found
            if rng.random() < 0.3:
                text = _reword(text, rng)
            made.append((questions[index], text, 1, rule))
    return made
