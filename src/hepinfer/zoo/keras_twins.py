"""Keras 3 twins of the zoo models whose originals were Keras (jet_vae, higgs_model_dense), and
of l1_ad_vae, because hls4ml starts from Keras.

A twin has the same layers, tensor names and layout as the original Keras model, and takes
its weights from the zoo's PyTorch definition (``hepinfer.zoo.<module>.build``), so that
Keras, PyTorch and every ONNX backend compute the same function and agreement means
something. Weights are paired in order of definition: the PyTorch module's weight-bearing
layers (Linear, Conv, ConvTranspose) against the twin's, with each kernel transposed into
Keras's channels-last layout; a mismatch in count or shape is an error, not a silent
fallback.

``load_keras`` is what backends use: the twin with its weights read from a cached
``.weights.h5`` file, which a child process writes once from the PyTorch definition, so that a
TensorFlow worker never imports torch (its memory would be counted as TensorFlow's).

Importing this module imports neither keras nor torch.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hepinfer.errors import ConfigurationError

# Fixed standardisation of the jet VAE's (eta, phi, pT) inputs (../shared/zoo-spec.md).
JET_MU = (-2.5694e-4, 3.9219e-7, 3.16195)
JET_SIGMA = (0.236105, 0.239510, 14.948415)

TWINS: dict[str, str] = {
    "higgs_model_dense": "rootbench Keras Higgs MLP: 7->100, 4 x (100->100) ReLU, 100->2 sigmoid",
    "jet_vae": "jet-level conv VAE: jet [B,100,3] -> reconstruction, z_mean, z_log_var",
    "l1_ad_vae": "L1 AD VAE: objects [B,57] -> score sum(mu^2) (encoder) or recon, z (full)",
}


def has_keras(name: str) -> bool:
    """Whether the zoo model of that name has a Keras twin."""
    return name in TWINS


def build_keras(name: str, params: Mapping[str, Any], weights_from_torch: bool = True) -> Any:
    """The Keras twin of that zoo model, with the PyTorch definition's weights (imports keras)."""
    if name not in TWINS:
        raise ConfigurationError(
            f"zoo model {name} has no Keras twin (models with one: {', '.join(sorted(TWINS))})"
        )
    import keras

    keras.utils.set_random_seed(0)
    builder = {"higgs_model_dense": _higgs, "jet_vae": _jet_vae, "l1_ad_vae": _l1_ad_vae}[name]
    model, ordered = builder(keras, params)
    if weights_from_torch:
        from hepinfer.zoo import entry

        torch_model = entry(name).build(dict(params))
        copy_torch_weights(torch_model, ordered)
    return model


def load_keras(name: str, params: Mapping[str, Any]) -> Any:
    """The twin with the PyTorch definition's weights, without importing torch here."""
    path = weights_file(name, params)
    model = build_keras(name, params, weights_from_torch=False)
    model.load_weights(str(path))
    return model


def weights_file(name: str, params: Mapping[str, Any]) -> Path:
    """The cached Keras weights of the twin; written by a child process when missing."""
    import keras

    from hepinfer.cache import cache_dir, digest
    from hepinfer.zoo import entry

    sources = [
        inspect.getsource(sys.modules[__name__]),
        inspect.getsource(importlib.import_module(f"hepinfer.zoo.{entry(name).module}")),
    ]
    key = digest(name, sorted(params.items()), keras.__version__, digest(*sources))
    path = cache_dir() / "keras" / f"{name}-{key}.weights.h5"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "hepinfer.zoo.keras_twins",
        name,
        json.dumps(dict(params)),
        str(path),
    ]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not path.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigurationError(f"could not write the Keras weights of {name}: {last}")
    return path


def _write_weights(name: str, params: Mapping[str, Any], path: Path) -> None:
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.weights.h5")
    build_keras(name, params).save_weights(str(tmp))
    os.replace(tmp, path)


def _higgs(keras: Any, params: Mapping[str, Any]) -> tuple[Any, list[Any]]:
    layers = keras.layers
    x = keras.Input((7,), name="input")
    dense = [layers.Dense(100, activation="relu", name=f"dense_{i}") for i in range(5)]
    dense.append(layers.Dense(2, activation="sigmoid", name="output"))
    h = x
    for layer in dense:
        h = layer(h)
    return keras.Model(x, h, name="higgs_model_dense"), dense


def _jet_vae(keras: Any, params: Mapping[str, Any]) -> tuple[Any, list[Any]]:
    layers = keras.layers
    particles, latent = 100, 12
    pooled = (particles - 4) // 2
    standardize = _affine_layer(keras)
    x = keras.Input((particles, 3), name="jet")
    conv_in = layers.Conv2D(12, (1, 3), activation="elu", name="conv_in")
    enc1 = layers.Conv1D(16, 3, activation="elu", name="enc_conv1")
    enc2 = layers.Conv1D(20, 3, activation="elu", name="enc_conv2")
    d1 = layers.Dense(204, activation="elu", name="enc_dense1")
    d2 = layers.Dense(48, activation="elu", name="enc_dense2")
    z_mean_l = layers.Dense(latent, name="z_mean")
    z_log_var_l = layers.Dense(latent, name="z_log_var")
    g1 = layers.Dense(48, activation="elu", name="dec_dense1")
    g2 = layers.Dense(204, activation="elu", name="dec_dense2")
    g3 = layers.Dense(pooled * 20, activation="elu", name="dec_dense3")
    dec1 = layers.Conv1DTranspose(16, 3, activation="elu", name="dec_conv1")
    dec2 = layers.Conv1DTranspose(12, 3, activation="elu", name="dec_conv2")
    conv_out = layers.Conv2DTranspose(1, (1, 3), name="conv_out")

    h = standardize(
        [1.0 / s for s in JET_SIGMA],
        [-m / s for m, s in zip(JET_MU, JET_SIGMA, strict=True)],
        name="standardize",
    )(x)
    h = layers.Reshape((particles, 3, 1))(h)
    h = layers.Reshape((particles, 12))(conv_in(h))
    h = layers.AveragePooling1D(2)(enc2(enc1(h)))
    h = d2(d1(layers.Flatten()(h)))
    z_mean, z_log_var = z_mean_l(h), z_log_var_l(h)
    d = layers.Reshape((pooled, 20))(g3(g2(g1(z_mean))))
    d = dec2(dec1(layers.UpSampling1D(2)(d)))
    d = layers.Reshape((particles, 3))(conv_out(layers.Reshape((particles, 1, 12))(d)))
    recon = standardize(list(JET_SIGMA), list(JET_MU), name="reconstruction")(d)
    model = keras.Model(x, [recon, z_mean, z_log_var], name="jet_vae")
    ordered = [conv_in, enc1, enc2, d1, d2, z_mean_l, z_log_var_l, g1, g2, g3, dec1, dec2, conv_out]
    return model, ordered


def _l1_ad_vae(keras: Any, params: Mapping[str, Any]) -> tuple[Any, list[Any]]:
    """The L1 VAE with layers hls4ml converts: the score sum(mu^2) is Multiply(mu, mu) then a
    fixed Dense(1) of ones without bias (exact in fixed point), as the trigger firmware sums."""
    layers = keras.layers
    x = keras.Input((57,), name="objects")
    d1 = layers.Dense(32, activation="relu", name="enc_dense1")
    d2 = layers.Dense(16, activation="relu", name="enc_dense2")
    mu_l = layers.Dense(8, name="z_mean")
    log_var_l = layers.Dense(8, name="z_log_var")
    h = d2(d1(x))
    mu = mu_l(h)
    ordered = [d1, d2, mu_l, log_var_l]
    if params["variant"] == "encoder":
        log_var_l.build((None, 16))  # not in the trigger graph; built to take its weights
        total = layers.Dense(1, use_bias=False, trainable=False, name="score")
        score = total(layers.Multiply(name="mu_squared")([mu, mu]))
        total.set_weights([keras.ops.convert_to_numpy(keras.ops.ones((8, 1)))])
        return keras.Model(x, score, name="l1_ad_vae"), ordered
    g1 = layers.Dense(16, activation="relu", name="dec_dense1")
    g2 = layers.Dense(32, activation="relu", name="dec_dense2")
    g3 = layers.Dense(57, name="reconstruction")
    recon = g3(g2(g1(mu)))
    model = keras.Model(x, [recon, mu, log_var_l(h)], name="l1_ad_vae")
    return model, [*ordered, g1, g2, g3]


def _affine_layer(keras: Any) -> Any:
    """x * scale + offset per feature (the fixed standardisation), as a serialisable layer."""

    class Affine(keras.layers.Layer):
        def __init__(self, scale: list[float], offset: list[float], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.scale, self.offset = list(scale), list(offset)

        def call(self, x: Any) -> Any:
            ops = keras.ops
            return x * ops.convert_to_tensor(self.scale, x.dtype) + ops.convert_to_tensor(
                self.offset, x.dtype
            )

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "scale": self.scale, "offset": self.offset}

    return Affine


def copy_torch_weights(torch_model: Any, keras_layers: list[Any]) -> None:
    """Set each Keras layer's kernel and bias from the matching PyTorch layer, in order."""
    from torch import nn

    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)
    sources = [m for m in torch_model.modules() if isinstance(m, kinds)]
    if len(sources) != len(keras_layers):
        raise ConfigurationError(
            f"the PyTorch definition has {len(sources)} weight layers, the Keras twin "
            f"{len(keras_layers)}: the twin no longer matches the zoo's definition"
        )
    for src, dst in zip(sources, keras_layers, strict=True):
        w = src.weight.detach().numpy()
        if isinstance(src, nn.Linear):
            kernel = w.T
        elif isinstance(src, (nn.Conv1d, nn.ConvTranspose1d)):
            kernel = w.transpose(2, 1, 0)  # [out,in,k] -> [k,in,out]; transposed: [in,out,k] -> [k,out,in]
        else:
            kernel = w.transpose(2, 3, 1, 0)
        values = [kernel] + ([src.bias.detach().numpy()] if src.bias is not None else [])
        want = [tuple(v.shape) for v in dst.get_weights()]
        if want != [v.shape for v in values]:
            raise ConfigurationError(
                f"Keras layer {dst.name} has weights {want}, PyTorch's {type(src).__name__} "
                f"{[v.shape for v in values]}: the twin no longer matches the zoo's definition"
            )
        dst.set_weights(values)


if __name__ == "__main__":  # python -m hepinfer.zoo.keras_twins NAME PARAMS_JSON OUT
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _write_weights(sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3]))
