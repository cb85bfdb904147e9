"""Nearest correlation matrix as an SDP, gradient with respect to the target matrix.

    X*(C) = argmin_X ‖X − C‖_F   s.t.   diag(X) = 1,  X ⪰ 0,        loss = sum(W * X*)

Sizes: k = 5 and 10 at batch 1 and 16, and k = 15 at batch 1 (one C per instance:
symmetric, unit diagonal, smallest eigenvalue −0.2, so X ⪰ 0 is active and X* is rank
deficient). The cone program has about 3k² unknowns (about 680 at k = 15), and the conic route's
dense factorisations grow with the cube of that. Contenders:
optdsl (its default route for the model, ``conic``) and cvxpylayers (X a symmetric
variable). The reference is exact: X* = Π(C + Diag θ) with Π the projection onto the
PSD cone and θ the root of diag(Π(C + Diag θ)) = 1, found by Newton steps from
Clarabel's multipliers; its derivative follows from the derivative of Π.
"""

from __future__ import annotations


import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np

import optdsl as od
from benchmarks.harness import CLARABEL, Case, Contender, weighted_layer, weighted_optdsl

FULL = [(5, (1, 16)), (10, (1, 16)), (15, (1,))]
QUICK = [(3, (2,))]
CHECKED = 2
#: Smallest eigenvalue of every target C.
LAMBDA_MIN = -0.2
#: Newton steps on θ from Clarabel's multipliers (quadratic convergence from about 1e-8).
NEWTON_STEPS = 3


def make_data(k: int, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """C = I + tS, S symmetric with zero diagonal and U(-1, 1) entries, t setting λ_min(C) = LAMBDA_MIN."""
    rng = np.random.default_rng(seed)
    S = np.triu(rng.uniform(-1.0, 1.0, size=(batch, k, k)), 1)
    S = S + np.swapaxes(S, 1, 2)
    t = (1.0 - LAMBDA_MIN) / -np.linalg.eigvalsh(S)[:, :1, None]
    return {"C": np.eye(k) + t * S}


def _projection(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Π(A), and the divided differences Γ and eigenvectors Q that give its derivative (see :func:`_derivative`)."""
    lam, Q = np.linalg.eigh(A)
    plus = np.maximum(lam, 0.0)
    gap = lam[:, None] - lam[None, :]
    same = np.abs(gap) <= 1e-12 * max(1.0, float(np.max(np.abs(lam))))
    gamma = np.where(same, (lam[:, None] > 0).astype(float), (plus[:, None] - plus[None, :]) / np.where(same, 1.0, gap))
    return (Q * plus) @ Q.T, gamma, Q


def _derivative(gamma: np.ndarray, Q: np.ndarray, H: np.ndarray) -> np.ndarray:
    """dΠ(A)[H] = Q (Γ ∘ QᵀHQ) Qᵀ for a symmetric H (A with no zero eigenvalue)."""
    return Q @ (gamma * (Q.T @ H @ Q)) @ Q.T


def _diagonal_jacobian(gamma: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """∂ diag(Π(C + Diag θ)) / ∂θ, column j from the unit matrix E_jj."""
    eye = np.eye(Q.shape[0])
    return np.stack([np.diag(_derivative(gamma, Q, np.diag(e))) for e in eye], axis=1)


def _theta(C: np.ndarray) -> np.ndarray:
    """The multipliers θ of diag(X) = 1 for a symmetric C: Clarabel's (tolerance 1e-10) refined by Newton steps on
    diag(Π(C + Diag θ)) = 1."""
    X = cp.Variable(C.shape, symmetric=True)
    ones = cp.diag(X) == 1
    cp.Problem(cp.Minimize(0.5 * cp.sum_squares(X - C)), [ones, X >> 0]).solve(**CLARABEL)
    theta = -np.asarray(ones.dual_value)
    for _ in range(NEWTON_STEPS):
        P, gamma, Q = _projection(C + np.diag(theta))
        theta = theta - np.linalg.solve(_diagonal_jacobian(gamma, Q), np.diag(P) - 1.0)
    return theta


def _symmetric(C: np.ndarray) -> np.ndarray:
    """C's symmetric part: all of C that ‖X − C‖_F sees over symmetric X."""
    return 0.5 * (C + C.T)


def reference(C: np.ndarray) -> np.ndarray:
    """X*(C) to machine precision."""
    C = _symmetric(C)
    return _projection(C + np.diag(_theta(C)))[0]


def exact_slope(C: np.ndarray, W: np.ndarray, D: np.ndarray) -> float:
    """d sum(W * X*(C + tD)) / dt at t = 0: dX = dΠ[sym D + Diag dθ], dθ keeping diag(X) = 1."""
    C, H = _symmetric(C), _symmetric(D)
    _, gamma, Q = _projection(C + np.diag(_theta(C)))
    dtheta = -np.linalg.solve(_diagonal_jacobian(gamma, Q), np.diag(_derivative(gamma, Q, H)))
    return float(np.vdot(W, _derivative(gamma, Q, H + np.diag(dtheta))))


def _contenders(k: int, d: dict[str, jax.Array], W: jax.Array) -> list[Contender]:
    X, C = od.Variable((k, k), name="X"), od.Parameter((k, k), name="C")
    problem = od.Problem(od.Minimize(od.norm(X - C, "fro")), [od.diag(X) == 1, X >> 0])
    args = (d["C"], d, W)
    out = [weighted_optdsl(problem, "C", "X", args)]

    def layer():
        Xc, C_p = cp.Variable((k, k), symmetric=True), cp.Parameter((k, k))
        return cp.Problem(cp.Minimize(cp.norm(Xc - C_p, "fro")), [cp.diag(Xc) == 1, Xc >> 0]), C_p, Xc

    return out + weighted_layer(layer, args)


def case(k: int, batch: int) -> Case:
    """One (size, batch): seeded data, the exact reference solution and slope on the checked instances."""
    data = make_data(k, batch)
    rng = np.random.default_rng(1)
    W = rng.normal(size=(batch, k, k))
    checked = min(batch, CHECKED)
    dC = np.zeros((batch, k, k))
    dC[:checked] = rng.normal(size=(checked, k, k))
    x_ref = np.stack([reference(data["C"][i]) for i in range(checked)])
    slope = sum(exact_slope(data["C"][i], W[i], dC[i]) for i in range(checked))
    return Case("sdp", f"k={k} batch={batch}", _contenders(k, {"C": jnp.asarray(data["C"])}, jnp.asarray(W)), x_ref,
                lambda x: np.asarray(x)[:checked], (dC,), slope)


def cases(quick: bool) -> list[Case]:
    return [case(k, batch) for k, batches in (QUICK if quick else FULL) for batch in batches]
