"""Real and generated physics events, and the builders that turn them into model inputs.

Every source (the packaged CMS files of scikit-hep-testdata, Pythia 8 + fastjet generation)
produces the same awkward-array event record, in GeV (see ``schema``), stored in parquet;
``builders`` turns events into the inputs of event_vae, jet_vae and particlenet, ``images``
makes eta-phi jet images and their kNN graphs, ``pipeline`` times reading + preprocessing +
inference from a file, and ``train`` fits the VAEs on generated background.
"""

from hepinfer._optional import require

require("awkward", "event data (hepinfer.data)")  # every module here holds events as awkward arrays
