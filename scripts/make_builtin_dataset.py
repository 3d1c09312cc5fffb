"""Write ometer_tui/core/bench/workloads/data/builtin.jsonl: the `--dataset builtin` prompts.

Every sentence below was written for ometer-tui and is dedicated to the public domain
(CC0 1.0), except the Gettysburg Address (Abraham Lincoln, 1863, Bliss copy), which is in
the public domain. The output is deterministic (seeded): run it again to get the same
file. Usage: python scripts/make_builtin_dataset.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "ometer_tui/core/bench/workloads/data/builtin.jsonl"

TOPICS = [
    "tides",
    "bread baking",
    "bicycle gears",
    "honey bees",
    "lighthouses",
    "volcanoes",
    "the water cycle",
    "compound interest",
    "sourdough starters",
    "glaciers",
    "rainbows",
    "solar panels",
    "migratory birds",
    "paper making",
    "the printing press",
    "clocks",
    "coral reefs",
    "wind turbines",
    "chess openings",
    "photosynthesis",
    "tea",
    "maps",
    "river deltas",
    "sailing upwind",
    "libraries",
    "suspension bridges",
    "fermentation",
    "the moon's phases",
    "typewriters",
    "desert plants",
    "recycling glass",
    "snowflakes",
    "sundials",
    "beekeeping",
    "compasses",
    "steam engines",
    "lichens",
    "kites",
    "telescopes",
    "pottery glazes",
    "tree rings",
    "canal locks",
    "earthworms",
    "fog",
]

QUESTIONS = [
    "Explain {t} to a curious twelve-year-old.",
    "Give three surprising facts about {t}.",
    "Write a short poem about {t}.",
    "What is the most common misconception about {t}?",
    "Describe {t} in one paragraph, then list two questions a student might ask.",
    "Write a haiku about {t}.",
    "How would you teach {t} with only a pencil and paper?",
]

SENTENCES = [
    "The harbour was quiet in the early morning, and the boats rocked gently on their ropes.",
    "A baker rises before dawn to shape the loaves that the town will eat by noon.",
    "Rain collects in the hills, runs down into the streams and finally reaches the sea.",
    "The old clock in the station gained two minutes every week, and nobody minded.",
    "Bees visit thousands of flowers to make a single spoonful of honey.",
    "The lighthouse keeper wrote the weather in a notebook every evening for forty years.",
    "Glaciers move slowly, grinding rock into fine flour that turns rivers milky blue.",
    "A good map leaves out almost everything, and that is what makes it useful.",
    "The library opened at nine, and the first visitor was always the same retired teacher.",
    "Wind turbines turn to face the wind, guided by a small vane on the nacelle.",
    "Coral grows a few millimetres a year, building reefs over thousands of years.",
    "The bridge was painted every summer, starting at one end and finishing at the other.",
    "Salt, flour, water and time are all that a simple loaf of bread really needs.",
    "On clear nights the telescope on the roof showed the rings of Saturn as a thin line.",
    "Most of a tree is made from air: carbon taken in through the leaves.",
    "The river splits into many channels as it slows down near the coast.",
    "A sailing boat cannot sail straight into the wind, so it zigzags toward its goal.",
    "The potter opened the kiln and found that the blue glaze had turned almost green.",
    "Snowflakes form around tiny specks of dust high in the clouds.",
    "The market filled with the smell of oranges, fresh bread and wet stone.",
    "A compass needle points to the magnetic north, which slowly wanders over the years.",
    "Earthworms turn the soil, pulling leaves down and leaving rich casts behind.",
    "The kite climbed until the string was a faint curve against the grey sky.",
    "A canal lock lifts a boat by filling a chamber with water from the higher level.",
    "Fog rolled in from the sea and the foghorn began its slow, deep call.",
    "The first printing presses used wooden frames adapted from presses for wine and oil.",
    "Lichen is a partnership between a fungus and an alga living as one.",
    "Tree rings are wider in wet years and narrow in years of drought.",
    "The steam engine turned heat into motion and changed how goods crossed the land.",
    "Desert plants store water in thick stems and open their pores only at night.",
    "Glass can be melted and remade again and again without losing its quality.",
    "A sundial tells solar time, which can differ from clock time by a quarter of an hour.",
    "The tide comes in twice a day, pulled by the moon and, less strongly, by the sun.",
    "Tea leaves are withered, rolled and dried; how long they oxidise decides the colour.",
    "A typewriter's keys are arranged so that common letter pairs rarely jam.",
    "The moon shows the same face to the earth because it turns once on each orbit.",
    "Migratory birds use the stars, the sun and the earth's magnetic field to find their way.",
    "Compound interest grows slowly at first and then faster, like a snowball rolling downhill.",
    "A chess opening is a plan for the first moves, learned so the mind is free for later ones.",
    "Volcanic soil is rich, which is why farms climb the slopes of sleeping mountains.",
    "The children counted the seconds between the lightning and the thunder.",
    "She kept her grandfather's letters in a tin box under the stairs.",
    "The train slowed as it climbed, and the valley opened below the windows.",
    "Every spring the swallows returned to the same barn and repaired their old nests.",
    "He learned to mend nets from his mother, who learned it from hers.",
    "The road followed the river for a while and then turned up into the pines.",
    "At the end of the day the workshop smelled of sawdust, oil and coffee.",
    "A small garden can feed a family if the soil is cared for year after year.",
    "The festival lanterns floated down the river, hundreds of small lights on dark water.",
    "Old stone walls divide the fields, built without mortar by patient hands.",
]

GETTYSBURG = (
    "Four score and seven years ago our fathers brought forth on this continent, a new "
    "nation, conceived in Liberty, and dedicated to the proposition that all men are "
    "created equal. Now we are engaged in a great civil war, testing whether that nation, "
    "or any nation so conceived and so dedicated, can long endure. We are met on a great "
    "battle-field of that war. We have come to dedicate a portion of that field, as a final "
    "resting place for those who here gave their lives that that nation might live. It is "
    "altogether fitting and proper that we should do this. But, in a larger sense, we can "
    "not dedicate -- we can not consecrate -- we can not hallow -- this ground. The brave "
    "men, living and dead, who struggled here, have consecrated it, far above our poor "
    "power to add or detract. The world will little note, nor long remember what we say "
    "here, but it can never forget what they did here. It is for us the living, rather, to "
    "be dedicated here to the unfinished work which they who fought here have thus far so "
    "nobly advanced. It is rather for us to be here dedicated to the great task remaining "
    "before us -- that from these honored dead we take increased devotion to that cause for "
    "which they gave the last full measure of devotion -- that we here highly resolve that "
    "these dead shall not have died in vain -- that this nation, under God, shall have a "
    "new birth of freedom -- and that government of the people, by the people, for the "
    "people, shall not perish from the earth."
)

TASKS = [
    "Summarize the passage above in three sentences.",
    "List the main ideas of the passage above as bullet points.",
    "Write a title for the passage above and explain your choice.",
    "Rewrite the passage above for a young reader.",
    "What questions does the passage above leave unanswered?",
]


def main() -> None:
    rng = random.Random(20261130)
    rows: list[dict[str, object]] = [
        {
            "_meta": {
                "name": "ometer-tui builtin prompts",
                "license": "CC0-1.0 (public domain dedication)",
                "source": "sentences written for ometer-tui; the Gettysburg Address "
                "(Abraham Lincoln, 1863) is in the public domain",
                "generator": "scripts/make_builtin_dataset.py",
            }
        }
    ]
    # short questions: topic x question form
    for topic in TOPICS:
        for form in rng.sample(QUESTIONS, 4):
            out = rng.choice((64, 128, 256))
            rows.append({"prompt": form.format(t=topic), "output_tokens": out})
    # medium and long passages with a task
    for size in [3] * 40 + [8] * 40 + [20] * 25 + [45] * 15:
        passage = " ".join(rng.choice(SENTENCES) for _ in range(size))
        task, out = rng.choice(TASKS), rng.choice((96, 192, 384))
        rows.append({"prompt": f"{passage}\n\n{task}", "output_tokens": out})
    for task in TASKS:
        rows.append({"prompt": f"{GETTYSBURG}\n\n{task}", "output_tokens": 192})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows) - 1} prompts, {OUT.stat().st_size} bytes to {OUT}")


if __name__ == "__main__":
    main()
