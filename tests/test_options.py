"""Option checks that need no run: each bad value is one line naming the option."""

from __future__ import annotations

import pytest

from bench import options
from bench.options import OptionError, check_ray_address


def test_a_remote_ray_cluster_is_refused_beside_harness_ray_clusters(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness's Ray clusters run Ray in single-machine mode: a cluster on another
    machine could not be reached in the same run."""
    monkeypatch.setattr(options, "ray_installed", lambda: True)
    with pytest.raises(OptionError, match=r"^--bench-ray-address '10\.0\.0\.5:6379': a Ray "
                                          r"cluster on another machine cannot be measured"):
        check_ray_address("10.0.0.5:6379", scale_out=True)
    check_ray_address("10.0.0.5:6379", scale_out=False)
    check_ray_address("127.0.0.1:6379", scale_out=True)
    check_ray_address("localhost:6379", scale_out=True)


def test_a_ray_address_needs_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(options, "ray_installed", lambda: False)
    with pytest.raises(OptionError, match="Ray is not installed"):
        check_ray_address("127.0.0.1:6379")
