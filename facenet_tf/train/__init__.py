"""Training: strategies, the custom triplet loop and its absl binary."""
