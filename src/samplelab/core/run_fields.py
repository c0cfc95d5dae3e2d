"""Names of what a run records beyond its learning curve, shared by the ledger (its columns and
:class:`~samplelab.ledger.store.RunRecord` attributes) and by study files (what an analysis may name)."""

# Optional learning curves (float32 [K+1] arrays, one value per evaluation).
CURVE_COLUMNS = ("validation_loss", "test_loss", "train_metric", "train_set_loss")
# Optional end-of-training numbers (one float per run).
SCALAR_COLUMNS = ("weight_sparsity", "embedding_dimension", "embedding_dimension_twonn")
