"""The synthetic demo corpus: offline, deterministic from a seed, shaped like the real tasks.

Why synthetic: MSP-Podcast and MEACorpus need licences and downloads, but a new user (and CI) must
be able to run every system, the fusion, Dev_bal tuning, scoring and submission writing in minutes
on a CPU. The corpus is built so that the things the harness exists to measure are real effects
here too: text and audio each carry part of the emotion, fusion beats either, and prior correction
helps on the balanced test set.

Layout
------
English (``lang="en"``) uses the MSP-Podcast / Odyssey 2024 layout read by
:func:`harness.data.readers.read_msp_podcast`: ``Labels/labels_consensus.csv``, ``Audios/*.wav``
(16 kHz mono PCM16) and ``Transcripts/<stem>.txt`` (the reference sentence). Splits are Train,
Development and Test3; Test3 keeps its labels so that runs can be scored. Spanish (``lang="es"``)
uses the EmoSpeech 2024 layout read by :func:`harness.data.readers.read_emospeech`: ``train.csv``
(id,label,transcription), ``test.csv`` (id,transcription), ``test_labels.csv`` (id,label; kept
for scoring) and ``audios/*.wav``. ``demo.json`` records the parameters, generator version and
counts; ``generator.csv`` lists every utterance's hidden generator variables (sentence pool, cue,
prosody settings, voice), for analyses only: readers and systems never use it.

Generative model
----------------
Each class has a centre (valence V, arousal A, dominance D) on the 1-7 scale and a *word group*
(negative, positive or neutral). English, codes of the Odyssey challenge:

====  =========  ===  ===  ===  ========
code  name        V    A    D   words
====  =========  ===  ===  ===  ========
A     angry      2.0  6.0  5.6  negative
S     sad        2.1  2.2  2.4  negative
H     happy      6.0  5.6  5.0  positive
U     surprise   5.0  5.9  3.0  positive
F     fear       2.2  5.3  2.2  negative
D     disgust    2.4  4.0  4.6  negative
C     contempt   2.8  3.0  5.8  negative
N     neutral    4.0  3.6  4.0  neutral
====  =========  ===  ===  ===  ========

Spanish (EmoSpeech classes): anger (2.0, 6.0, 5.6), disgust (2.4, 4.0, 4.6), fear (2.2, 5.3, 2.2),
joy (6.0, 5.6, 5.0), neutral (4.0, 3.6, 4.0), sadness (2.1, 2.2, 2.4), same order (V, A, D).

The centres are arranged so that neither modality suffices: classes that share a valence region
(A, S, F, D, C) differ in prosody, and classes with similar prosody (A/H, U/F, D/N) differ in
words. For every utterance:

1. *Latent state.* ``A = cA + e_A``, ``D = cD + e_D``, ``V0 = cV + e_V`` with independent
   ``e ~ Normal(0, 0.55)`` (the per-utterance jitter).
2. *Words.* The sentence comes from one of three template pools: the class's own pool (words
   that name the emotion) with probability ``P_CLASS``, the pool of its word group (generic
   negative or positive sentences shared by several classes) with ``P_GROUP``, or the neutral
   pool otherwise (``P_CLASS = 0.40``, ``P_GROUP = 0.25``, so 35 % of emotional utterances have
   neutral words). Neutral utterances use neutral sentences (86 %) or a negative or positive group
   sentence. Templates have slots (objects, places, people, days) filled at random, so that the
   text model must generalise rather than memorise.
   A sentence that is not from the class pool starts, with probability ``P_CUE = 0.7``, with a
   short opener ("Ugh,", "Wait,", "So,"): the class's own opener with probability
   ``P_OWN_CUE = 0.6``, otherwise the opener of a random class. Openers are weak, graded
   evidence; that is where a classifier's train prior decides between classes, and so where
   prior correction earns its keep (as on real data).
3. *Valence* is carried mostly by the words: the annotated value is
   ``V = (1 - LEXICAL_WEIGHT) * V0 + LEXICAL_WEIGHT * lexical + Normal(0, 0.3)``, where
   ``lexical`` is the class centre for class sentences, 2.3 / 5.8 for negative / positive group
   sentences and 4.0 for neutral ones.
4. *Prosody* carries arousal and dominance. With ``a = (A - 4) / 3``, ``d = (D - 4) / 3`` and
   ``v = (V0 - 4) / 3``, eSpeak's SSML ``<prosody>`` gets (in percent): pitch ``32a - 10d``, range
   ``50a + 12v``, rate ``22a + 6d``, volume ``10a``; the waveform is peak-normalised to
   ``0.9 * gain`` with ``gain`` in dB ``= 6a + 8d`` (relative to the loudest, capped at 0 dB).
   Each prosody parameter also gets its own per-utterance jitter (pitch 8, range 18, rate 7,
   gain 2.5 dB), and each speaker a fixed pitch and rate offset, so audio alone cannot solve it.
5. *Speakers* are eSpeak voice variants (``en-us+m3``, ``es-419+f2``, ...), each with a pitch and
   rate offset. A little silence and a noise floor at about -60 dBFS surround each sentence.

Labels O (other) and X (no agreement) appear in about 10 % of English Train only: O has a random
centre, X the midpoint of two classes and the words of one of them.

Splits
------
Speakers (about one per 20 utterances) are disjoint across splits. Development and Test3
(Spanish: Test) hold 20 % of the utterances each, balanced over the scored classes; Train holds
the rest with an MSP-Podcast-like neutral-dominant prior (``LanguageSpec.train_prior``; English
N 36 %, H 15 %, A 9 %, S 8 %, C 7 %, U 6 %, D 5 %, F 4 %, O 5 %, X 5 %). Spanish has no Development in its files: the
EmoSpeech reader carves it out of Train, as for the real corpus. ``n`` is the total count;
``seed`` fixes everything. Every utterance is synthesised from a pristine eSpeak state (see
:mod:`harness.data.espeak`), so the audio bytes are a function of ``(lang, n, seed)`` alone, and
the synthesis runs in a pool of worker processes without changing them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harness.errors import HarnessError

log = logging.getLogger(__name__)

DEMO_VERSION = 3
SAMPLE_RATE = 16_000
Progress = Callable[[int, int], None]

P_CLASS = 0.40
P_GROUP = 0.25
P_CUE = 0.7
P_OWN_CUE = 0.6
LEXICAL_WEIGHT = 0.5
ATTRIBUTE_JITTER = 0.55
VALENCE_NOISE = 0.3
PROSODY_JITTER = {"pitch": 8.0, "range": 18.0, "rate": 7.0, "gain_db": 2.5}
GROUP_VALENCE = {"negative": 2.3, "positive": 5.8, "neutral": 4.0}
NOISE_STD = 0.001  # about -60 dBFS
PEAK = 0.9
MIN_N = {"en": 48, "es": 36}
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


@dataclass(frozen=True)
class ClassSpec:
    code: str
    valence: float
    arousal: float
    dominance: float
    group: str


@dataclass(frozen=True)
class LanguageSpec:
    lang: str
    classes: tuple[ClassSpec, ...]
    train_prior: dict[str, float]
    voices: tuple[str, ...]
    neutral: str
    eval_split: str


EN = LanguageSpec(
    lang="en",
    classes=(
        ClassSpec("A", 2.0, 6.0, 5.6, "negative"),
        ClassSpec("S", 2.1, 2.2, 2.4, "negative"),
        ClassSpec("H", 6.0, 5.6, 5.0, "positive"),
        ClassSpec("U", 5.0, 5.9, 3.0, "positive"),
        ClassSpec("F", 2.2, 5.3, 2.2, "negative"),
        ClassSpec("D", 2.4, 4.0, 4.6, "negative"),
        ClassSpec("C", 2.8, 3.0, 5.8, "negative"),
        ClassSpec("N", 4.0, 3.6, 4.0, "neutral"),
    ),
    # Neutral-dominant like MSP-Podcast; O and X are train-only codes.
    train_prior={
        "N": 0.36,
        "H": 0.15,
        "A": 0.09,
        "S": 0.08,
        "C": 0.07,
        "U": 0.06,
        "D": 0.05,
        "F": 0.04,
        "O": 0.05,
        "X": 0.05,
    },
    voices=_words(
        "en-us|en|en-gb-scotland|en-gb-x-rp|en-029|en-us-nyc|en-gb-x-gbclan|en-gb-x-gbcwmd"
    ),
    neutral="N",
    eval_split="Test3",
)
ES = LanguageSpec(
    lang="es",
    classes=(
        ClassSpec("anger", 2.0, 6.0, 5.6, "negative"),
        ClassSpec("disgust", 2.4, 4.0, 4.6, "negative"),
        ClassSpec("fear", 2.2, 5.3, 2.2, "negative"),
        ClassSpec("joy", 6.0, 5.6, 5.0, "positive"),
        ClassSpec("neutral", 4.0, 3.6, 4.0, "neutral"),
        ClassSpec("sadness", 2.1, 2.2, 2.4, "negative"),
    ),
    train_prior={
        "neutral": 0.38,
        "joy": 0.18,
        "anger": 0.14,
        "sadness": 0.12,
        "disgust": 0.11,
        "fear": 0.07,
    },
    voices=("es", "es-419"),
    neutral="neutral",
    eval_split="Test",
)
LANGUAGES = {"en": EN, "es": ES}


# -- sentences -----------------------------------------------------------------------------------

EN_SLOTS = {
    "obj": _words(
        "car|laptop|package|phone|bike|camera|report|keys|letter|guitar|jacket|painting|"
        "contract|ticket|book|watch|old radio|new couch|kitchen table|suitcase"
    ),
    "place": _words(
        "office|station|library|market|school|hospital|airport|park|studio|warehouse|hotel|"
        "bank|gym|bakery|museum|harbor"
    ),
    "topic": _words(
        "budget|schedule|project|election|rent|contract|weather|vacation|inspection|merger|"
        "renovation|tournament|interview|audit|festival"
    ),
    "event": _words(
        "party|wedding|concert|meeting|trip|game|dinner|ceremony|launch|reunion|race|show"
    ),
    "day": _words("Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"),
    "person": _words(
        "my brother|the manager|our neighbor|my sister|the landlord|the coach|my uncle|"
        "the teacher|our client|my cousin"
    ),
    "time": _words("nine|ten thirty|noon|two|four fifteen|six|eight"),
}

EN_POOLS: dict[str, tuple[str, ...]] = {
    "neutral": (
        "The {event} is scheduled for {time} on {day}.",
        "I need to pick up the {obj} from the {place} later.",
        "We talked about the {topic} for about an hour.",
        "The {obj} is next to the door of the {place}.",
        "{person} said the bus leaves at {time}.",
        "They moved the {topic} discussion to {day}.",
        "I read a short article about the {topic} this morning.",
        "You can find the {obj} at the {place}.",
        "The report on the {topic} has twelve pages.",
        "{person} usually walks to the {place} after lunch.",
        "Please send me the notes about the {topic}.",
        "The {place} opens at {time} on {day}.",
        "We will probably take the train to the {event}.",
        "I think the {obj} is still in the car.",
        "The forecast says it might rain on {day}.",
        "{person} is going to the {place} tomorrow.",
    ),
    "negative": (
        "This is really bad news about the {topic}.",
        "Everything went wrong with the {obj} today.",
        "I wish the {topic} had never happened.",
        "It is a terrible situation at the {place}.",
        "Nothing about the {topic} is okay anymore.",
        "That was the worst {event} I have ever been to.",
        "The whole {topic} is a complete mess.",
        "{person} ruined the {event} for everyone.",
        "I hate how the {topic} turned out.",
        "This {obj} has been nothing but trouble.",
    ),
    "positive": (
        "What a great {event} that was.",
        "The {topic} turned out really well.",
        "This is such good news about the {obj}.",
        "I love how the {event} went.",
        "{person} did a wonderful job with the {topic}.",
        "The {place} looks beautiful today.",
        "Everything worked out nicely with the {topic}.",
        "That was the best {event} in a long time.",
        "The new {obj} is fantastic.",
        "It was a lovely day at the {place}.",
    ),
    "A": (
        "I am furious that you broke the {obj} again!",
        "How dare you take my {obj} without asking!",
        "Stop lying to me about the {topic}!",
        "I am sick and tired of {person} and the {topic}!",
        "Get out of the {place} right now!",
        "You had no right to cancel the {event}!",
        "I am so angry I could scream about the {topic}!",
        "Do not ever touch my {obj} again!",
        "This is outrageous, who approved the {topic}?",
        "I told you a hundred times to stop!",
    ),
    "S": (
        "I miss the old {place} so much.",
        "I feel so lonely since the {event}.",
        "It breaks my heart that we lost the {obj}.",
        "Nobody came to the {event}, and I cried all night.",
        "I am so sorry it ended like this with {person}.",
        "Everything feels empty without {person}.",
        "I just cannot stop crying about the {topic}.",
        "We will never see the {place} again.",
        "I feel hopeless about the {topic}.",
        "It hurts to remember the last {event}.",
    ),
    "H": (
        "I am so happy we finally got the {obj}!",
        "This is the best {event} of my life!",
        "We won the {event}, I am thrilled!",
        "I cannot stop smiling about the {topic}!",
        "Yay, {person} is coming to the {event}!",
        "I am delighted with the new {obj}!",
        "Hooray, the {topic} got approved!",
        "I feel so grateful and joyful today!",
        "I love this {obj} so much, thank you!",
        "We are celebrating at the {place} tonight!",
    ),
    "U": (
        "Wow, I did not expect to see you at the {place}!",
        "No way, the {obj} is here already?",
        "What? They cancelled the {event}?",
        "I cannot believe it, {person} actually came!",
        "Really? The {topic} was decided today?",
        "Oh my goodness, where did this {obj} come from?",
        "Wait, you mean the {event} is tonight?",
        "Seriously? {person} won the {event}?",
        "Whoa, I never saw that coming!",
        "Huh, the {place} is open on {day}?",
    ),
    "F": (
        "I am scared something bad will happen at the {place}.",
        "Please, do not leave me alone in the {place}.",
        "I heard a noise near the {obj} and I am terrified.",
        "What if they find out about the {topic}?",
        "I am afraid to go back to the {place}.",
        "My hands are shaking, someone is following me.",
        "I am so nervous about the {topic}, I cannot breathe.",
        "Help, there is smoke coming from the {place}!",
        "I have a horrible feeling about the {event}.",
        "Please tell me {person} is safe.",
    ),
    "D": (
        "That {obj} smells absolutely revolting.",
        "Ugh, there is mold all over the {obj}.",
        "That is the most disgusting {event} I have ever seen.",
        "I feel sick just looking at the {obj}.",
        "Gross, do not touch the {obj} with those hands.",
        "Yuck, the food at the {place} was rotten.",
        "The bathroom at the {place} was filthy and nasty.",
        "Eww, something slimy is stuck to the {obj}.",
        "What {person} did at the {event} was repulsive.",
        "This stinks, throw the {obj} away.",
    ),
    "C": (
        "Oh please, as if you could handle the {topic}.",
        "Typical, you never get anything right.",
        "I do not expect much from people like you.",
        "Your {obj} is pathetic, honestly.",
        "Whatever, your opinion on the {topic} hardly matters.",
        "How cute, you think you understand the {topic}.",
        "{person} is a joke, and everyone knows it.",
        "Spare me your little speech about the {topic}.",
        "Of course you failed, what did anyone expect?",
        "I would not waste my time on your {event}.",
    ),
}

ES_SLOTS = {
    "obj": _words(
        "el coche|el portátil|el paquete|el teléfono|la bicicleta|la cámara|el informe|"
        "las llaves|la carta|la guitarra|la chaqueta|el cuadro|el contrato|el billete|"
        "el libro|el reloj"
    ),
    "place": _words(
        "la oficina|la estación|la biblioteca|el mercado|el colegio|el hospital|"
        "el aeropuerto|el parque|el estudio|el hotel|el banco|el gimnasio|la panadería|"
        "el museo|el puerto"
    ),
    "topic": _words(
        "el presupuesto|el horario|el proyecto|las elecciones|el alquiler|la reforma|"
        "la entrevista|la auditoría|el festival|la reunión|el torneo"
    ),
    "event": _words(
        "la fiesta|la boda|el concierto|la cena|el partido|la ceremonia|la excursión|"
        "el espectáculo|la carrera"
    ),
    "day": _words("el lunes|el martes|el miércoles|el jueves|el viernes|el sábado"),
    "person": _words(
        "mi hermano|el jefe|nuestro vecino|mi hermana|el casero|el entrenador|mi tío|"
        "la profesora|mi prima"
    ),
    "time": _words("las nueve|las diez y media|las doce|las dos|las cuatro|las seis"),
}

ES_POOLS: dict[str, tuple[str, ...]] = {
    "neutral": (
        "Tenemos {event} {day} a {time}.",
        "Tengo que recoger {obj} en {place} más tarde.",
        "Hablamos sobre {topic} durante una hora.",
        "{person} dijo que el autobús sale a {time}.",
        "Cambiaron la conversación sobre {topic} para {day}.",
        "Leí un artículo corto sobre {topic} esta mañana.",
        "Puedes encontrar {obj} en {place}.",
        "{person} suele caminar hasta {place} después de comer.",
        "Por favor, envíame las notas sobre {topic}.",
        "{place} abre a {time} {day}.",
        "Creo que {obj} todavía está en el coche.",
        "El pronóstico dice que puede llover {day}.",
        "{person} va a ir a {place} mañana.",
        "Mañana revisamos {topic} con {person}.",
    ),
    "negative": (
        "Son muy malas noticias sobre {topic}.",
        "Todo salió mal con {obj} hoy.",
        "Ojalá lo de {topic} nunca hubiera pasado.",
        "Es una situación terrible en {place}.",
        "Nada de {topic} está bien ya.",
        "Fue lo peor que he vivido en mucho tiempo.",
        "Lo de {topic} es un desastre total.",
        "{person} arruinó {event} para todos.",
        "Odio cómo terminó {topic}.",
    ),
    "positive": (
        "Qué maravilla lo de {event}.",
        "Lo de {topic} salió muy bien.",
        "Son muy buenas noticias sobre {obj}.",
        "Me encantó cómo salió {event}.",
        "{person} hizo un trabajo estupendo con {topic}.",
        "Todo salió de maravilla con {topic}.",
        "Fue un día precioso en {place}.",
        "Qué bien lo pasamos en {place}.",
    ),
    "anger": (
        "¡Estoy furioso porque rompiste {obj} otra vez!",
        "¡Cómo te atreves a coger {obj} sin preguntar!",
        "¡Deja de mentirme sobre {topic}!",
        "¡Estoy harto de {person} y de {topic}!",
        "¡Sal de {place} ahora mismo!",
        "¡No tenías ningún derecho a cancelar {event}!",
        "¡Me da muchísima rabia lo de {topic}!",
        "¡No vuelvas a tocar {obj} nunca más!",
    ),
    "sadness": (
        "Echo mucho de menos {place}.",
        "Me siento muy solo desde {event}.",
        "Me rompe el corazón que perdiéramos {obj}.",
        "Nadie vino a {event} y lloré toda la noche.",
        "Lo siento mucho, terminó así con {person}.",
        "Todo está vacío sin {person}.",
        "No puedo dejar de llorar por {topic}.",
        "Me siento sin esperanza con {topic}.",
    ),
    "joy": (
        "¡Qué feliz estoy, por fin tenemos {obj}!",
        "¡Es el mejor día de mi vida!",
        "¡Ganamos, estoy encantada!",
        "¡No puedo dejar de sonreír por {topic}!",
        "¡Qué alegría, {person} viene a {event}!",
        "¡Estoy contentísimo con {obj}!",
        "¡Bravo, aprobaron {topic}!",
        "¡Esta noche lo celebramos en {place}!",
    ),
    "fear": (
        "Tengo miedo de que pase algo malo en {place}.",
        "Por favor, no me dejes solo en {place}.",
        "Oí un ruido cerca de {obj} y estoy aterrorizado.",
        "¿Y si descubren lo de {topic}?",
        "Me da pánico volver a {place}.",
        "Me tiemblan las manos, alguien me está siguiendo.",
        "Estoy tan nervioso por {topic} que no puedo respirar.",
        "¡Socorro, sale humo de {place}!",
    ),
    "disgust": (
        "{obj} huele fatal, qué asco.",
        "Puaj, hay moho encima de {obj}.",
        "Me da asco solo mirar {obj}.",
        "Qué repugnante lo que pasó en {event}.",
        "Qué asco, no toques {obj} con esas manos.",
        "La comida de {place} estaba podrida.",
        "El baño de {place} estaba sucio y daba asco.",
        "Lo que hizo {person} en {event} fue repugnante.",
    ),
}

# Short openers: weak lexical cues. Each class has its own, but any class may use any opener.
EN_CUES = {
    "A": ("Listen,", "Seriously,", "Come on,"),
    "S": ("Sigh.", "Sadly,", "Well, I guess"),
    "H": ("Oh nice,", "Great news,", "Hey,"),
    "U": ("Oh!", "Wait,", "Huh,"),
    "F": ("Um,", "Oh no,", "Please,"),
    "D": ("Ugh,", "Eww,", "Yuck,"),
    "C": ("Pfft,", "Whatever,", "Sure, sure,"),
    "N": ("So,", "Okay,", "Well,"),
}
ES_CUES = {
    "anger": ("Mira,", "¡Ya basta!", "Oye,"),
    "disgust": ("Puaj,", "Agh,", "Uf,"),
    "fear": ("Ay, no,", "Por favor,", "Madre mía,"),
    "joy": ("¡Genial!", "¡Qué bien!", "Oye, qué bueno,"),
    "neutral": ("Bueno,", "Entonces,", "Vale,"),
    "sadness": ("Ay...", "Qué pena,", "Pues nada,"),
}

TEXT = {"en": (EN_POOLS, EN_SLOTS, EN_CUES), "es": (ES_POOLS, ES_SLOTS, ES_CUES)}


# -- the plan: every label, sentence and prosody value, before any audio -------------------------


@dataclass
class Utterance:
    id: str
    split: str
    speaker: str
    gender: str
    voice: str
    label: str
    arousal: float
    valence: float
    dominance: float
    text: str
    words: str
    """Which pool the sentence came from: ``class``, ``group`` or ``neutral``."""
    cue: str
    """The class whose opener starts the sentence (a weak cue), or empty."""
    pitch: float
    range_: float
    rate: float
    volume: float
    gain: float
    synth_seed: int
    pad_before: float
    pad_after: float


@dataclass(frozen=True)
class Speaker:
    id: str
    voice: str
    gender: str
    pitch: float
    rate: float


def plan_corpus(lang: str = "en", n: int = 1000, seed: int = 0) -> list[Utterance]:
    """Draw every label, sentence and prosody setting of the corpus; pure and fast (no audio)."""
    spec = _language(lang)
    if n < MIN_N[lang]:
        raise HarnessError(
            f"a demo corpus of n={n} utterances is too small for {len(spec.classes)} classes "
            "in every split",
            fix=f"use n={MIN_N[lang]} or more",
        )
    rng = np.random.default_rng([seed, 20240])
    labels = _split_labels(spec, n, rng)
    speakers = _speakers(spec, n, rng)
    ids = [_utterance_id(lang, k) for k in rng.permutation(n) + 1]
    plan: list[Utterance] = []
    for split, split_labels in labels.items():
        order = rng.permutation(len(split_labels))
        pool = speakers[split]
        for position, index in enumerate(order):
            speaker = pool[position % len(pool)]
            plan.append(_utterance(spec, rng, ids[len(plan)], split, speaker, split_labels[index]))
    return plan


def _language(lang: str) -> LanguageSpec:
    if lang not in LANGUAGES:
        raise HarnessError(f"no demo corpus for language {lang!r}", fix="use lang=en or lang=es")
    return LANGUAGES[lang]


def _utterance_id(lang: str, k: int) -> str:
    return f"DEMO-EN_{k:05d}.wav" if lang == "en" else f"demo_es_{k:05d}.wav"


def _split_labels(spec: LanguageSpec, n: int, rng: np.random.Generator) -> dict[str, list[str]]:
    """Balanced evaluation splits of about 20 % each; Train takes the rest under its prior."""
    codes = [c.code for c in spec.classes]
    per_class = max(1, round(0.2 * n / len(codes)))
    eval_splits = ["Development", spec.eval_split] if spec.lang == "en" else [spec.eval_split]
    n_train = n - per_class * len(codes) * len(eval_splits)
    labels = {"Train": _allocate(spec.train_prior, n_train, minimum=set(codes))}
    for split in eval_splits:
        labels[split] = [code for code in codes for _ in range(per_class)]
    for split_labels in labels.values():
        rng.shuffle(split_labels)
    return labels


def _allocate(prior: dict[str, float], total: int, minimum: set[str]) -> list[str]:
    """Largest-remainder counts for ``prior``, with at least two of each code in ``minimum``."""
    codes = list(prior)
    raw = np.array([prior[c] for c in codes]) * total
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    for i, code in enumerate(codes):
        while code in minimum and counts[i] < 2:
            counts[i] += 1
            counts[int(np.argmax(counts))] -= 1
    return [code for code, count in zip(codes, counts) for _ in range(count)]


def _speakers(spec: LanguageSpec, n: int, rng: np.random.Generator) -> dict[str, list[Speaker]]:
    """About one speaker per 20 utterances, split 60/20/20 and never shared between splits."""
    eval_splits = ["Development", spec.eval_split] if spec.lang == "en" else [spec.eval_split]
    n_speakers = max(3 + 2 * len(eval_splits), n // 20)
    combos = [(voice, variant) for voice in spec.voices for variant in VARIANTS]
    order = rng.permutation(len(combos))
    speakers = []
    for k in range(n_speakers):
        voice, variant = combos[order[k % len(combos)]]
        speakers.append(
            Speaker(
                id=str(1001 + k),
                voice=f"{voice}+{variant}",
                gender="Male" if variant.startswith("m") else "Female",
                pitch=float(rng.normal(0.0, 8.0)),
                rate=float(rng.normal(0.0, 5.0)),
            )
        )
    n_eval = max(2, round(0.2 * n_speakers))
    result: dict[str, list[Speaker]] = {}
    start = 0
    for split in eval_splits:
        result[split] = speakers[start : start + n_eval]
        start += n_eval
    result["Train"] = speakers[start:]
    return {"Train": result["Train"], **{s: result[s] for s in eval_splits}}


def _utterance(
    spec: LanguageSpec,
    rng: np.random.Generator,
    utt_id: str,
    split: str,
    speaker: Speaker,
    label: str,
) -> Utterance:
    centre, words_of = _centre(spec, rng, label)
    arousal = centre.arousal + rng.normal(0.0, ATTRIBUTE_JITTER)
    dominance = centre.dominance + rng.normal(0.0, ATTRIBUTE_JITTER)
    valence0 = centre.valence + rng.normal(0.0, ATTRIBUTE_JITTER)
    text, words, lexical = _sentence(spec, rng, words_of)
    text, cue = _add_cue(spec, rng, text, words_of, words)
    valence = (
        (1 - LEXICAL_WEIGHT) * valence0 + LEXICAL_WEIGHT * lexical + rng.normal(0.0, VALENCE_NOISE)
    )
    a, d, v = ((float(np.clip(x, 1, 7)) - 4.0) / 3.0 for x in (arousal, dominance, valence0))
    jitter = {k: rng.normal(0.0, s) for k, s in PROSODY_JITTER.items()}
    gain_db = min(0.0, 6 * a + 8 * d - 12 + jitter["gain_db"])
    return Utterance(
        id=utt_id,
        split=split,
        speaker=speaker.id,
        gender=speaker.gender,
        voice=speaker.voice,
        label=label,
        arousal=_scale(arousal),
        valence=_scale(valence),
        dominance=_scale(dominance),
        text=text,
        words=words,
        cue=cue,
        pitch=float(np.clip(32 * a - 10 * d + speaker.pitch + jitter["pitch"], -60, 90)),
        range_=float(np.clip(50 * a + 12 * v + jitter["range"], -90, 150)),
        rate=float(np.clip(22 * a + 6 * d + speaker.rate + jitter["rate"], -45, 60)),
        volume=float(np.clip(10 * a, -30, 30)),
        gain=float(10 ** (gain_db / 20)),
        synth_seed=int(rng.integers(1, 2**31 - 1)),
        pad_before=float(rng.uniform(0.08, 0.3)),
        pad_after=float(rng.uniform(0.1, 0.35)),
    )


def _scale(value: float) -> float:
    return round(float(np.clip(value, 1.0, 7.0)), 1)


def _centre(spec: LanguageSpec, rng: np.random.Generator, label: str) -> tuple[ClassSpec, str]:
    """The class centre and the class whose words are used (O and X are mixtures)."""
    classes = {c.code: c for c in spec.classes}
    if label in classes:
        return classes[label], label
    if label == "O":  # other: somewhere in the middle, words of no particular class
        v, a, d = rng.uniform(3.0, 5.0, size=3)
        return ClassSpec("O", v, a, d, "neutral"), spec.neutral
    first, second = rng.choice(len(spec.classes), size=2, replace=False)  # X: no agreement
    c1, c2 = spec.classes[first], spec.classes[second]
    mid = ClassSpec(
        "X",
        (c1.valence + c2.valence) / 2,
        (c1.arousal + c2.arousal) / 2,
        (c1.dominance + c2.dominance) / 2,
        c1.group,
    )
    return mid, c1.code


def _sentence(spec: LanguageSpec, rng: np.random.Generator, code: str) -> tuple[str, str, float]:
    """A sentence for class ``code``: its own words, its group's words, or neutral words."""
    pools, slots, _ = TEXT[spec.lang]
    centre = next(c for c in spec.classes if c.code == code)
    draw = rng.random()
    if code == spec.neutral:
        kind = "neutral" if draw < 0.86 else ("negative" if draw < 0.93 else "positive")
        words, lexical = ("neutral" if kind == "neutral" else "group"), GROUP_VALENCE[kind]
    elif draw < P_CLASS:
        kind, words, lexical = code, "class", centre.valence
    elif draw < P_CLASS + P_GROUP:
        kind, words, lexical = centre.group, "group", GROUP_VALENCE[centre.group]
    else:
        kind, words, lexical = "neutral", "neutral", GROUP_VALENCE["neutral"]
    pool = pools[kind]
    template = pool[int(rng.integers(len(pool)))]
    filled = template.format(**{k: v[int(rng.integers(len(v)))] for k, v in slots.items()})
    return _tidy(filled, spec.lang), words, float(lexical)


def _add_cue(
    spec: LanguageSpec, rng: np.random.Generator, text: str, code: str, words: str
) -> tuple[str, str]:
    """Maybe start a non-class sentence with an opener, usually of another class than ``code``.

    Openers give graded evidence (the own class's opener is only a few times likelier than any
    other), which is where a classifier's train prior decides, and prior correction matters.
    """
    if words == "class" or rng.random() >= P_CUE:
        return text, ""
    cues = TEXT[spec.lang][2]
    classes = [c.code for c in spec.classes]
    cue = code if rng.random() < P_OWN_CUE else classes[int(rng.integers(len(classes)))]
    opener = cues[cue][int(rng.integers(len(cues[cue])))]
    first = text.split(" ", 1)[0]
    if opener[-1] not in ".!?" and first not in ("I", "I'm"):
        for i, char in enumerate(text):
            if char.isalpha():
                text = text[:i] + char.lower() + text[i + 1 :]
                break
    return f"{opener} {text}", cue


def _tidy(text: str, lang: str) -> str:
    if lang == "es":
        for before, after in ((" de el ", " del "), (" a el ", " al ")):
            text = text.replace(before, after)
    for i, char in enumerate(text):  # capitalise the first letter, after any ¡ or ¿
        if char.isalpha():
            return text[:i] + char.upper() + text[i + 1 :]
    return text


# -- synthesis -----------------------------------------------------------------------------------


def render(utterance: Utterance | dict, path: str | os.PathLike) -> float:
    """Synthesise one planned utterance to a 16 kHz WAV; return its duration in seconds."""
    import soundfile as sf
    import soxr

    from harness.data import espeak

    u = utterance if isinstance(utterance, dict) else asdict(utterance)
    ssml = espeak.prosody_ssml(
        u["text"], pitch=u["pitch"], range_=u["range_"], rate=u["rate"], volume=u["volume"]
    )
    speech, rate = espeak.synthesize(ssml, u["voice"], seed=u["synth_seed"])
    speech = soxr.resample(speech, rate, SAMPLE_RATE).astype(np.float64)
    speech *= PEAK * u["gain"] / max(float(np.abs(speech).max()), 1e-6)
    rng = np.random.default_rng(u["synth_seed"])
    before, after = (int(u[k] * SAMPLE_RATE) for k in ("pad_before", "pad_after"))
    audio = np.concatenate([np.zeros(before), speech, np.zeros(after)])
    audio += rng.normal(0.0, NOISE_STD, size=audio.size)
    audio = np.clip(audio, -0.99, 0.99).astype(np.float32)
    # Written in place: the whole corpus directory is renamed into place only when complete.
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return audio.size / SAMPLE_RATE


def _render_chunk(jobs: list[tuple[dict, str]]) -> list[float]:
    return [render(u, path) for u, path in jobs]


def _synthesise(
    jobs: list[tuple[dict, str]], workers: int, progress: Progress | None
) -> list[float]:
    """Render in a process pool (spawned, so no parent threads are inherited); order is kept."""
    total = len(jobs)
    if progress:
        progress(0, total)
    size = max(1, min(25, total // (4 * max(workers, 1)) or 1))
    chunks = [jobs[i : i + size] for i in range(0, total, size)]
    results: list[list[float] | None] = [None] * len(chunks)
    done = 0
    if workers > 1 and len(chunks) > 1:
        try:
            _run_pool(chunks, results, workers, progress, total)
            return [d for chunk in results for d in chunk]  # type: ignore[union-attr]
        except (OSError, RuntimeError, AssertionError) as exc:  # e.g. inside a daemon process
            log.warning("parallel synthesis unavailable (%s); synthesising in this process", exc)
    for i, chunk in enumerate(chunks):
        if results[i] is None:
            results[i] = _render_chunk(chunk)
        done += len(chunk)
        if progress:
            progress(done, total)
    return [d for chunk in results for d in chunk]  # type: ignore[union-attr]


def _run_pool(
    chunks: list, results: list, workers: int, progress: Progress | None, total: int
) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # "fork", not "spawn": spawn re-runs the caller's __main__ in each worker, which deadlocks on
    # the build lock when the caller is a script without an ``if __name__ == "__main__"`` guard.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    done = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_render_chunk, chunk): i for i, chunk in enumerate(chunks)}
        for future in as_completed(futures):
            i = futures[future]
            results[i] = future.result()
            done += len(chunks[i])
            if progress:
                progress(done, total)


# -- writing the corpus --------------------------------------------------------------------------


def build_demo_corpus(
    root: str | os.PathLike,
    *,
    lang: str = "en",
    n: int = 1000,
    seed: int = 0,
    progress: Progress | None = None,
    workers: int | None = None,
) -> Path:
    """Synthesise the demo corpus into ``root`` (built aside and renamed into place at the end).

    ``progress(done, total)`` is called as utterances are synthesised. ``workers`` defaults to
    two processes (or one on a single-core machine); the output does not depend on it.
    """
    from harness.io import atomic_dir

    root = Path(root)
    _check_target(root)
    plan = plan_corpus(lang, n, seed)
    workers = workers or min(2, os.cpu_count() or 1)
    with atomic_dir(root) as tmp:
        audio_dir = tmp / ("Audios" if lang == "en" else "audios")
        audio_dir.mkdir()
        jobs = [(asdict(u), str(audio_dir / u.id)) for u in plan]
        durations = _synthesise(jobs, workers, progress)
        if lang == "en":
            _write_msp_layout(tmp, plan)
        else:
            _write_emospeech_layout(tmp, plan)
        _write_info(tmp, plan, durations, lang, n, seed)
    return root


def _check_target(root: Path) -> None:
    """Refuse to replace a directory that is not a demo corpus (it would be deleted)."""
    if root.exists() and any(root.iterdir()) and not (root / "demo.json").exists():
        raise HarnessError(
            "directory exists and is not a demo corpus; building there would replace it",
            file=root,
            fix="pass a new or empty directory",
        )


def _write_msp_layout(root: Path, plan: Sequence[Utterance]) -> None:
    import pandas as pd

    from harness.io import write_csv, write_text

    rows = [
        {
            "FileName": u.id,
            "EmoClass": u.label,
            "EmoAct": u.arousal,
            "EmoVal": u.valence,
            "EmoDom": u.dominance,
            "SpkrID": u.speaker,
            "Gender": u.gender,
            "Split_Set": u.split,
        }
        for u in plan
    ]
    frame = pd.DataFrame(rows).sort_values("FileName", kind="stable")
    write_csv(root / "Labels" / "labels_consensus.csv", frame, index=False, float_format="%.1f")
    for u in plan:
        write_text(root / "Transcripts" / f"{Path(u.id).stem}.txt", u.text + "\n")


def _write_emospeech_layout(root: Path, plan: Sequence[Utterance]) -> None:
    import pandas as pd

    from harness.io import write_csv

    frame = pd.DataFrame(
        [{"id": u.id, "label": u.label, "transcription": u.text, "split": u.split} for u in plan]
    ).sort_values("id", kind="stable")
    train = frame[frame["split"] == "Train"]
    test = frame[frame["split"] == "Test"]
    write_csv(root / "train.csv", train[["id", "label", "transcription"]], index=False)
    write_csv(root / "test.csv", test[["id", "transcription"]], index=False)
    write_csv(root / "test_labels.csv", test[["id", "label"]], index=False)


def _write_info(
    root: Path,
    plan: Sequence[Utterance],
    durations: Sequence[float],
    lang: str,
    n: int,
    seed: int,
) -> None:
    """``demo.json``: what was built and how, and the per-utterance generator variables."""
    import pandas as pd

    from harness.io import write_csv, write_json

    frame = pd.DataFrame([asdict(u) for u in plan])
    frame["duration"] = np.round(durations, 3)
    write_csv(root / "generator.csv", frame.sort_values("id", kind="stable"), index=False)
    splits = frame.groupby("split")["label"].value_counts().unstack(fill_value=0)
    write_json(
        root / "demo.json",
        {
            "generator": "harness.data.demo",
            "version": DEMO_VERSION,
            "lang": lang,
            "n": n,
            "seed": seed,
            "hours": round(float(np.sum(durations)) / 3600, 3),
            "counts": {s: {k: int(v) for k, v in row.items() if v} for s, row in splits.iterrows()},
            "speakers": {s: sorted(set(g)) for s, g in frame.groupby("split")["speaker"]},
        },
    )


# -- loading -------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    return Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "harness")


def demo_name(lang: str, n: int, seed: int) -> str:
    return f"demo-{lang}-n{n}-s{seed}"


def load_demo_corpus(
    path: str | os.PathLike | None = None,
    *,
    lang: str = "en",
    n: int = 1000,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
):
    """The demo corpus as a :class:`~harness.data.corpus.Corpus`, built on first use.

    Without ``path`` it lives in ``<cache_dir>/demo/<lang>-n<n>-s<seed>`` (``cache_dir``
    defaults to ``$HARNESS_CACHE`` or ``~/.cache/harness``). A ``path`` that holds a built demo
    corpus is read as it is (its ``demo.json`` gives lang, n and seed); a new or empty ``path``
    is built with the given parameters.
    """
    lang, n, seed = str(lang), int(n), int(seed)  # CLI overrides may arrive as strings
    _language(lang)
    if path is not None and (Path(path) / "demo.json").exists():
        root = Path(path)
        lang, n, seed = _read_params(root)
    else:
        root = Path(path) if path is not None else _cache_path(cache_dir, lang, n, seed)
        if _built_version(root) != DEMO_VERSION:
            _build_locked(root, lang=lang, n=n, seed=seed, progress=progress)
    return _read(root, lang, n, seed)


def _cache_path(cache_dir: str | os.PathLike | None, lang: str, n: int, seed: int) -> Path:
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / "demo" / f"{lang}-n{n}-s{seed}"


def _built_version(root: Path) -> int | None:
    try:
        return json.loads((root / "demo.json").read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return None


def _read_params(root: Path) -> tuple[str, int, int]:
    try:
        info = json.loads((root / "demo.json").read_text(encoding="utf-8"))
        return str(info["lang"]), int(info["n"]), int(info["seed"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HarnessError(
            f"unreadable demo corpus description ({exc})",
            file=root / "demo.json",
            fix="delete the directory; it is rebuilt on the next run",
        ) from None


def _build_locked(root: Path, **options) -> None:
    """Build under an exclusive lock, so parallel runs (pytest-xdist, two shells) build once."""
    root.parent.mkdir(parents=True, exist_ok=True)
    lock_path = root.parent / f".{root.name}.lock"
    with open(lock_path, "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows: no lock, the build is still atomic
            pass
        if _built_version(root) != DEMO_VERSION:  # someone else may have built it meanwhile
            log.info("building the demo corpus in %s (once; it is cached)", root)
            build_demo_corpus(root, **options)


def _read(root: Path, lang: str, n: int, seed: int):
    from harness.data.readers import read_emospeech, read_msp_podcast

    corpus = read_msp_podcast(root) if lang == "en" else read_emospeech(root, seed=seed)
    corpus.name = demo_name(lang, n, seed)
    corpus.kind = "demo"
    corpus.info["demo"] = {"lang": lang, "n": n, "seed": seed, "version": DEMO_VERSION}
    return corpus
