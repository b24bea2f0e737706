"""Writes the small offline tasks that ship with the package (neuronllm_tl/tasks/data/*.jsonl).

Every sentence is composed here from word lists and frames written for this project; no benchmark
text is used. Generation is seeded, so the files are the same on every run. Each task has at least 300
examples, enough for an identification split and a held-out split of 100+ each.
Run from the repository root: python scripts/make_builtin_tasks.py
"""

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "neuronllm_tl" / "tasks" / "data"

# ---------------------------------------------------------------------------------------------------
# sentiment-mini: made-up reviews, 2 options, balanced labels.
THINGS = ["restaurant", "film", "hotel", "phone", "novel", "concert", "laptop", "coffee shop", "museum",
          "video game", "bakery", "train ride", "podcast", "jacket", "theme park", "sofa", "album", "play",
          "pizza place", "gym", "hair salon", "bookshop", "cooking class", "guided tour", "ferry trip",
          "art exhibition", "comedy show", "board game", "pair of headphones", "blender", "camping tent",
          "pair of running shoes", "yoga class", "sushi bar", "car rental", "wedding venue", "TV series",
          "spa day", "music festival", "food truck", "campsite", "cinema", "smartwatch", "vacuum cleaner",
          "hiking trail"]
POSITIVE = ["wonderful", "delightful", "excellent", "charming", "superb", "lovely", "fantastic", "brilliant",
            "enjoyable", "impressive", "pleasant", "outstanding", "terrific", "marvelous", "great", "memorable",
            "satisfying", "first-rate", "fabulous", "splendid", "amazing", "heartwarming", "refreshing",
            "flawless"]
NEGATIVE = ["dreadful", "boring", "terrible", "disappointing", "awful", "unpleasant", "mediocre", "annoying",
            "miserable", "poor", "dull", "frustrating", "horrible", "tedious", "lousy", "forgettable",
            "painful", "shoddy", "overrated", "depressing", "clumsy", "unbearable", "sloppy", "tiresome"]
FRAMES = [
    "The {thing} was {adj}.",
    "Honestly, the {thing} felt {adj} from start to finish.",
    "We agreed that the {thing} was {adj}.",
    "My friends said the {thing} was {adj}, and I agree.",
    "What {a_adj} {thing}.",
    "I found the {thing} {adj} in almost every way.",
    "Overall, the {thing} was {adj}.",
    "The new {thing} turned out to be {adj}.",
    "Everyone I asked thought the {thing} was {adj}.",
    "I tried the {thing} last weekend and it was {adj}.",
    "In one word, the {thing} was {adj}.",
    "I have to say the {thing} was {adj}.",
    "The {thing} my cousin picked was {adj}.",
    "Looking back, the {thing} was {adj}.",
    "For the price, the {thing} was {adj}.",
]
POS_TAILS = ["I recommend it to everyone.", "It made my week.", "Worth every penny.", "It put me in a great mood.",
             "Five stars from me.", "I would gladly pay for it again.", "I keep telling people about it.", ""]
NEG_TAILS = ["I want my money back.", "It ruined my evening.", "A complete waste of money.",
             "It put me in a bad mood.", "One star is generous.", "I regret paying for it.",
             "I warn everyone I meet about it.", ""]
ADJS_PER_THING = 4  # per thing and label: 45 things x 2 labels x 4 = 360 reviews

# ---------------------------------------------------------------------------------------------------
# capitals-mini: 4 options. Countries with one undisputed capital only (no two-capital or seat-of-government
# cases such as the Netherlands, Bolivia, South Africa, Sri Lanka, Malaysia, Tanzania, Ivory Coast, Benin).
COUNTRIES = {
    # Europe
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Portugal": "Lisbon",
    "United Kingdom": "London", "Ireland": "Dublin", "Belgium": "Brussels", "Switzerland": "Bern",
    "Austria": "Vienna", "Poland": "Warsaw", "Czech Republic": "Prague", "Slovakia": "Bratislava",
    "Hungary": "Budapest", "Romania": "Bucharest", "Bulgaria": "Sofia", "Greece": "Athens",
    "Serbia": "Belgrade", "Croatia": "Zagreb", "Slovenia": "Ljubljana", "Albania": "Tirana",
    "North Macedonia": "Skopje", "Bosnia and Herzegovina": "Sarajevo", "Norway": "Oslo", "Sweden": "Stockholm",
    "Finland": "Helsinki", "Denmark": "Copenhagen", "Iceland": "Reykjavik", "Estonia": "Tallinn",
    "Latvia": "Riga", "Lithuania": "Vilnius", "Ukraine": "Kyiv", "Belarus": "Minsk", "Moldova": "Chisinau",
    "Russia": "Moscow", "Malta": "Valletta", "Turkey": "Ankara",
    # Asia
    "Japan": "Tokyo", "China": "Beijing", "South Korea": "Seoul", "North Korea": "Pyongyang",
    "Mongolia": "Ulaanbaatar", "India": "New Delhi", "Pakistan": "Islamabad", "Bangladesh": "Dhaka",
    "Nepal": "Kathmandu", "Afghanistan": "Kabul", "Iran": "Tehran", "Iraq": "Baghdad", "Syria": "Damascus",
    "Lebanon": "Beirut", "Jordan": "Amman", "Saudi Arabia": "Riyadh", "Qatar": "Doha", "Oman": "Muscat",
    "United Arab Emirates": "Abu Dhabi", "Thailand": "Bangkok", "Vietnam": "Hanoi",
    "Cambodia": "Phnom Penh", "Laos": "Vientiane", "Philippines": "Manila", "Uzbekistan": "Tashkent",
    "Kyrgyzstan": "Bishkek", "Tajikistan": "Dushanbe", "Azerbaijan": "Baku", "Armenia": "Yerevan",
    "Georgia": "Tbilisi",
    # Africa
    "Egypt": "Cairo", "Morocco": "Rabat", "Algeria": "Algiers", "Tunisia": "Tunis", "Libya": "Tripoli",
    "Nigeria": "Abuja", "Ghana": "Accra", "Senegal": "Dakar", "Mali": "Bamako", "Niger": "Niamey",
    "Ethiopia": "Addis Ababa", "Kenya": "Nairobi", "Uganda": "Kampala", "Rwanda": "Kigali",
    "Zambia": "Lusaka", "Zimbabwe": "Harare", "Mozambique": "Maputo", "Angola": "Luanda",
    "Namibia": "Windhoek", "Botswana": "Gaborone", "Madagascar": "Antananarivo", "Somalia": "Mogadishu",
    "Liberia": "Monrovia", "Sierra Leone": "Freetown", "Cameroon": "Yaounde", "Gabon": "Libreville",
    "Malawi": "Lilongwe", "Burkina Faso": "Ouagadougou",
    # Americas
    "United States": "Washington, D.C.", "Canada": "Ottawa", "Mexico": "Mexico City", "Cuba": "Havana",
    "Jamaica": "Kingston", "Haiti": "Port-au-Prince", "Dominican Republic": "Santo Domingo",
    "Guatemala": "Guatemala City", "Honduras": "Tegucigalpa", "El Salvador": "San Salvador",
    "Nicaragua": "Managua", "Costa Rica": "San Jose", "Panama": "Panama City", "Colombia": "Bogota",
    "Venezuela": "Caracas", "Ecuador": "Quito", "Peru": "Lima", "Chile": "Santiago",
    "Argentina": "Buenos Aires", "Uruguay": "Montevideo", "Paraguay": "Asuncion", "Brazil": "Brasilia",
    "Guyana": "Georgetown", "Suriname": "Paramaribo", "Trinidad and Tobago": "Port of Spain",
    # Oceania
    "Australia": "Canberra", "New Zealand": "Wellington", "Fiji": "Suva", "Papua New Guinea": "Port Moresby",
}
WITH_THE = {"United Kingdom", "Czech Republic", "United Arab Emirates", "Philippines", "United States",
            "Dominican Republic"}
"""Country names that take "the" inside a sentence (options are written without it)."""
CAPITAL_FRAMES = ["What is the capital of {country}?", "Which city is the capital of {country}?",
                  "The government of {country} sits in which city?"]
REVERSE_FRAMES = ["Which country has {capital} as its capital?", "{capital} is the capital of which country?"]
FORWARD_PER_COUNTRY = 2  # frames per country, drawn from CAPITAL_FRAMES; plus one reverse question each

# ---------------------------------------------------------------------------------------------------
# topics-mini: made-up headlines (made-up places, teams and companies), 4 topics, balanced.
TOPICS = ["world", "sports", "business", "science"]
HEADLINES = {
    "world": [
        "{place} and {place2} sign a new border agreement",
        "Protests continue in the capital of {place}",
        "Leaders of {place} and {place2} meet to discuss the refugee crisis",
        "Elections in {place} end with a surprise winner",
        "Ceasefire announced after weeks of fighting near the {place} border",
        "{place} recalls its ambassador from {place2}",
        "Prime minister of {place} resigns after losing a confidence vote",
        "United Nations sends aid convoy to flood-hit {place}",
        "{place} holds a referendum on a new constitution",
        "Thousands flee as clashes spread across northern {place}",
        "President of {place} begins a state visit to {place2}",
        "Opposition leader in {place} released from prison",
        "{place} and {place2} restore diplomatic ties after ten years",
        "Peace talks between {place} and rebel groups stall again",
        "Parliament in {place} votes to extend the state of emergency",
        "Earthquake relief teams arrive in {place} as death toll rises",
        "{place} closes its border with {place2} amid rising tensions",
        "Foreign ministers gather in {place} for a regional security summit",
        "Coup attempt fails in {place}, government says",
        "Voters in {place} head to the polls for the second time this year",
        "{place} joins regional alliance despite objections from {place2}",
        "Embassy of {place} in {place2} attacked by protesters",
        "New coalition government sworn in in {place}",
        "Hostages freed in {place} after weeks of negotiations",
    ],
    "sports": [
        "The {team} win the championship after a late goal",
        "Star striker joins the {team} for a record fee",
        "The {team} lose again as the coach faces pressure",
        "Marathon runner breaks the course record in {place}",
        "The {team} advance to the final after penalties",
        "The {team} beat the {team2} in an overtime thriller",
        "Injured captain to miss the rest of the season for the {team}",
        "{place} named host of the next world cycling championship",
        "Goalkeeper saves three penalties as the {team} reach the semifinal",
        "The {team} sack their manager after five straight defeats",
        "Teenage sprinter from {place} sets a new national record",
        "The {team} clinch the league title with two games to spare",
        "Tennis champion from {place} retires at thirty-four",
        "The {team} sign a veteran defender on a two-year deal",
        "Rain delays the final day of the cricket test in {place}",
        "The {team} and the {team2} draw in a tense derby",
        "Swimmer from {place} wins gold in the 200 meters freestyle",
        "Fans celebrate as the {team} end a twenty-year trophy drought",
        "The {team} appoint a former player as head coach",
        "Boxing title fight in {place} ends in a split decision",
        "The {team} thrash the {team2} 5-0 at home",
        "Olympic committee picks {place} to host the winter games",
        "Point guard scores 40 as the {team} stay unbeaten",
        "Golfer from {place} wins the open by four shots",
    ],
    "business": [
        "{company} shares rise after strong quarterly profits",
        "{company} announces layoffs as sales slow",
        "Central bank of {place} raises interest rates to fight inflation",
        "{company} agrees to buy {company2} for billions",
        "Oil prices fall as demand weakens in {place}",
        "{company} chief executive steps down after accounting scandal",
        "Stock market in {place} hits a record high",
        "{company} opens its first factory in {place}",
        "Inflation in {place} slows for the third month in a row",
        "{company} recalls thousands of products over a safety fault",
        "Regulators fine {company} for misleading customers",
        "{company} reports its first annual loss in a decade",
        "Unemployment in {place} falls to its lowest level in years",
        "{company} plans to cut prices as competition heats up",
        "Currency of {place} slumps against the dollar",
        "{company} and {company2} announce merger talks",
        "Investors cheer as {company} raises its dividend",
        "Trade deficit of {place} widens as exports drop",
        "{company} to move its headquarters to {place}",
        "Workers at {company} go on strike over pay",
        "{company} sells bonds to fund its expansion",
        "Housing prices in {place} climb for a sixth straight quarter",
        "{company} misses revenue forecasts and its shares tumble",
        "{company} secures new funding from venture investors",
    ],
    "science": [
        "Researchers discover a new species of {animal} in {place}",
        "Astronomers in {place} spot a distant planet with signs of water",
        "New battery design could double {device} life, scientists say",
        "Space agency of {place} launches a probe to study the sun",
        "Study finds {animals} can recognise human faces",
        "Fossil of a giant {fossil} unearthed in {place}",
        "Scientists map the genome of the {animal}",
        "Telescope in {place} captures images of a newborn star",
        "New vaccine shows promise in early trials, researchers in {place} report",
        "Physicists in {place} set a record for quantum computing",
        "Climate study warns glaciers in {place} are melting faster",
        "Engineers build a robot that can climb walls like a {climber}",
        "Researchers grow {organ} tissue in the laboratory",
        "Mars rover built in {place} finds traces of ancient lakes",
        "Study links poor sleep to memory loss, scientists in {place} say",
        "Meteor shower expected to light up the sky over {place}",
        "Researchers teach {animals} to solve simple puzzles",
        "New material could make {device} screens unbreakable",
        "Deep-sea expedition off {place} finds glowing {sea_animals}",
        "Scientists in {place} create a faster test for malaria",
        "Satellite data reveal shrinking forests in {place}",
        "Chemists in {place} develop a plastic that breaks down in weeks",
        "Ancient DNA reveals how early farmers reached {place}",
        "Brain scans show how {animals} dream, study finds",
    ],
}
SLOTS = {
    "place": ["Norland", "Estavia", "Karesh", "Belmora", "Tarvia", "Ostrana", "Velmont", "Quorin", "Dravonia",
              "Sulmara", "Pellaris", "Vardemia", "Korvath", "Tesmar", "Orlesia", "Brenhal"],
    "team": ["Riverside Hawks", "Northside Wolves", "Harbor Kings", "Valley Rangers", "City Comets",
             "Lakeshore Falcons", "Eastbrook Bears", "Summit Lions", "Ironbridge Rovers", "Westfield Foxes",
             "Maplewood Otters", "Granite Bay Storm"],
    "company": ["Novatek", "Brightwave", "Helix Motors", "Orbit Foods", "Crestline Bank", "Silverpine Energy",
                "Quantix Labs", "Bluefern Retail", "Tidewater Airlines", "Ardent Steel", "Luma Telecom",
                "Corvane Pharma", "Nimbus Software", "Redstone Mining"],
    "animal": ["frog", "beetle", "lizard", "spider", "snail", "bat", "moth", "shrimp", "gecko", "salamander"],
    "animals": ["bees", "crows", "octopuses", "pigeons", "dolphins", "goats", "rats", "parrots", "ants"],
    "fossil": ["turtle", "shark", "penguin", "crocodile", "dragonfly", "sea scorpion"],
    "climber": ["gecko", "spider", "beetle", "squirrel", "snail"],
    "sea_animals": ["squid", "jellyfish", "worms", "shrimp", "eels", "sea cucumbers"],
    "device": ["phone", "laptop", "electric car", "drone", "smartwatch", "tablet"],
    "organ": ["liver", "heart", "kidney", "lung", "skin", "bone"],
}
HEADLINES_PER_FRAME = 4  # 24 frames x 4 topics x 4 = 384 headlines


def with_article(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


def sentiment(rng):
    rows = []
    for thing in THINGS:
        for label, adjs, tails in ((0, POSITIVE, POS_TAILS), (1, NEGATIVE, NEG_TAILS)):
            for adj in rng.sample(adjs, ADJS_PER_THING):
                text = rng.choice(FRAMES).format(thing=thing, adj=adj, a_adj=with_article(adj))
                text = (text + " " + rng.choice(tails)).strip()
                rows.append({"question": f"Review: {text}\nIs the sentiment of this review positive or negative?",
                             "options": ["positive", "negative"], "answer": label})
    return rows


def in_sentence(country):
    return f"the {country}" if country in WITH_THE else country


def capitals(rng):
    assert len(set(COUNTRIES.values())) == len(COUNTRIES), "every capital must belong to one country"
    rows = []
    names = list(COUNTRIES)
    for country, capital in COUNTRIES.items():
        for frame in rng.sample(CAPITAL_FRAMES, FORWARD_PER_COUNTRY):
            options = rng.sample([COUNTRIES[c] for c in names if c != country], 3) + [capital]
            rng.shuffle(options)
            rows.append({"question": frame.format(country=in_sentence(country)), "options": options,
                         "answer": options.index(capital)})
        options = rng.sample([c for c in names if c != country], 3) + [country]
        rng.shuffle(options)
        question = rng.choice(REVERSE_FRAMES).format(capital=capital)
        rows.append({"question": question[0].upper() + question[1:], "options": options,
                     "answer": options.index(country)})
    return rows


def topics(rng):
    rows, seen = [], set()
    for label, topic in enumerate(TOPICS):
        for frame in HEADLINES[topic]:
            made = 0
            while made < HEADLINES_PER_FRAME:  # every frame has a slot with enough fillers to get there
                fill = {}
                for slot, words in SLOTS.items():
                    fill[slot], fill[slot + "2"] = rng.sample(words, 2)
                text = frame.format(**fill)
                if text in seen:
                    continue
                seen.add(text)
                made += 1
                rows.append({"question": f"Headline: {text}\nWhat is the topic of this headline?",
                             "options": TOPICS, "answer": label})
    return rows


def write_task_files(makers, key: str) -> None:
    """Each ``(name, make)`` written to ``OUT/name.jsonl``: rows from ``make(random.Random(0))``, none repeating
    its ``key`` field, shuffled with seed 1, numbered ``name-i``."""
    OUT.mkdir(parents=True, exist_ok=True)
    for name, make in makers:
        rows = make(random.Random(0))
        assert len({r[key] for r in rows}) == len(rows), f"{name} repeats a {key}"
        random.Random(1).shuffle(rows)
        for i, r in enumerate(rows):
            r["id"] = f"{name}-{i}"
        with open(OUT / f"{name}.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        print(name, len(rows))


def main():
    write_task_files((("sentiment-mini", sentiment), ("capitals-mini", capitals), ("topics-mini", topics)), "question")


if __name__ == "__main__":
    main()
