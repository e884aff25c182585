"""The model zoo: small trained transformers with documented heads, loadable as ``zoo:NAME``.

This layer only resolves a name to its checkpoint and card: :func:`zoo_names`, :func:`zoo_path`,
:func:`zoo_card`. Training and card verification are methods, in :mod:`circuits.zoo`.
"""

from interp.zoo.registry import ZOO_DIR as ZOO_DIR
from interp.zoo.registry import zoo_card as zoo_card
from interp.zoo.registry import zoo_names as zoo_names
from interp.zoo.registry import zoo_path as zoo_path
