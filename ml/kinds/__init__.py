"""The job kinds, chosen by name: ``JOB_KINDS`` and ``get_kind``.

Each module below registers its kinds with ``ml.kinds.spec.register_kind`` when imported;
adding a kind is one module and one line here. The registry's types live in
``ml.kinds.spec``, which imports no kind.
"""
from ml.kinds import (autoencoder, classifier, dataset_stats, projection,  # noqa: F401
                      scattering_features)
from ml.kinds import backbone_features  # noqa: F401
from ml.kinds import contrastive_features  # noqa: F401
from ml.kinds import label_features  # noqa: F401
from ml.kinds import live_features  # noqa: F401
from ml.kinds.spec import JOB_KINDS, QUEUES, JobCancelled, JobKind, get_kind

__all__ = ["JOB_KINDS", "QUEUES", "JobCancelled", "JobKind", "get_kind"]
