"""The simulated vehicular network: roads, mobility, RSUs and MBS, channel, compute and energy.

Knows nothing of gymnasium, the chain or the FL engine.
"""

from bcfl_env.network.channel import Channel, path_loss_db, shannon_rate_bps
from bcfl_env.network.compute import (
    compute_energy_j,
    compute_time_s,
    dbm_to_watt,
    transmit_energy_j,
)
from bcfl_env.network.infrastructure import Infrastructure
from bcfl_env.network.mobility import Mobility, MobilityEvents, truncated_normal
from bcfl_env.network.roads import RoadNetwork, build_road_graph
from bcfl_env.network.uploads import UploadStep, UploadTracker
from bcfl_env.network.vehicular import NetworkEvents, VehicularNetwork

__all__ = [
    "Channel",
    "Infrastructure",
    "Mobility",
    "MobilityEvents",
    "NetworkEvents",
    "RoadNetwork",
    "UploadStep",
    "UploadTracker",
    "VehicularNetwork",
    "build_road_graph",
    "compute_energy_j",
    "compute_time_s",
    "dbm_to_watt",
    "path_loss_db",
    "shannon_rate_bps",
    "transmit_energy_j",
    "truncated_normal",
]
