"""Study 4 of docs/seeds.md re-measured with the originals CMS deployed before ONNX Runtime.

DeepAK8 as an MXNet checkpoint, DeepDoubleB 94X and DeepJet V01 as TF1 frozen GraphDefs
(../shared/models/cms-originals), each against ONNX Runtime on its ONNX twin (CMS's own file;
for DeepJet V01, which has none, tf2onnx's conversion and the later Run3 training), per event
at batch 1 and 1 thread, with and without an AVX2 cap on the originals' oneDNN (and MXNet's
OpenBLAS), beside the published seconds per event (CMSSW 2019).

Three parts (``--parts``, default all):

- ``timing``: ``hepinfer bench`` of every case, the ISA variants included;
- ``agreement``: original against twin on realistic padded jets (generated AK8 jets, inputs
  built by ``hepinfer.data.taggers``), one jet per call as CMSSW runs them, with the spread of
  the outputs (so that a 0 difference cannot hide one-hot saturation);
- ``verify``: one worker per capped configuration with oneDNN's verbose log on, to read the
  ISA oneDNN says it runs with and the kernels it picked (and OpenBLAS's core for MXNet).

    PYTHONPATH=src python benchmarks/cmssw_originals [--parts timing,agreement,verify]
        [--max-time 5] [--events 200] [--out DIR]

Needs the mxnet venv (make mxnet) for DeepAK8. Prints Markdown tables and writes the records,
``rows.json``, ``agreement.json``, ``verify.json`` and ``table.md`` under
benchmarks/results/cmssw_originals/.

Modules: ``models`` (the files and their shapes), ``inputs`` (the generated jets),
``worker`` (one original or twin run in a worker), ``timing``, ``agreement`` and ``verify``
(the three parts, each with its table), ``run`` (the command line).
"""
