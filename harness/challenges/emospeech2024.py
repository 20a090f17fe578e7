"""EmoSpeech at IberLEF 2024 (Spanish, MEACorpus 2023).

Task 1 (text only) and Task 2 (multimodal) are both 6-class problems ranked by macro-F1. The
organisers' exact submission layout is unconfirmed; ``id,label`` is assumed, and it is defined
only here (``id_column``/``label_column``) so that one edit changes writer and validator together.
"""

from harness.challenges.base import Challenge, Track

CHALLENGE = Challenge(
    name="emospeech2024",
    title="EmoSpeech @ IberLEF 2024 (MEACorpus 2023)",
    classes=("anger", "disgust", "fear", "joy", "neutral", "sadness"),
    class_names={c: c for c in ("anger", "disgust", "fear", "joy", "neutral", "sadness")},
    tasks=("categorical",),
    tracks=(
        Track("task1", "Task 1 (text only)", "categorical", ("text",)),
        Track("task2", "Task 2 (multimodal)", "categorical", ("audio", "text")),
    ),
    splits=("Train", "Development", "Test"),
    eval_splits=("Test",),
    submission_split="Test",
    id_column="id",
    label_column="label",
    corpora=("emospeech", "meacorpus"),
    # The test set follows MEACorpus's natural distribution (neutral and disgust dominant, fear
    # rare), so correcting to a uniform prior would lower its macro-F1.
    eval_prior="train",
)
