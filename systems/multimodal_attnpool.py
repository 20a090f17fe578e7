"""``multimodal_attnpool``: the BSC-UPC EmoSpeech 2024 winner (Task 2, macro-F1 0.8669).

Frozen XLS-R 300M speech frames (a learned softmax-weighted sum of its 24 layers, LayerNorm) and
frozen Spanish RoBERTa-large token states (LayerNorm) are concatenated along time and summarised by
ONE attention pooling with a trainable query, then classified by Linear/LayerNorm/GELU/dropout
blocks of width 512 (see :mod:`systems.components.attention_fusion`). Training: cross-entropy
weighted by inverse class frequency, AdamW (lr 5e-5, weight decay 0.01), batch 16, random 5.5 s
crops (short utterances repetition-padded), whole utterances at evaluation, augmentation (speed
perturbation, reverberation, background noise) with probability 0.3, the epoch with the best
Dev_bal macro-F1 kept. ``ensemble=[{...}, ...]`` trains one head per list entry (parameter
overrides) and averages their posteriors, as the submission averaged its top configurations.

Because both encoders are frozen, their outputs are cached by content
(:mod:`systems.components.frozen_encoders`) and only the head trains:

* ``feature_cache: true`` (default): whole-utterance states of every layer are cached; training
  crops are cut from the cached frames; augmentation uses ``augment_copies`` cached augmented
  copies of each training utterance (drawn with probability ``augment_prob`` per item and epoch)
  instead of a fresh perturbation every time. Head retraining then never runs an encoder.
* ``feature_cache: false``: the reference's on-the-fly recipe: every training crop is cut from the
  waveform, perturbed and re-encoded; only evaluation states are kept (in memory).

``modalities=[audio]`` / ``[text]`` run the same model on one modality (ablations). Attributes
use the same head with 3 outputs and the negative mean CCC on standardised targets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.data import predictions as P
from harness.data.manifest import ATTRIBUTES
from harness.errors import HarnessError
from harness.params import (
    Rule,
    choice,
    either,
    flag,
    integer,
    items,
    mapping,
    number,
    optional,
    text,
)
from harness.system import System
from systems.components.params import DROPOUT, PROBABILITY, model_config_rule, store_params
from systems.components.speech_encoders import WHISPER_WINDOW_SECONDS
from systems.components.threads import torch_threads

log = logging.getLogger(__name__)

MEMBER_KEYS = (
    "hidden_layers",
    "hidden_width",
    "dropout",
    "fusion",
    "lr",
    "weight_decay",
    "batch_size",
    "epochs",
    "crop_seconds",
    "augment_prob",
    "class_weighting",
    "seed",
)
"""Parameters an ensemble member may override: the head and its training, never an encoder (so
every member reads the same cached states)."""
MODALITIES = ("audio", "text")
FUSIONS = ("joint", "concat")  # systems.components.attention_fusion.FUSIONS (imports torch)
_HEAD_RULES = {
    "fusion": choice(*FUSIONS),
    "hidden_layers": integer(ge=0),  # blocks after the input block: 0 is one block
    "hidden_width": integer(ge=1),
    "dropout": DROPOUT,
    "class_weighting": choice("inverse_frequency", "none"),
    "epochs": integer(ge=1),
    "lr": number(gt=0),
    "weight_decay": number(ge=0),
    "batch_size": integer(ge=1),
    "crop_seconds": optional(number(ge=0)),  # null or 0: whole utterances
    "augment_prob": PROBABILITY,
}
MEMBER_RULES = {**_HEAD_RULES, "seed": integer(ge=0)}
"""What an ensemble member's overrides take: the top-level rules of those names, but a seed
goes to ``int()`` and a numpy seed sequence, so null (the run's seed) is for the top level only."""


def _ensemble_rule(fields: Mapping[str, Rule]) -> Rule:
    """null (one model) or a non-empty list of override mappings (null or {}: no override)
    whose keys are among ``fields`` and whose values pass those keys' rules."""
    entries = items(optional(mapping(**fields)))
    return Rule(
        lambda v: v is None or entries.accepts(v),
        "null, or a non-empty list of mappings of overrides with keys among "
        f"{', '.join(fields)} (each value as that parameter takes it)",
    )


class MultimodalAttnPool(System):
    """Frozen speech + text encoders, one attention pooling over both sequences, MLP head."""

    name = "multimodal_attnpool"
    tasks = ("categorical", "attributes")
    modalities = ("audio", "text")
    cross_fit = False  # k refits of a network are too dear: stacking uses Dev_bal
    param_rules = {
        # null: unused (modalities=[text], or a speech_scratch config); check_ready says if needed
        "speech_backbone": optional(text()),
        "speech_scratch": optional(model_config_rule("speech encoder config")),
        "whisper_window_seconds": optional(number(gt=0, le=WHISPER_WINDOW_SECONDS)),  # null: 30
        "text_backbone": optional(text()),
        "text_scratch": optional(model_config_rule("RobertaConfig")),
        "text_max_length": integer(ge=2),  # the tokenizer's special tokens at least
        "modalities": either(choice(*MODALITIES), items(choice(*MODALITIES))),
        **_HEAD_RULES,
        "speed_factors": items(number(gt=0), min_length=0),  # []: no speed perturbation
        "noise_dir": optional(text()),
        "rir_dir": optional(text()),
        "noise_snr_db": items(number(), length=2, ordered=True),
        "augment_copies": integer(ge=0),  # 0: cached training states are never augmented
        "feature_cache": flag(),
        "ensemble": _ensemble_rule(MEMBER_RULES),
        "cpu": flag(),
        "num_threads": optional(integer(ge=0)),  # null or 0: torch as it is
        "seed": optional(integer(ge=0)),  # null: the run's seed
    }

    def __init__(
        self,
        speech_backbone,
        speech_scratch,
        whisper_window_seconds,
        text_backbone,
        text_scratch,
        text_max_length,
        modalities,
        fusion,
        hidden_layers,
        hidden_width,
        dropout,
        class_weighting,
        epochs,
        lr,
        weight_decay,
        batch_size,
        crop_seconds,
        augment_prob,
        speed_factors,
        noise_dir,
        rir_dir,
        noise_snr_db,
        augment_copies,
        feature_cache,
        ensemble,
        cpu,
        num_threads,
        seed,
    ) -> None:
        store_params(self, locals())

    # ==========================================================================================
    # fit
    # ==========================================================================================
    def fit(
        self, train: pd.DataFrame, dev: pd.DataFrame, *, task: str, classes: tuple[str, ...]
    ) -> MultimodalAttnPool:
        """Encode (or read the cache), then train every ensemble member's head on Train."""
        with torch_threads(self.num_threads):
            return self._fit(train, dev, task=task, classes=classes)

    def _fit(self, train, dev, *, task, classes) -> MultimodalAttnPool:
        self.check_task(task)
        started = time.perf_counter()
        self.task_, self.classes_ = task, tuple(classes)
        self.modalities_ = self._modalities()
        self.members_params_ = self._members()
        self.augmenter_ = self._augmenter()  # a wrong noise/RIR directory fails before work
        train = self._training_rows(train)
        dev = self._dev_rows(dev)
        targets = self._targets(train)
        self._prepare_encoders()
        # Without the cache, training crops are re-encoded: only their paths (and text) are needed.
        train_states = self.inputs_.states(train, speech=bool(self.feature_cache))
        dev_states = self.inputs_.states(dev) if dev is not None and len(dev) else None
        self.members_, self.histories_ = [], []
        for k, params in enumerate(self.members_params_):
            model, history = self._fit_member(
                k, params, train, train_states, targets, dev, dev_states
            )
            self.members_.append(model)
            self.histories_.append(history)
        self.dev_scores_ = self._dev_scores(dev, dev_states)
        self.fit_seconds_ = round(time.perf_counter() - started, 2)
        return self

    def check_ready(self) -> None:
        """The encoders of the modalities used are local (or built from a scratch config)."""
        from systems.components.frozen_encoders import check_encoders

        used = self._modalities()
        check_encoders(
            self.speech_backbone if "audio" in used else None,
            self.speech_scratch,
            self.text_backbone if "text" in used else None,
            self.text_scratch,
            window_seconds=self.whisper_window_seconds,
        )

    def _modalities(self) -> tuple[str, ...]:
        wanted = [self.modalities] if isinstance(self.modalities, str) else list(self.modalities)
        unknown = sorted(set(wanted) - {"audio", "text"})
        if unknown or not wanted:
            raise HarnessError(
                f"unknown modalities {unknown or wanted}",
                fix="use modalities=[audio,text], [audio] or [text]",
            )
        return tuple(m for m in ("audio", "text") if m in wanted)

    def _members(self) -> list[dict[str, Any]]:
        base = {key: getattr(self, key) for key in MEMBER_KEYS}
        if not self.ensemble:
            return [base]
        members = []
        for overrides in self.ensemble:
            overrides = dict(overrides or {})
            bad = sorted(set(overrides) - set(MEMBER_KEYS))
            if bad:
                raise HarnessError(
                    f"ensemble members cannot override {', '.join(bad)}",
                    fix=f"members may set {', '.join(MEMBER_KEYS)}",
                )
            members.append({**base, **overrides})
        return members

    def _training_rows(self, train: pd.DataFrame) -> pd.DataFrame:
        """Rows with a reference for the task: scored classes only (O/X cannot train an output)."""
        if self.task_ == "categorical":
            rows = train[train["label"].isin(self.classes_)]
        else:
            rows = train.dropna(subset=list(ATTRIBUTES))
        if len(rows) < 2:
            raise HarnessError(f"{self.name} needs labelled training utterances; found {len(rows)}")
        self.dropped_train_rows_ = int(len(train) - len(rows))
        return rows.reset_index(drop=True)

    def _dev_rows(self, dev: pd.DataFrame | None) -> pd.DataFrame | None:
        if dev is None:
            return None
        if self.task_ == "categorical":
            return dev[dev["label"].isin(self.classes_)].reset_index(drop=True)
        return dev.dropna(subset=list(ATTRIBUTES)).reset_index(drop=True)

    def _targets(self, train: pd.DataFrame) -> np.ndarray:
        from harness.prior import class_prior

        if self.task_ == "categorical":
            labels = train["label"].astype(str).to_numpy()
            self.train_prior_ = class_prior(labels, self.classes_)
            self.outputs_ = self.classes_
            return np.asarray([self.classes_.index(v) for v in labels], dtype=np.int64)
        values = train[list(ATTRIBUTES)].to_numpy(dtype=np.float64)
        self.target_mean_ = values.mean(axis=0)
        self.target_std_ = np.maximum(values.std(axis=0), 1e-6)
        self.outputs_ = ATTRIBUTES
        return ((values - self.target_mean_) / self.target_std_).astype(np.float32)

    # -- encoders and their cache -------------------------------------------------------------
    def _device(self) -> str:
        from systems.components.devices import torch_device

        return torch_device(bool(self.cpu))

    def _prepare_encoders(self) -> None:
        """Build the frozen encoders the modalities need, each with a content-keyed store."""
        from systems.components.encoded_inputs import EncodedInputs

        self.inputs_ = EncodedInputs(
            self.modalities_,
            who=self.name,
            speech_backbone=self.speech_backbone,
            speech_scratch=self.speech_scratch,
            whisper_window_seconds=self.whisper_window_seconds,
            text_backbone=self.text_backbone,
            text_scratch=self.text_scratch,
            text_max_length=self.text_max_length,
            cache_root=Path(self.cache_dir) if self.feature_cache and self.cache_dir else None,
            seed=self.seed,
            cpu=bool(self.cpu),
            num_threads=self.num_threads,
            device=self._device(),
        )
        self.speech_layers_ = self.inputs_.speech_layers
        self.speech_dim_, self.text_dim_ = self.inputs_.speech_dim, self.inputs_.text_dim

    def augmented_states(self, path: str, copy: int):
        """Cached states of augmented copy ``copy`` of one training utterance."""
        settings = [self.seed, list(self.speed_factors), self.noise_dir, self.rir_dir,
                    list(self.noise_snr_db)]  # fmt: skip
        return self.inputs_.augmented(path, copy, settings, self.augmenter_)

    def _augmenter(self):
        from systems.components.attnpool_data import OneEffectAugmenter

        return OneEffectAugmenter(
            speed_factors=self.speed_factors,
            noise_dir=self.noise_dir,
            rir_dir=self.rir_dir,
            snr_db=self.noise_snr_db,
        )

    # -- one member -----------------------------------------------------------------------------
    def _new_model(self, params: dict[str, Any]):
        import torch

        from systems.components.attention_fusion import AttnPoolFusion

        torch.manual_seed(int(params["seed"]))
        return AttnPoolFusion(
            modalities=self.modalities_,
            speech_layers=self.speech_layers_,
            speech_dim=self.speech_dim_,
            text_dim=self.text_dim_,
            fusion=params["fusion"],
            width=int(params["hidden_width"]),
            hidden_layers=int(params["hidden_layers"]),
            dropout=float(params["dropout"]),
            outputs=len(self.outputs_),
        )

    def _fit_member(self, k, params, train, states, targets, dev, dev_states):
        from systems.components.attnpool_data import Indices, TrainCollate
        from systems.components.training import TrainConfig
        from systems.components.training import train as run_training

        model = self._new_model(params)
        collate = TrainCollate(self, params, train, states, targets)
        config = TrainConfig(
            epochs=int(params["epochs"]),
            lr=float(params["lr"]),
            weight_decay=float(params["weight_decay"]),
            optimizer="adamw",
            batch_size=int(params["batch_size"]),
            effective_batch=int(params["batch_size"]),
            warmup_fraction=0.0,
            schedule="constant",
            max_grad_norm=None,
            bf16=True,
            seed=int(params["seed"]),
            checkpoint_dir=self._checkpoint_dir(k, params, train, dev),
            cpu=self._device() == "cpu",
            progress=True,  # on a terminal: the first epochs also encode augmented copies
        )
        evaluate = None
        if dev_states is not None:
            evaluate = lambda m: self._score(dev, self._outputs(m, dev_states))  # noqa: E731
        history = run_training(
            model,
            Indices(len(train)),
            collate,
            self._loss_fn(params, targets),
            config,
            evaluate=evaluate,
            on_epoch_start=collate.set_epoch,
            description=f"{self.name} member {k + 1}",
        )
        model.to("cpu").eval()
        return model, {k: history[k] for k in ("loss", "dev", "best_epoch", "steps")}

    def _loss_fn(self, params, targets):
        import torch
        import torch.nn.functional as F

        from systems.components.ccc_loss import ccc_loss

        if self.task_ == "attributes":
            return lambda model, batch: ccc_loss(model(**batch["inputs"]).float(), batch["target"])
        weight = None
        if params["class_weighting"] == "inverse_frequency":
            counts = np.bincount(targets, minlength=len(self.classes_)).astype(float)
            weight = torch.as_tensor(
                np.where(counts > 0, 1.0 / np.maximum(counts, 1) * counts.sum(), 0.0),
                dtype=torch.float32,
            )
        elif params["class_weighting"] != "none":
            raise HarnessError(
                f"unknown class_weighting {params['class_weighting']!r}",
                fix="use inverse_frequency or none",
            )

        def loss_fn(model, batch):
            logits = model(**batch["inputs"]).float()
            w = None if weight is None else weight.to(logits.device)
            return F.cross_entropy(logits, batch["target"], weight=w)

        return loss_fn

    def _checkpoint_dir(self, k, params, train, dev) -> str | None:
        """``work_dir/<task>-<fingerprint>/member<k>``: a changed config or data never resumes."""
        from harness.cache import digest

        if self.work_dir is None:
            return None
        payload = {
            "params": {n: v for n, v in self.get_params().items() if n != "ensemble"},
            "member": params,
            "task": self.task_,
            "classes": list(self.classes_),
            "train": train["id"].astype(str).tolist(),
            "dev": [] if dev is None else dev["id"].astype(str).tolist(),
        }
        return str(Path(self.work_dir) / f"{self.task_}-{digest(payload, 16)}" / f"member{k + 1}")

    # -- scoring on Dev_bal ---------------------------------------------------------------------
    def _outputs(self, model, states: dict[str, list], batch: int = 32) -> np.ndarray:
        """Raw network outputs (logits or standardised attributes) on whole utterances."""
        import torch

        from systems.components.attnpool_data import batch_inputs

        device = next(model.parameters()).device
        n = len(next(iter(v for k, v in states.items() if k in ("speech", "text"))))
        rows = []
        was_training = model.training
        model.eval()
        with torch.no_grad():
            for start in range(0, n, batch):
                index = range(start, min(n, start + batch))
                inputs = batch_inputs(states, index, crops=None, device=device)
                rows.append(model(**inputs).float().cpu().numpy())
        model.train(was_training)
        return np.concatenate(rows) if rows else np.zeros((0, len(self.outputs_)))

    def _score(self, frame: pd.DataFrame, outputs: np.ndarray) -> float:
        from scoring import ccc_mean, macro_f1

        if self.task_ == "categorical":
            predicted = np.asarray(self.classes_)[outputs.argmax(axis=1)]
            return float(
                macro_f1(
                    frame["label"].astype(str).to_numpy(), predicted, labels=list(self.classes_)
                )
            )
        return float(ccc_mean(frame[list(ATTRIBUTES)].to_numpy(float), self._attributes(outputs)))

    def _dev_scores(self, dev, dev_states) -> dict[str, float] | None:
        if dev_states is None:
            return None
        outputs = [self._outputs(m, dev_states) for m in self.members_]
        scores = {f"member{k + 1}": self._score(dev, o) for k, o in enumerate(outputs)}
        if len(outputs) > 1:
            scores["ensemble"] = self._score(dev, self._combine(outputs))
        return scores

    # ==========================================================================================
    # predict
    # ==========================================================================================
    def _combine(self, outputs: list[np.ndarray]) -> np.ndarray:
        """Average of the members' posteriors (categorical) or attribute predictions."""
        if self.task_ == "categorical":
            return np.mean([_softmax(o) for o in outputs], axis=0)
        return np.mean(outputs, axis=0)

    def _attributes(self, outputs: np.ndarray) -> np.ndarray:
        values = np.asarray(outputs, np.float64) * self.target_std_ + self.target_mean_
        return np.clip(values, 1.0, 7.0)

    def _frame(self, ids, outputs: np.ndarray, *, combined: bool) -> pd.DataFrame:
        if self.task_ == "categorical":
            posteriors = outputs if combined else _softmax(outputs)
            return P.categorical(ids, posteriors, self.classes_)
        return P.attributes(ids, self._attributes(outputs))

    def predict_with_variants(
        self, data: pd.DataFrame
    ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        """The ensemble average, and each member's own predictions as ``member<k>`` variants."""
        if not hasattr(self, "members_"):
            raise HarnessError(f"{self.name} is not fitted", fix="call fit() or load() first")
        with torch_threads(self.num_threads):
            if getattr(self, "inputs_", None) is None:
                self._prepare_encoders()
            ids = data["id"].astype(str).tolist()
            if len(data) == 0:
                outputs = [np.zeros((0, len(self.outputs_))) for _ in self.members_]
            else:
                states = self.inputs_.states(data.reset_index(drop=True))
                outputs = [self._outputs(m, states) for m in self.members_]
        combined = self._combine(outputs)
        primary = self._frame(ids, combined, combined=True)
        if len(self.members_) == 1:
            return primary, {}
        return primary, {
            f"member{k + 1}": self._frame(ids, o, combined=False) for k, o in enumerate(outputs)
        }

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        return self.predict_with_variants(data)[0]

    def training_prior(self) -> np.ndarray | None:
        """Inverse-frequency weighting trains the softmax towards a uniform prior."""
        if getattr(self, "task_", None) != "categorical":
            return None
        weighted = all(p["class_weighting"] == "inverse_frequency" for p in self.members_params_)
        if weighted:
            return np.full(len(self.classes_), 1.0 / len(self.classes_))
        return np.asarray(self.train_prior_, dtype=float)

    # ==========================================================================================
    # persistence and report
    # ==========================================================================================
    def _state(self) -> dict[str, Any]:
        listed = lambda v: None if v is None else [float(x) for x in np.asarray(v)]  # noqa: E731
        return {
            "task": self.task_,
            "classes": list(self.classes_),
            "outputs": list(self.outputs_),
            "modalities": list(self.modalities_),
            "members": self.members_params_,
            "speech_layers": self.speech_layers_,
            "speech_dim": self.speech_dim_,
            "text_dim": self.text_dim_,
            "train_prior": listed(getattr(self, "train_prior_", None)),
            "target_mean": listed(getattr(self, "target_mean_", None)),
            "target_std": listed(getattr(self, "target_std_", None)),
            "histories": self.histories_,
            "dev_scores": self.dev_scores_,
            "dropped_train_rows": self.dropped_train_rows_,
            "fit_seconds": getattr(self, "fit_seconds_", None),
        }

    def save(self, directory: str | Path) -> None:
        """system.json + each member's head (layer weights, norms, query, classifier); the frozen
        encoders are not copied: ``load`` rebuilds them from their parameters when predicting."""
        from safetensors.torch import save_file

        from harness.io import atomic_path

        if not hasattr(self, "members_"):
            raise HarnessError(f"{self.name}: save() before fit()")
        directory = Path(directory)
        self._save_params(directory, {"state": self._state()})
        for k, model in enumerate(self.members_):
            tensors = {n: t.detach().cpu().contiguous() for n, t in model.state_dict().items()}
            with atomic_path(directory / f"member{k + 1}.safetensors") as tmp:
                save_file(tensors, str(tmp))

    @classmethod
    def load(cls, directory: str | Path) -> MultimodalAttnPool:
        from safetensors.torch import load_file

        directory = Path(directory)
        saved = cls._read_params(directory)
        system = cls.from_params(saved["params"])
        state = saved["state"]
        system.task_, system.classes_ = state["task"], tuple(state["classes"])
        system.outputs_ = tuple(state["outputs"])
        system.modalities_ = tuple(state["modalities"])
        system.members_params_ = state["members"]
        system.speech_layers_ = state["speech_layers"]
        system.speech_dim_, system.text_dim_ = state["speech_dim"], state["text_dim"]
        for name in ("train_prior", "target_mean", "target_std"):
            if state[name] is not None:
                setattr(system, f"{name}_", np.asarray(state[name], dtype=float))
        system.histories_, system.dev_scores_ = state["histories"], state["dev_scores"]
        system.dropped_train_rows_ = state["dropped_train_rows"]
        system.fit_seconds_ = state["fit_seconds"]
        system.members_ = []
        for k, params in enumerate(system.members_params_):
            model = system._new_model(params)
            model.load_state_dict(load_file(str(directory / f"member{k + 1}.safetensors")))
            system.members_.append(model.eval())
        return system

    def report(self) -> dict[str, Any]:
        """Modalities, encoders, per-member Dev_bal scores and learned layer weights, cache use."""
        if not hasattr(self, "members_"):
            return {}
        facts: dict[str, Any] = {
            "modalities": list(self.modalities_),
            "fusion": [p["fusion"] for p in self.members_params_],
            "speech_encoder": None,  # until the encoders are built (a loaded system predicts)
            "text_encoder": None,
            **(self.inputs_.ids() if getattr(self, "inputs_", None) else {}),
            "dev_bal": self.dev_scores_,
            "members": [],
            "dropped_train_rows": self.dropped_train_rows_,
            "fit_seconds": getattr(self, "fit_seconds_", None),
        }
        for k, model in enumerate(self.members_):
            member = {
                "overrides": (self.ensemble or [{}])[k] if self.ensemble else {},
                "trainable_parameters": sum(p.numel() for p in model.parameters()),
                "text_projection": model.text_projection is not None,
                "best_epoch": self.histories_[k].get("best_epoch"),
                "dev_per_epoch": self.histories_[k].get("dev"),
            }
            if model.audio:
                member["layer_weights"] = [
                    round(float(w), 4) for w in model.layer_weights.weights().detach()
                ]
            facts["members"].append(member)
        if getattr(self, "inputs_", None) is not None:
            facts.update(self.inputs_.cache_use())
        return facts


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Posteriors in float64 (the network's outputs are float32)."""
    from scipy.special import softmax

    return softmax(np.asarray(logits, np.float64), axis=1)
