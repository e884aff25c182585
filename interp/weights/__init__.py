"""Canonical weights: one per-head layout for every architecture, and a plain forward from it."""

from interp.weights.canonical import ModelWeights as ModelWeights
from interp.weights.canonical import Rotary as Rotary
from interp.weights.forward import forward as forward
