"""Corpus readers: MSP-Podcast (Odyssey 2024), EmoSpeech 2024 and MEACorpus 2023 -> Corpus.

A researcher learns about a broken corpus from the reader, before any model trains for an hour, so
every reader checks everything it can cheaply check (columns, ids, class codes, attribute values,
split names, audio headers, transcript encodings) and raises ONE :class:`HarnessError` that names
the file, the line (the header is line 1) and the fix.

One module per corpus layout (:mod:`.msp_podcast`, :mod:`.emospeech`), sharing strict CSV tables
(:mod:`.tables`), folder, audio and transcript checks (:mod:`.common`) and the carving of a
Development split for corpora that ship none (:mod:`.development`). Each reader takes the
challenge it reads for by registry name (``challenge=``), so classes and splits come from the
challenge object, never from a literal here.
"""

from harness.data.readers.emospeech import read_emospeech, read_meacorpus
from harness.data.readers.msp_podcast import read_msp_podcast
from harness.data.readers.tables import Table, read_table

__all__ = ["Table", "read_emospeech", "read_meacorpus", "read_msp_podcast", "read_table"]
