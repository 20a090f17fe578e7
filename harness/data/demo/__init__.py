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
   neutral words). The pools, slot fillers and openers are data files, ``sentences/en.yaml`` and
   ``sentences/es.yaml`` in this package, editable without touching the code. Neutral utterances use neutral sentences (86 %) or a negative or positive group
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

Modules
-------
:mod:`~harness.data.demo.spec` (class centres, priors, voices, constants),
:mod:`~harness.data.demo.sentences` (the sentence files and the draws from them),
:mod:`~harness.data.demo.plan` (labels, speakers, splits, prosody: everything before audio),
:mod:`~harness.data.demo.synth` (one utterance to a WAV), :mod:`~harness.data.demo.layout` (the
MSP-Podcast and EmoSpeech file layouts) and :mod:`~harness.data.demo.build` (the process pool,
the atomic locked build and the cache). This module re-exports the public API.
"""

from __future__ import annotations

from harness.data.audio import SAMPLE_RATE
from harness.data.demo.build import Progress, build_demo_corpus, demo_name, load_demo_corpus
from harness.data.demo.plan import Speaker, Utterance, plan_corpus
from harness.data.demo.sentences import sentence_pools
from harness.data.demo.spec import DEMO_VERSION, LANGUAGES, MIN_N, ClassSpec, LanguageSpec
from harness.data.demo.synth import render

__all__ = [
    "DEMO_VERSION",
    "LANGUAGES",
    "MIN_N",
    "SAMPLE_RATE",
    "ClassSpec",
    "LanguageSpec",
    "Progress",
    "Speaker",
    "Utterance",
    "build_demo_corpus",
    "demo_name",
    "load_demo_corpus",
    "plan_corpus",
    "render",
    "sentence_pools",
]
