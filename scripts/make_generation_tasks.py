"""Writes the offline generation tasks that ship with the package (neuronllm_tl/tasks/data/*-gen.jsonl).

Each example is a prompt, its reference answers (every accepted form) and three distractors written here
from word lists and number ranges of this project; no benchmark text. Seeded: the files are the same on
every run. capitals-gen asks the same countries as capitals-mini (scripts/make_builtin_tasks.py), so the
neurons of the free-text and multiple-choice forms can be compared.
Run from the repository root: python scripts/make_generation_tasks.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_builtin_tasks import COUNTRIES, in_sentence, write_task_files  # noqa: E402

# ---------------------------------------------------------------------------------------------------
# antonyms-gen: both directions of every pair; a word with several opposites accepts each of them.
# Distractors: the word itself (a small model's favourite wrong answer) and two other words' opposites.
ANTONYM_PAIRS = """
hot cold, big small, tall short, fast slow, happy sad, good bad, light dark, young old, new old, rich poor,
strong weak, hard soft, wet dry, open closed, up down, early late, full empty, heavy light, loud quiet,
clean dirty, high low, long short, thick thin, wide narrow, deep shallow, cheap expensive, easy difficult,
true false, safe dangerous, sweet sour, brave cowardly, friend enemy, win lose, buy sell, push pull,
give take, begin end, start finish, arrive leave, come go, laugh cry, love hate, remember forget,
accept refuse, increase decrease, above below, inside outside, before after, always never,
everything nothing, day night, summer winter, north south, east west, black white, boy girl, man woman,
king queen, husband wife, brother sister, father mother, son daughter, uncle aunt, question answer,
war peace, life death, alive dead, front back, top bottom, first last, entrance exit, import export,
maximum minimum, majority minority, success failure, victory defeat, profit loss, strength weakness,
polite rude, honest dishonest, possible impossible, visible invisible, legal illegal, correct incorrect,
happy unhappy, kind cruel, smooth rough, sharp blunt, tight loose, near far, inner outer, major minor,
public private, ancient modern, asleep awake, absent present, guilty innocent, wild tame, noisy quiet,
healthy sick, fat thin, beautiful ugly, funny serious, wise foolish, clever stupid, dark bright,
rise fall, float sink, freeze melt, lend borrow, send receive, teach learn, ask answer, attack defend,
enter exit, open shut, add subtract, multiply divide, plus minus, positive negative, even odd,
same different, simple complex, sunrise sunset, dawn dusk, heaven hell, hero villain, teacher student,
employer employee, parent child, winner loser, give receive, huge tiny, large small, more less,
most least, many few, all none, yes no, on off, in out, over under, forward backward, past future,
solid liquid, male female, vertical horizontal, plural singular, input output, include exclude,
internal external, optimist pessimist, agree disagree, appear disappear, like dislike, lock unlock,
pack unpack, tie untie, cover uncover, obey disobey, expand contract, ascend descend,
arrival departure, create destroy, build destroy, find lose, catch throw, sit stand, pass fail,
allow forbid, admit deny, inhale exhale, joy sorrow, pleasure pain, hope despair, praise blame,
rural urban, domestic foreign, temporary permanent, artificial natural, raw cooked, fresh stale,
sober drunk, sharp dull, here there, top bottom, minimum maximum, wet dry, soft loud, sweet bitter
"""
ANTONYM_FRAMES = ["What is the opposite of {word}?", "What is the opposite of the word {word}?"]

# ---------------------------------------------------------------------------------------------------
# arithmetic-gen: one addition or subtraction of numbers up to 20 with a result in 0..40.
ARITHMETIC_EXAMPLES = 300
ARITHMETIC_FRAMES = ["What is {a} {op} {b}?", "How much is {a} {op} {b}?"]


def antonyms(rng):
    opposites = {}
    for pair in " ".join(ANTONYM_PAIRS.split()).split(","):
        a, b = pair.split()
        opposites.setdefault(a, set()).add(b)
        opposites.setdefault(b, set()).add(a)
    answers = sorted({w for refs in opposites.values() for w in refs})
    rows = []
    for word, refs in opposites.items():
        others = [w for w in answers if w not in refs and w != word and word not in opposites.get(w, ())]
        rows.append(
            {
                "prompt": rng.choice(ANTONYM_FRAMES).format(word=word),
                "references": sorted(refs),
                "distractors": [word, *rng.sample(others, 2)],
            }
        )
    return rows


def arithmetic(rng):
    rows, seen = [], set()
    while len(rows) < ARITHMETIC_EXAMPLES:
        a, b, op = rng.randint(1, 20), rng.randint(1, 20), rng.choice("+-")
        if op == "-" and b > a:
            a, b = b, a
        if (a, op, b) in seen:
            continue
        seen.add((a, op, b))
        result = a + b if op == "+" else a - b
        wrong = sorted({result + d for d in (-2, -1, 1, 2, 10) if result + d >= 0} - {result})
        rows.append(
            {
                "prompt": rng.choice(ARITHMETIC_FRAMES).format(a=a, op=op, b=b),
                "references": [str(result)],
                "distractors": [str(w) for w in rng.sample(wrong, 3)],
            }
        )
    return rows


def capitals(rng):
    rows = []
    capitals_, countries = list(COUNTRIES.values()), list(COUNTRIES)
    for country, capital in COUNTRIES.items():
        rows.append(
            {
                "prompt": f"What is the capital of {in_sentence(country)}?",
                "references": [capital],
                "distractors": rng.sample([c for c in capitals_ if c != capital], 3),
            }
        )
        rows.append(
            {
                "prompt": f"{capital} is the capital of which country?",
                "references": [country] + ([f"the {country}"] if in_sentence(country) != country else []),
                "distractors": rng.sample([c for c in countries if c != country], 3),
            }
        )
    return rows


def main():
    write_task_files((("capitals-gen", capitals), ("antonyms-gen", antonyms), ("arithmetic-gen", arithmetic)), "prompt")


if __name__ == "__main__":
    main()
