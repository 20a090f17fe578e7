"""Progress bars of the inference loops: on a terminal, one bar over every utterance or text
(a real corpus's Development set is tens of thousands of them); off a terminal, nothing."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


class _Source:
    """Twelve one-second utterances of 4-dim frames."""

    def __init__(self, n: int = 12) -> None:
        self.durations = np.ones(n)

    def __len__(self) -> int:
        return len(self.durations)

    def features(self, index, frontend, max_seconds=None):
        return {"frames": torch.full((5, 4), float(index))}


class _Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, frames):
        pooled = frames.mean(dim=1)
        return {"output": self.linear(pooled), "embedding": pooled}


def test_speech_inference_counts_every_utterance(bars):
    from systems.components.audio_data import run_model

    out = run_model(_Model(), None, _Source(), batch_seconds=4.0, description="probe: predicting")
    assert bars == [("probe: predicting", 12, 12)]
    np.testing.assert_allclose(out["embedding"][:, 0], np.arange(12))  # in input order


def test_speech_inference_bar_can_be_turned_off_and_one_batch_needs_none(bars):
    from systems.components.audio_data import run_model

    run_model(_Model(), None, _Source(), batch_seconds=4.0, show_progress=False)
    run_model(_Model(), None, _Source(), batch_seconds=100.0)  # one batch: nothing to follow
    assert bars == []


def test_text_inference_counts_every_sequence(bars):
    from transformers import BertConfig, BertForSequenceClassification

    from systems.components.hf_text import predict_logits

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        num_labels=3,
    )
    model = BertForSequenceClassification(config).eval()
    sequences = [[1, 2 + i % 7, 3] + [4] * (i % 5) for i in range(10)]
    logits = predict_logits(
        model, sequences, pad_id=0, batch_size=4, side="right", decoder=False, description="t"
    )
    assert bars == [("t", 10, 10)]
    assert logits.shape == (10, 3)
