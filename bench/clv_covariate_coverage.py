"""Coverage of the CLV covariate coefficients' 95% intervals on simulated data.

    python bench/clv_covariate_coverage.py [N] [CUSTOMERS]

N data sets (seeds 100..100+N-1) of CUSTOMERS (default 6,000) BG/NBD customers (r 0.25,
alpha 4, a 0.8, b 2.5; ages 30-100 weeks) with Gamma-Gamma order values (p 6, q 4, v 15);
a 0/1 covariate z (share 0.4) multiplies the purchase rate by e^0.5 and the order values by
e^0.3 and leaves the dropout alone. Fitted with segmint.clv.fit_covariates (BG/NBD and
Gamma-Gamma); prints per coefficient how often its 95% interval holds the planted value and the
mean and standard deviation of (estimate - truth) / standard error (0 and 1 when calibrated).
Needs the segmint Python package and numpy.
"""

import sys

import numpy as np

from segmint.clv import fit_covariates

TRUTH = {"purchase": 0.5, "dropout": 0.0, "spend": 0.3}


def simulate(seed: int, n: int):
    rng = np.random.default_rng(seed)
    z = (rng.random(n) < 0.4).astype(float)
    lam = rng.gamma(0.25, np.exp(TRUTH["purchase"] * z) / 4.0)
    p_drop = rng.beta(0.8, 2.5, n)
    age = rng.uniform(30.0, 100.0, n)
    nu = rng.gamma(4.0, 1.0 / (15.0 * np.exp(TRUTH["spend"] * z)))
    freq, rec, mon = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        now, x, last, values = 0.0, 0, 0.0, []
        while True:
            now += rng.exponential(1.0 / lam[i])
            if now > age[i]:
                break
            x, last = x + 1, now
            values.append(rng.gamma(6.0, 1.0 / nu[i]))
            if rng.random() < p_drop[i]:
                break
        freq[i], rec[i] = x, last
        mon[i] = np.mean(values) if values else 0.0
    return freq, rec, age, mon, z


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 6000
    inside = {k: 0 for k in TRUTH}
    scores = {k: [] for k in TRUTH}
    for seed in range(100, 100 + runs):
        freq, rec, age, mon, z = simulate(seed, n)
        fit = fit_covariates(freq, rec, age, mon, {"z": z})
        for c in fit["transaction"]["coefficients"] + fit["gamma_gamma"]["coefficients"]:
            want = TRUTH[c["process"]]
            inside[c["process"]] += c["ci_low"] <= want <= c["ci_high"]
            scores[c["process"]].append((c["value"] - want) / c["std_error"])
    print(f"{runs} data sets x {n} customers")
    print("| coefficient | planted | 95% intervals holding it | mean z | sd z |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for k, want in TRUTH.items():
        s = np.array(scores[k])
        print(f"| {k} | {want} | {inside[k]} of {runs} ({100 * inside[k] / runs:.0f}%) | {s.mean():.2f} | {s.std():.2f} |")


if __name__ == "__main__":
    main()
