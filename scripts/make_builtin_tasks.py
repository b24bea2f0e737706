"""Writes the small offline tasks that ship with the package (neuronllm_tl/tasks/data/*.jsonl).

Every sentence is composed here from word lists written for this project; no benchmark text is
used. Run from the repository root: python scripts/make_builtin_tasks.py
"""

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "neuronllm_tl" / "tasks" / "data"

THINGS = ["restaurant", "film", "hotel", "phone", "novel", "concert", "laptop", "coffee shop", "museum",
          "video game", "bakery", "train ride", "podcast", "jacket", "theme park", "sofa", "album", "play"]
POSITIVE = ["wonderful", "delightful", "excellent", "charming", "superb", "lovely", "fantastic", "brilliant",
            "enjoyable", "impressive", "pleasant", "outstanding"]
NEGATIVE = ["dreadful", "boring", "terrible", "disappointing", "awful", "unpleasant", "mediocre", "annoying",
            "miserable", "poor", "dull", "frustrating"]
FRAMES = [
    "The {thing} was {adj}.",
    "Honestly, the {thing} felt {adj} from start to finish.",
    "We agreed that the {thing} was {adj}.",
    "My friends said the {thing} was {adj}, and I agree.",
    "What a {adj} {thing}.",
]
POS_TAILS = ["I would go back tomorrow.", "I recommend it to everyone.", "It made my week.", ""]
NEG_TAILS = ["I want my money back.", "I will not return.", "It ruined my evening.", ""]

COUNTRIES = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo",
    "China": "Beijing", "Russia": "Moscow", "Egypt": "Cairo", "Canada": "Ottawa", "Australia": "Canberra",
    "Brazil": "Brasilia", "Mexico": "Mexico City", "India": "New Delhi", "Greece": "Athens",
    "Portugal": "Lisbon", "Norway": "Oslo", "Sweden": "Stockholm", "Finland": "Helsinki",
    "Poland": "Warsaw", "Austria": "Vienna", "Ireland": "Dublin", "Turkey": "Ankara", "Kenya": "Nairobi",
    "Argentina": "Buenos Aires", "Peru": "Lima", "Chile": "Santiago", "Thailand": "Bangkok",
    "Vietnam": "Hanoi", "South Korea": "Seoul", "Iran": "Tehran", "Cuba": "Havana", "Hungary": "Budapest",
    "Denmark": "Copenhagen", "Belgium": "Brussels", "Netherlands": "Amsterdam", "Switzerland": "Bern",
    "Colombia": "Bogota", "Nigeria": "Abuja", "Morocco": "Rabat", "Ukraine": "Kyiv",
}
CAPITAL_FRAMES = ["What is the capital of {country}?", "Which city is the capital of {country}?",
                  "The government of {country} sits in which city?"]

TOPICS = ["world", "sports", "business", "science"]
HEADLINES = {
    "world": ["{place} and {place2} sign a new border agreement", "Protests continue in the capital of {place}",
              "Leaders of {place} meet to discuss the refugee crisis", "Elections in {place} end with a surprise winner",
              "Ceasefire announced after weeks of fighting near {place}"],
    "sports": ["The {team} win the championship after a late goal", "Star striker joins the {team} for a record fee",
               "The {team} lose again as the coach faces pressure", "Marathon runner breaks the course record in {place}",
               "The {team} advance to the final after penalties"],
    "business": ["{company} shares rise after strong quarterly profits", "{company} announces layoffs as sales slow",
                 "Central bank raises interest rates to fight inflation", "{company} agrees to buy a rival for billions",
                 "Oil prices fall as demand weakens in {place}"],
    "science": ["Researchers discover a new species of frog in {place}", "Astronomers spot a distant planet with water",
                "New battery design could double phone life, scientists say", "Space agency launches a probe to study the sun",
                "Study finds bees can recognise human faces"],
}
PLACES = ["Norland", "Estavia", "Karesh", "Belmora", "Tarvia", "Ostrana", "Velmont", "Quorin"]
TEAMS = ["Riverside Hawks", "Northside Wolves", "Harbor Kings", "Valley Rangers", "City Comets"]
COMPANIES = ["Novatek", "Brightwave", "Helix Motors", "Orbit Foods", "Crestline Bank"]


def sentiment(rng):
    rows = []
    for thing in THINGS:
        for label, adjs, tails in ((0, POSITIVE, POS_TAILS), (1, NEGATIVE, NEG_TAILS)):
            for adj in rng.sample(adjs, 4):
                text = rng.choice(FRAMES).format(thing=thing, adj=adj)
                text = (text + " " + rng.choice(tails)).strip()
                rows.append({"question": f"Review: {text}\nIs the sentiment of this review positive or negative?",
                             "options": ["positive", "negative"], "answer": label})
    return rows


def capitals(rng):
    rows = []
    names = list(COUNTRIES)
    for country, capital in COUNTRIES.items():
        for frame in CAPITAL_FRAMES:
            others = rng.sample([COUNTRIES[c] for c in names if c != country], 3)
            options = others + [capital]
            rng.shuffle(options)
            rows.append({"question": frame.format(country=country), "options": options,
                         "answer": options.index(capital)})
    return rows


def topics(rng):
    rows = []
    for _ in range(4):
        for label, topic in enumerate(TOPICS):
            for frame in HEADLINES[topic]:
                p1, p2 = rng.sample(PLACES, 2)
                text = frame.format(place=p1, place2=p2, team=rng.choice(TEAMS), company=rng.choice(COMPANIES))
                rows.append({"question": f"Headline: {text}\nWhat is the topic of this headline?",
                             "options": TOPICS, "answer": label})
    unique = {r["question"]: r for r in rows}
    return list(unique.values())


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, make in (("sentiment-mini", sentiment), ("capitals-mini", capitals), ("topics-mini", topics)):
        rows = make(random.Random(0))
        random.Random(1).shuffle(rows)
        for i, r in enumerate(rows):
            r["id"] = f"{name}-{i}"
        with open(OUT / f"{name}.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        print(name, len(rows))


if __name__ == "__main__":
    main()
