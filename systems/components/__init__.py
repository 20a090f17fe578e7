"""Parts shared by several systems: poolings, LoRA set-up, prior correction, back-ends, losses,
the training loop and augmentation. Modules that need torch import it themselves, so importing
this package stays cheap."""
