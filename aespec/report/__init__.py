"""The report stage: a trained model and its data -> the figures of a spec's `report` block.

`write_report` draws each item the block asks for (reconstructions, samples, manifold,
latent scatter, filters, anomaly, PCA baseline); `figures` holds the matplotlib drawing,
`pca` the baseline. torch, matplotlib and scikit-learn are imported inside functions.
"""

from aespec.report.items import ITEMS, write_report

__all__ = ["ITEMS", "write_report"]
