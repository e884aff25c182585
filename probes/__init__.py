"""Readers of representations: sparse autoencoders and linear probes."""

from probes.linear import LinearProbe as LinearProbe
from probes.linear import Mod10Probe as Mod10Probe
from probes.linear import ProbeResult as ProbeResult
from probes.linear import fit_probe as fit_probe
from probes.linear import mod10_probe as mod10_probe
from probes.linear import mod10_steering as mod10_steering
from probes.linear import number_mlp0_outputs as number_mlp0_outputs
from probes.linear import probe_model as probe_model
from probes.linear import steering_hook as steering_hook
from probes.sae import SAE as SAE
from probes.sae import SAEConfig as SAEConfig
from probes.sae import SAEStats as SAEStats
from probes.sae import feature_activations as feature_activations
from probes.sae import sae_stats as sae_stats
from probes.sae import top_activating_examples as top_activating_examples
from probes.sae import train_sae as train_sae
