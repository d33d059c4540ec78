"""The computational graph of a real forward pass, unrolled over a few steps, with shapes on its edges.

    x (B, T) ─► every torch operation the model really ran, recorded as it ran ─► logits, state
           nodes: operations (matmul, sigmoid, a fused recurrent layer, scaled_dot_product_attention …),
                  parameters, x
           edges: the tensor that flowed, with its named dimensions, e.g. "(B, 4H)"

Symbolic tracing (torch.fx) cannot follow our models' Python loops over time; torchview records a
real pass too, but draws with the Graphviz binary, a system package. This records the pass itself
with a TorchFunctionMode (every torch function call, in order, with the tensors it took and gave) and
forward hooks (which module each call ran in), and returns plain data; `to_dot` writes the Graphviz
text for whoever has Graphviz, and a view can lay the nodes out itself.

What it shows: hand-written cells unroll into one matmul/add/sigmoid/tanh chain per character, so the
loop over time and the gates are visible; a fused recurrent layer (nn.LSTM …) is one node; attention
shows as `scaled_dot_product_attention` per block. Reshapes,
slices and views (.T, chunk, view, transpose …) move no numbers and are folded into the edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode

from ..corpus import Vocab
from ..models.base import CharModel
from .common import MAX_CHARS, InspectError, encode_bounded, eval_mode
from .shapes import _pick, name_dims

# Operations that only re-label or slice numbers: the graph draws them as part of the edge.
PASS_THROUGH = {"__get__", "__getitem__", "view", "reshape", "transpose", "t", "chunk", "split", "unbind",
                "contiguous", "flatten", "unfold", "float", "to", "detach", "clone", "squeeze", "unsqueeze",
                "expand", "permute", "dropout", "select", "narrow", "type_as"}
# Operations that take a tensor only for its shape, dtype or device: no numbers flow from it.
SHAPE_ONLY = {"new_zeros", "new_ones", "new_full", "new_empty", "zeros_like", "ones_like", "full_like", "empty_like"}


@dataclass
class Node:
    id: int
    kind: str  # "input" (x) | "param" | "op" | "output" (logits, state)
    label: str  # the operation ("matmul", "sigmoid"), the parameter's name, "x", "logits", "state"
    module: str  # the module it ran in ("cells.0", "blocks.1.attn"); "" at the top
    dims: str  # its (first) output's named dimensions
    sizes: list[int]


@dataclass
class Edge:
    src: int
    dst: int
    dims: str  # the tensor that flowed, e.g. "(B, 4H)"


@dataclass
class Graph:
    model: str
    dims: dict[str, int]  # named dimensions and their sizes ({"B": 2, "T": 3, "H": 24, …})
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def _tensors(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    return []


class _Recorder(TorchFunctionMode):
    def __init__(self, graph: Graph, producers: dict[int, int], keep: list, stack: list[str], dims):
        super().__init__()
        self.graph, self.producers, self.keep, self.stack, self.dims = graph, producers, keep, stack, dims

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        outs = _tensors(out)
        if not outs:
            return out  # sizes, dtypes, ints: no data flows
        name = getattr(func, "__name__", str(func))
        ins = [t for t in _tensors(args) + _tensors(list((kwargs or {}).values()))
               if id(t) in self.producers and name not in SHAPE_ONLY]
        self.keep += outs + ins  # keep them alive, so no id is reused during the pass
        if name in PASS_THROUGH and ins:
            for t in outs:
                self.producers[id(t)] = self.producers[id(ins[0])]
            return out
        node = Node(len(self.graph.nodes), "op", name, self.stack[-1] if self.stack else "",
                    name_dims(outs[0].shape, self.dims), list(outs[0].shape))
        self.graph.nodes.append(node)
        for t in ins:
            self.graph.edges.append(Edge(self.producers[id(t)], node.id, name_dims(t.shape, self.dims)))
        for t in outs:
            self.producers[id(t)] = node.id
        return out


@torch.no_grad()
def record_graph(model: CharModel, vocab: Vocab, text: str, *, steps: int = 3, batch_size: int = 2,
                 params: bool = True, max_nodes: int = 600) -> Graph:
    """The graph of one forward pass over `steps` characters of `text` (a batch of `batch_size`).

    B and T are nudged off the model's sizes, as in `shapes.batch_shapes`, so each dimension has one
    name. Nodes that do not lead to the logits or the returned state are left out. A graph larger
    than `max_nodes` (a deep model over many steps) raises InspectError: draw fewer steps.
    """
    ids, _, _ = encode_bounded(vocab, text, MAX_CHARS, min_len=2)
    dims = model.named_sizes()
    hi = min(len(ids) - 1, model.max_seq_len or len(ids))
    T = _pick(min(steps, hi), set(dims.values()), hi)
    B = _pick(batch_size, set(dims.values()) | {T}, max(batch_size, 8))
    dims = {"B": B, "T": T, **dims}
    # row i starts at character i, or as late as a whole window fits (a 2-character text: every row the same)
    x = torch.stack([ids[s:s + T] for s in (min(i, len(ids) - T) for i in range(B))]).to(model.device)  # (B, T)

    graph = Graph(type(model).__name__, dims)
    producers: dict[int, int] = {}
    keep: list = [x]
    graph.nodes.append(Node(0, "input", "x", "", name_dims(x.shape, dims), list(x.shape)))
    producers[id(x)] = 0
    for name, p in model.named_parameters():
        if params:
            graph.nodes.append(Node(len(graph.nodes), "param", name, name.rpartition(".")[0],
                                    name_dims(p.shape, dims), list(p.shape)))
            producers[id(p)] = graph.nodes[-1].id
    stack: list[str] = []
    paths = {m: p for p, m in model.named_modules() if p}

    def leave(module, args, out) -> None:  # returns None: a forward hook's return value replaces the output
        stack.pop()

    handles = [m.register_forward_pre_hook(lambda m, a: stack.append(paths[m])) for m in paths]
    handles += [m.register_forward_hook(leave) for m in paths]
    try:
        with eval_mode(model), _Recorder(graph, producers, keep, stack, dims):
            logits, state = model(x, None)
    finally:
        for h in handles:
            h.remove()
    for label, t in [("logits", logits)] + [("state", s) for s in _tensors(state)]:
        node = Node(len(graph.nodes), "output", label, "", name_dims(t.shape, dims), list(t.shape))
        graph.nodes.append(node)
        if id(t) in producers:
            graph.edges.append(Edge(producers[id(t)], node.id, node.dims))
    _prune(graph)
    if len(graph.nodes) > max_nodes:
        raise InspectError(f"the graph has {len(graph.nodes)} nodes, more than {max_nodes} can be drawn "
                           "readably; record fewer steps")
    return graph


def _prune(graph: Graph) -> None:
    """Keep only nodes from which an output can be reached; renumber them in order."""
    into: dict[int, list[int]] = {}
    for e in graph.edges:
        into.setdefault(e.dst, []).append(e.src)
    live = {n.id for n in graph.nodes if n.kind == "output"}
    todo = list(live)
    while todo:
        for src in into.get(todo.pop(), []):
            if src not in live:
                live.add(src)
                todo.append(src)
    new = {}
    nodes = []
    for n in graph.nodes:
        if n.id in live:
            new[n.id] = len(nodes)
            n.id = len(nodes)
            nodes.append(n)
    graph.nodes = nodes
    graph.edges = [Edge(new[e.src], new[e.dst], e.dims) for e in graph.edges if e.src in new and e.dst in new]


def to_dot(graph: Graph) -> str:
    """Graphviz text: operations as boxes grouped by module, parameters as ellipses, shapes on edges."""
    shape = {"op": "box", "param": "ellipse", "input": "invhouse", "output": "house"}
    lines = [f'digraph "{graph.model}" {{', "  rankdir=TB; node [fontsize=10]; edge [fontsize=9];"]
    by_module: dict[str, list[Node]] = {}
    for n in graph.nodes:
        by_module.setdefault(n.module if n.kind == "op" else "", []).append(n)
    for k, (module, nodes) in enumerate(by_module.items()):
        if module:
            lines.append(f'  subgraph cluster_{k} {{ label="{module}"; style=dashed;')
        for n in nodes:
            lines.append(f'    n{n.id} [label="{n.label}\\n{n.dims}", shape={shape[n.kind]}];')
        if module:
            lines.append("  }")
    lines += [f'  n{e.src} -> n{e.dst} [label="{e.dims}"];' for e in graph.edges]
    lines.append("}")
    return "\n".join(lines)
