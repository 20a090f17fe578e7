"""Odyssey 2024 Speech Emotion Recognition Challenge (MSP-Podcast v1.11).

Task 1: 8 categories, ranked by macro-F1. Task 2: arousal/valence/dominance on 1-7, ranked by the
mean CCC. O (other) and X (no agreement) appear in the labels but are never scored. Test3 is the
hidden, class-balanced evaluation set.
"""

from harness.challenges.base import Challenge, Track

CHALLENGE = Challenge(
    name="odyssey2024",
    title="Odyssey 2024 SER Challenge (MSP-Podcast v1.11)",
    classes=("A", "S", "H", "U", "F", "D", "C", "N"),
    class_names={
        "A": "angry",
        "S": "sad",
        "H": "happy",
        "U": "surprise",
        "F": "fear",
        "D": "disgust",
        "C": "contempt",
        "N": "neutral",
        "O": "other",
        "X": "no agreement",
    },
    train_only_classes=("O", "X"),
    tasks=("categorical", "attributes"),
    tracks=(
        Track("task1", "Task 1 (categorical)", "categorical"),
        Track("task2", "Task 2 (attributes)", "attributes"),
    ),
    attribute_range=(1.0, 7.0),
    splits=("Train", "Development", "Test1", "Test2", "Test3"),
    eval_splits=("Test1", "Test2", "Test3"),
    submission_split="Test3",
    hidden_splits=("Test3",),
    id_column="FileName",
    label_column="EmoClass",
    attribute_columns={"arousal": "EmoAct", "valence": "EmoVal", "dominance": "EmoDom"},
    corpora=("msp_podcast",),
    eval_prior="uniform",  # Test3 is balanced over the 8 classes
)
