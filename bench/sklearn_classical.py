#!/usr/bin/env python3
"""scikit-learn side of bench/classical_vs_sklearn.js: fits one model on a float32 .npy file and prints JSON with
the seconds of a fit with max_iter=1 and with max_iter=M (tol=0, so every iteration runs), for each round.

Usage: python3 sklearn_classical.py <data.npy> <gmm-diag|gmm-full|fa> <M> <rounds>
"""
import json
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.decomposition import FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

warnings.simplefilter('ignore', ConvergenceWarning)
path, model, M, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
x = np.load(path).astype(np.float64)  # scikit-learn computes in float64 whatever it is given


def make(max_iter):
    if model.startswith('gmm'):
        return GaussianMixture(n_components=10, covariance_type=model[4:], init_params='random_from_data', tol=0,
                               max_iter=max_iter, random_state=0)
    return FactorAnalysis(n_components=20, tol=0, max_iter=max_iter, random_state=0)


one, many, score = [], [], None
for _ in range(rounds):
    t0 = time.perf_counter(); make(1).fit(x); one.append(time.perf_counter() - t0)
    t0 = time.perf_counter(); m = make(M).fit(x); many.append(time.perf_counter() - t0)
    score = float(m.score(x))
print(json.dumps(dict(sklearn=sklearn.__version__, one=one, many=many, score=score)))
