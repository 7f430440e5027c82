#!/usr/bin/env python3
"""scikit-learn side of bench/gmm_default_fit.js: GaussianMixture(n_components, covariance_type) at scikit-learn's
defaults (k-means initialisation, tol 1e-3, max_iter 100, n_init 1) on a float32 .npy file, once per seed; prints
JSON with each fit's seconds, mean log-likelihood per row, iterations and convergence.

Usage: python3 sklearn_gmm_default.py <data.npy> <full|diag|tied|spherical> <n_components> <seed,seed,...>
"""
import json
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

warnings.simplefilter('ignore', ConvergenceWarning)
path, kind, k, seeds = sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(s) for s in sys.argv[4].split(',')]
x = np.load(path).astype(np.float64)
fits = []
for seed in seeds:
    t0 = time.perf_counter()
    g = GaussianMixture(n_components=k, covariance_type=kind, random_state=seed).fit(x)
    seconds = time.perf_counter() - t0
    fits.append(dict(seed=seed, seconds=seconds, score=float(g.score(x)), n_iter=int(g.n_iter_), converged=bool(g.converged_)))
print(json.dumps(dict(sklearn=sklearn.__version__, fits=fits)))
