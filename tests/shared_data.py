"""Values shared by several test modules (imported as ``from shared_data import ...``;
conftest modules cannot be imported by name reliably once subfolders have their own)."""

from __future__ import annotations

#: small but complete: two diffusion configs (low and high variance) and Poisson, all splits
TINY = {
    "grid": "16", "n_train": "6", "n_test": "3", "n_val": "2",
    "configs": "cubic0.1,gaussian2.0,poisson", "samples_per_shard": "4",
}


def darcy_manufactured():
    """u = sin(πx) sin(2πy), a = 1 + ½ sin(2πx) cos(πy) (no x ↔ y symmetry), f = −∇·(a∇u)."""
    from numpy import cos, pi, sin

    u = lambda x, y: sin(pi * x) * sin(2 * pi * y)  # noqa: E731
    a = lambda x, y: 1 + 0.5 * sin(2 * pi * x) * cos(pi * y)  # noqa: E731

    def f(x, y):
        ax, ay = pi * cos(2 * pi * x) * cos(pi * y), -0.5 * pi * sin(2 * pi * x) * sin(pi * y)
        ux, uy = pi * cos(pi * x) * sin(2 * pi * y), 2 * pi * sin(pi * x) * cos(2 * pi * y)
        return 5 * pi**2 * a(x, y) * u(x, y) - ax * ux - ay * uy

    return u, a, f


#: what the masked toy configs of tests/baselines put in solid cells of the targets
SOLID_VALUE = 1e6
