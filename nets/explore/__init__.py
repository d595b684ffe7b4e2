"""The optimizer explorer: `python -m nets.explore` serves a page on 127.0.0.1 where one picks
a landscape of `optim.landscapes`, clicks a start, ticks optimizers with their learning rate
and decay, and watches their trajectories (computed by `optim.minimize`) move over the contours
next to their loss per step.

    methods  the landscapes and optimizers offered, with their hyperparameters
    runs     a request's trajectories: one compiled, vmapped `minimize` per optimizer, cached
    server   the HTTP server (standard library) and its JSON API
    static/  the page: index.html, explore.js, explore.css (no outside files)
"""

from nets.explore.methods import LANDSCAPES, METHODS
from nets.explore.runs import Programs, RequestError, run_request
from nets.explore.server import ExplorerServer, make_server, serve_in_thread

__all__ = [
    "LANDSCAPES",
    "METHODS",
    "ExplorerServer",
    "Programs",
    "RequestError",
    "make_server",
    "run_request",
    "serve_in_thread",
]
