"""Look inside a model: the computations behind the app's inspection views (issue 13).

Tensors in, plain data out (dataclasses of lists, floats and strings), one idea per file:

    predictions.py  how surprised the model was by each character; one loss worked out by hand
    neurons.py      hidden units over a text; units that track quotes, brackets, line position …
    saliency.py     which earlier characters a prediction depended on (input gradients)
    shapes.py       every tensor of one real (B, T) batch, recorded with forward hooks
    maps.py         character embeddings by PCA, a counted model's bigram table, attention weights
    diagnose.py     why a loss is flat or wild, in words; gradient statistics for the trainer
    findings.py     the diagnosis's symptoms read from the loss curves, and what advice fits a model
    nextchar.py     the next-character chart's data, and a prompt worth looking at
    graph.py        the operations of a real forward pass as a graph, shapes on the edges (+ Graphviz text)

Every function takes the model, its vocabulary and a text with an explicit bound (`max_chars`,
default 2,000 characters: longer text is cut and the result says `truncated`), and raises
`InspectError` with one plain sentence where a view does not apply to a model (a table of counts has
no neurons). None of them changes the model or its training path.

What a view needs to know about a model it asks the model (`charrnn.models.base.CharModel`: its input
layer, probes, attention layers, parameter layers, named sizes); no view branches on a model's name or
looks for its attributes, so a model added to the registry gets every view that applies to it.
"""

from .common import MAX_CHARS, InspectError
from .diagnose import (
    Finding,
    ModelFacts,
    UpdateSize,
    diagnose,
    diagnose_run,
    explain,
    grad_stats_now,
    model_facts,
    param_groups,
    snapshot,
    update_size,
)
from .graph import Graph, record_graph, to_dot
from .maps import AttentionMaps, BigramTable, EmbeddingMap, attention_maps, bigram_table, embedding_map
from .neurons import Layer, NeuronTrace, UnitMatch, find_units, layers, neuron, saturation, text_properties
from .nextchar import NextCharChart, default_prompt, next_char_chart
from .predictions import CharPrediction, Predictions, WorkedLoss, predictions, worked_loss
from .saliency import Saliency, saliency
from .shapes import BatchShapes, TensorInfo, batch_shapes

__all__ = ["MAX_CHARS", "AttentionMaps", "BatchShapes", "BigramTable", "CharPrediction", "EmbeddingMap", "Finding",
           "ModelFacts", "UpdateSize", "model_facts", "update_size",
           "Graph", "InspectError", "Layer", "NeuronTrace", "NextCharChart", "Predictions", "Saliency", "TensorInfo",
           "UnitMatch", "WorkedLoss", "attention_maps", "batch_shapes", "bigram_table", "default_prompt", "diagnose",
           "diagnose_run", "embedding_map", "explain", "find_units", "grad_stats_now", "layers", "neuron",
           "next_char_chart", "param_groups", "predictions", "record_graph", "saliency", "saturation", "snapshot",
           "text_properties", "to_dot", "worked_loss"]
