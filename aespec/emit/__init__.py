"""The emit stage: graph IR -> a standalone PyTorch file that does not import aespec."""
