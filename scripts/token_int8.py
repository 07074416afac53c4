"""Per-token int8 quantisation of an fp32 transformer's weight MatMuls, for ONNX Runtime.

Each MatMul whose second input is a weight becomes ONNX Runtime's ``MatMulIntegerToFloat``
of uint8 activations and int8 weights (one scale per output column), which also scales
the product back to float, by the token's scale and the column's. The activations are
quantised inside the graph, one scale per token (its largest magnitude over the hidden
size), so a text's vector does not depend on the other texts of its batch, unlike
``quantize_dynamic``, which gives a whole call one scale. Few nodes matter as much as few
operations: for one short prompt, most of the model's time is the fixed cost of each node.

A few hidden channels of a transformer carry values far larger than the rest, and a
per-token scale set by them leaves the others few levels. As in SmoothQuant (Xiao et al.,
2022), each input channel j of a MatMul is divided by s_j = a_j^alpha / w_j^(1 - alpha)
before quantising and its weight row multiplied by it, where a_j is the channel's largest
activation on calibration texts and w_j its row's largest weight: the product is unchanged
and both sides quantise well. MatMuls that read the same tensor (a layer's query, key and
value) share one s and one quantised input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

Feed = Callable[[str], dict[str, np.ndarray]]

ALPHA = 0.7
"""How much of the activations' range moves into the weights (0.5 to 0.8 worked here)."""


def quantize_per_token(
    fp32_path: Path, out_path: Path, feed: Feed, texts: Iterable[str], *, alpha: float = ALPHA
) -> int:
    """Write ``out_path``: ``fp32_path`` with its weight MatMuls in per-token int8.
    ``feed`` turns one calibration text into the model's inputs. Returns how many MatMuls
    were rewritten."""
    model = onnx.load(str(fp32_path))
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    groups: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and weights.get(node.input[1], np.empty(0)).ndim == 2:
            groups.setdefault(node.input[0], []).append(node)
    peaks = _channel_peaks(fp32_path, list(groups), feed, texts)

    # By output name: protobuf may hand out a new wrapper object for a node on each pass.
    replaced: dict[str, list[onnx.NodeProto]] = {}
    for number, (source, matmuls) in enumerate(groups.items()):
        stacked = np.concatenate([weights[m.input[1]] for m in matmuls], axis=1)
        weight_peak = np.maximum(np.abs(stacked).max(axis=1), 1e-8)
        smooth = np.maximum(peaks[source], 1e-5) ** alpha / weight_peak ** (1 - alpha)
        prefix = f"token_int8_{number}_"
        nodes = _quantize_input(model.graph, source, 1.0 / smooth, prefix)
        for index, matmul in enumerate(matmuls):
            weight = weights[matmul.input[1]].astype(np.float32) * smooth[:, None]
            nodes.append(_integer_matmul(model.graph, weight, matmul.output[0], prefix, index))
        replaced[matmuls[0].output[0]] = nodes
        for matmul in matmuls[1:]:
            replaced[matmul.output[0]] = []

    rewritten = [new for node in model.graph.node for new in replaced.get(node.output[0], [node])]
    del model.graph.node[:]
    model.graph.node.extend(rewritten)
    used = {name for node in model.graph.node for name in node.input}
    kept = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return sum(len(m) for m in groups.values())


def _channel_peaks(
    fp32_path: Path, tensors: list[str], feed: Feed, texts: Iterable[str]
) -> dict[str, np.ndarray]:
    """The largest magnitude of each channel of ``tensors`` over the texts, run one at a
    time so that no padding is counted."""
    probe = onnx.load(str(fp32_path))
    probe.graph.output.extend(
        helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in tensors
    )
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    peaks: dict[str, np.ndarray] = {}
    for text in texts:
        for name, value in zip(tensors, session.run(tensors, feed(text)), strict=True):
            peak = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            peaks[name] = np.maximum(peaks.get(name, peak), peak)
    return peaks


def _constant(graph: onnx.GraphProto, name: str, value: np.ndarray) -> str:
    graph.initializer.append(numpy_helper.from_array(value, name))
    return name


def _quantize_input(
    graph: onnx.GraphProto, source: str, inverse_smooth: np.ndarray, prefix: str
) -> list[onnx.NodeProto]:
    """Nodes giving ``{prefix}q`` (uint8, zero point 128) and ``{prefix}peak`` (each
    token's largest magnitude, 127 times its scale) for ``source`` divided by the smoothing
    factors. Adding 128.5 before the cast, which truncates, rounds to the nearest level."""
    c = prefix
    inverse = _constant(graph, c + "inverse_smooth", inverse_smooth.astype(np.float32))
    levels = _constant(graph, c + "levels", np.array(127.0, np.float32))
    tiny = _constant(graph, c + "tiny", np.array(1e-12, np.float32))
    offset = _constant(graph, c + "offset", np.array(128.5, np.float32))
    return [
        helper.make_node("Mul", [source, inverse], [c + "smoothed"]),
        helper.make_node("Abs", [c + "smoothed"], [c + "abs"]),
        helper.make_node("ReduceMax", [c + "abs"], [c + "largest"], axes=[-1], keepdims=1),
        helper.make_node("Max", [c + "largest", tiny], [c + "peak"]),
        helper.make_node("Div", [levels, c + "peak"], [c + "inverse_scale"]),
        helper.make_node("Mul", [c + "smoothed", c + "inverse_scale"], [c + "scaled"]),
        helper.make_node("Add", [c + "scaled", offset], [c + "shifted"]),
        helper.make_node("Cast", [c + "shifted"], [c + "q"], to=TensorProto.UINT8),
    ]


def _integer_matmul(
    graph: onnx.GraphProto, weight: np.ndarray, output: str, group: str, index: int
) -> onnx.NodeProto:
    """The node giving ``output`` from the group's quantised input and ``weight``: the
    token's peak is the activations' scale, the column scales carry the 1/127."""
    column_scale = np.abs(weight).max(axis=0) / 127.0
    column_scale[column_scale == 0] = 1.0
    quantized = np.clip(np.round(weight / column_scale), -127, 127).astype(np.int8)
    c = f"{group}{index}_"
    q_weight = _constant(graph, c + "weight", quantized)
    zero = _constant(graph, c + "zero_point", np.array(128, np.uint8))
    scale = _constant(graph, c + "weight_scale", (column_scale / 127.0).astype(np.float32))
    return helper.make_node(
        "MatMulIntegerToFloat",
        [group + "q", q_weight, group + "peak", scale, zero],
        [output],
        domain="com.microsoft",
    )
