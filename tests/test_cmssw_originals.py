"""The CMS originals against their ONNX twins on realistic padded jets, and the ISA caps of the
mxnet and tensorflow backends (benchmarks/cmssw_originals, hepinfer.data.taggers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cmssw_originals import agreement, inputs, models, verify
from hepinfer.backends.mxnet import ISA_ENV, MXNetOptions
from hepinfer.backends.tensorflow import TensorFlowOptions
from hepinfer.errors import HepinferError


@pytest.fixture(scope="module")
def jets() -> Any:
    """The leading AK8 jets of 6 generated QCD and 6 G* -> WW events (seeded, generated here)."""
    return inputs.realistic_jets(events=6, seed=3)


def test_isa_option_is_parsed_and_mapped() -> None:
    opts = MXNetOptions.from_strings("mxnet", {"isa": "avx2", "onednn": "true"})
    assert isinstance(opts, MXNetOptions) and opts.isa == "avx2"
    # MXNet 1.9.1's oneDNN is v2.4.4: it reads DNNL_MAX_CPU_ISA, not ONEDNN_MAX_CPU_ISA.
    assert ISA_ENV["avx2"] == {"DNNL_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"}
    assert ISA_ENV["native"] == {}
    assert TensorFlowOptions.from_strings("tensorflow", {"isa": "avx2"}).isa == "avx2"  # type: ignore[attr-defined]
    with pytest.raises(HepinferError, match="isa"):
        MXNetOptions.from_strings("mxnet", {"isa": "avx3"})


def test_read_verbose_names_isa_and_kernels() -> None:
    log = "\n".join(
        [
            "dnnl_verbose,info,oneDNN v2.4.4 (commit 5818c40)",
            "dnnl_verbose,info,cpu,isa:Intel AVX2",
            "dnnl_verbose,exec,cpu,convolution,jit:avx2,forward_inference,src_f32::blocked,,,mb1,0.1",
            "dnnl_verbose,exec,cpu,convolution,jit:avx2,forward_inference,src_f32::blocked,,,mb1,0.1",
            "onednn_verbose,v1,primitive,exec,cpu,inner_product,brgemm:avx2,forward_inference,,,,0.01",
            "unrelated line",
        ]
    )
    info = verify.read_verbose(log)
    assert info["version"].startswith("oneDNN v2.4.4")
    assert info["isa"] == "Intel AVX2"
    assert info["implementations"] == {"convolution:jit:avx2": 2, "inner_product:brgemm:avx2": 1}


def test_output_spread_tells_one_hot_from_soft() -> None:
    from hepinfer.data.taggers import output_spread

    hot = output_spread(np.eye(4)[[0, 1, 2, 3, 0]])
    assert hot["saturated_fraction"] == 1.0 and hot["entropy_median"] < 1e-12
    soft = output_spread(np.full((3, 4), 0.25))
    assert soft["max_prob_median"] == pytest.approx(0.25)
    assert soft["entropy_median"] == pytest.approx(np.log(4)) and soft["saturated_fraction"] == 0.0


def test_tagger_inputs_are_padded_as_cmssw_pads(jets: Any) -> None:
    from hepinfer.data.tagger_particles import particle_counts
    from hepinfer.data.taggers import deepak8_inputs, deepdoubleb_inputs, deepjet_inputs

    x = deepak8_inputs(jets, seed=0)
    assert x["pfcand"].shape == (len(jets), 42, 100, 1) and x["sv"].shape == (len(jets), 15, 7, 1)
    counts = particle_counts(jets)
    assert counts.min() >= 1 and np.median(counts) < 100  # real multiplicities, not all slots
    for j, n in enumerate(np.minimum(counts, 100)):
        assert not x["pfcand"][j, :, n:].any()  # the padded slots are 0 after standardisation
        assert np.abs(x["pfcand"][j, 0, :n]).sum() > 0  # log pT is filled on real particles
    assert np.abs(x["pfcand"]).max() <= 5.0  # CMSSW's clip
    again = deepak8_inputs(jets, seed=0)
    np.testing.assert_array_equal(x["pfcand"], again["pfcand"])  # seeded
    d = deepdoubleb_inputs(jets, seed=0)
    assert d["input_1"].shape == (len(jets), 1, 27) and d["input_2"].shape == (len(jets), 60, 8)
    assert d["input_1"][:, 0, 0].min() >= 1  # jetNTracks: every jet has charged particles
    k = deepjet_inputs(jets, seed=0)
    assert k["input_2"].shape == (len(jets), 25, 16) and k["input_5"].min() > 100  # jet pT in GeV


@pytest.mark.slow
def test_deepak8_agreement_on_realistic_jets_is_not_saturated(
    shared_models: Path, jets: Any, tmp_path: Path
) -> None:
    from hepinfer.backends.registry import backend_class

    reason = backend_class("mxnet").unavailable_reason()
    if reason is not None:
        pytest.skip(f"mxnet: {reason}")
    case = dict(agreement.AGREEMENT[0], configs=[{"onednn": "false"}])
    rows = agreement.agreement(jets, tmp_path, cases=[case])
    assert len(rows) == 1
    row = rows[0]
    assert row["jets"] == len(jets)
    # Realistic inputs give soft scores: the agreement is measured where it means something.
    assert row["spread"]["max_prob_median"] < 0.99
    assert row["spread"]["saturated_fraction"] < 0.5
    assert 0.0 <= row["fraction_within"] <= 1.0 and np.isfinite(row["max_abs"])
    assert row["max_abs"] < 1e-4 and row["argmax_flips"] == 0.0  # CMS's twin agrees with MXNet
    assert row["openblas_core"]  # the record says which OpenBLAS kernels MXNet ran


def test_deepjet_v01_graphdef_exposes_its_class_probabilities(shared_models: Path) -> None:
    # DeepJet V01 concatenates ID_pred/Softmax into its pT regression: the regression is the
    # only node nothing consumes, and taking it alone left the flavour probabilities out.
    from hepinfer.zoo import model_ref, spec_of

    ref = model_ref(models.DEEPJET, None, models.DEEPJET_SHAPES)
    names = [t.name for t in spec_of(ref).outputs]
    assert names == ["ID_pred/Softmax", "regression_pred/BiasAdd"]
