"""The SqueezeTime network and what loads it: pure model modules (``model``, ``roi``),
safe checkpoint reading (``checkpoints``), building and loading it (``build``), and file
hashes computed again only on change (``hashes``)."""
