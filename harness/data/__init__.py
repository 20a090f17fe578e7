"""Data contracts (Manifest, Predictions), corpus readers, audio I/O and the demo corpus."""
