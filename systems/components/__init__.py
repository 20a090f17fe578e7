"""Parts shared by several systems: poolings, LoRA set-up, Hugging Face backbones, frozen speech
and text encoders, back-ends (LDA+LR, PLDA), losses, the training loop, augmentation and the
SONAR converter. Prior correction is the harness's (:mod:`harness.prior`). Modules that need torch
import it themselves, so importing this package stays cheap."""
