"""examples/models: every gallery model as a .opt file solves like its Python twin, via load and the command."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.cli import main
from optdsl.grammar import parse

import test_compiler_gallery as gallery
import test_conic_gallery as conic
import test_kkt as kkt

MODELS = Path(__file__).resolve().parents[1] / "examples" / "models"
TWINS = {
    "ridge": lambda: gallery.ridge().problem, "logistic": lambda: gallery.logistic().problem,
    "lasso": lambda: gallery.lasso().problem, "elastic_net": lambda: gallery.lasso(elastic=True).problem,
    "group_lasso": lambda: gallery.group_lasso().problem, "huber": lambda: gallery.huber().problem,
    "nnls": lambda: gallery.nnls().problem, "box_qp": lambda: gallery.box_qp().problem,
    "simplex_ls": lambda: gallery.simplex_ls().problem, "svm_dual": lambda: gallery.svm_dual("projected").problem,
    "l2_ball": lambda: gallery.l2_ball().problem, "qp": lambda: kkt.optnet_qp(0)[0], "lp": None,
    "markowitz": lambda: conic.markowitz().problem, "entropy_max": lambda: conic.entropy_max().problem,
    "nearest_correlation": lambda: conic.nearest_correlation().problem,
    "qcqp": lambda: conic.qcqp().problem,  # P is a constant in the twin, data in the file
}


def _data(name: str) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in json.loads((MODELS / f"{name}.json").read_text()).items()}


def test_every_model_file_has_a_twin_and_data():
    assert sorted(p.stem for p in MODELS.glob("*.opt")) == sorted(TWINS)
    assert sorted(p.stem for p in MODELS.glob("*.json")) == sorted(TWINS)


@pytest.mark.parametrize("name", sorted(TWINS))
def test_model_file_solves_like_its_python_twin(name, capsys):
    """Every file loads to its twin's tree (or, qcqp, solves to its twin's solution), and the command agrees."""
    data = _data(name)
    problem = od.load(MODELS / f"{name}.opt", data=data)
    assert parse(problem.to_opt()) == problem
    params = {p.name: jnp.asarray(data[p.name]) for p in problem.parameters()}
    sol = problem.compile()(params)
    assert sol.status_name() == "solved"
    twin = TWINS[name]() if TWINS[name] is not None else None
    # A twin equal to the file's problem (the same tree) compiles to the same program: solving it again
    # would only repeat the compilation. A twin that differs (data as constants) is solved and compared.
    if twin is not None and twin != problem:
        twin_sol = twin.compile()({p.name: params[p.name] for p in twin.parameters()})
        for var, value in twin_sol.values.items():
            np.testing.assert_allclose(sol[var], value, atol=1e-7, err_msg=f"{name}: {var}")
    assert main(["solve", str(MODELS / f"{name}.opt"), "--data", str(MODELS / f"{name}.json"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for var, value in sol.values.items():
        np.testing.assert_allclose(report["variables"][var], value, atol=1e-7)
