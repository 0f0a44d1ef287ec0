"""The study on a user's own data and architecture: a synthetic 3-class .npz of 8x8 images and a
two-block CNN from a user's module (tests/user_archs.py), by the command line and by sweeps.run
with a builder defined in the calling script itself."""

import json
import textwrap

import pytest

import sweeps
from tests.sweeps.conftest import TRIAL_FOLDERS, run_sweep
from tests.sweeps.test_api import _python

pytestmark = pytest.mark.shared_ray  # sweeps join one Ray (tests/conftest.py)


def test_a_study_of_a_user_s_architecture_on_a_user_s_data(toy_npz, tmp_path):
    out = tmp_path / "runs"
    done = run_sweep(
        "--data", str(toy_npz), "--arch-module", "tests.user_archs", "--archs", "two_block_cnn",
        "--placements", "none,before_activation,after_activation", "--lrs", "0.03,0.3",
        "--seeds", "0-2", "--epochs", "2", "--output-dir", str(out), "--name", "own",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""
    assert "data: " in done.stdout and "(train / validation / test 540 / 60 / 300, 8x8, 3 classes)" in done.stdout  # fmt: skip
    run = out / "own"
    assert all(p.name.startswith("two_block_cnn-") for p in run.glob(TRIAL_FOLDERS))
    spec = json.loads((run / "sweep_spec.json").read_text())
    assert (spec["arch_module"], spec["num_classes"], spec["data_shape"]) == ("tests.user_archs", 3, [8, 8])  # fmt: skip
    study = sweeps.load(run)
    assert len(study.trials) == 18 and set(study.trials["status"]) <= {"completed", "diverged"}
    assert set(study.comparisons["arch"]) == {"two_block_cnn"} and len(study.comparisons) == 6
    assert len(study.verdicts) == 9 and study.verdicts["verdict"].notna().all()
    page = (run / "report" / "index.html").read_text()
    assert "toy.npz" in page and "3 classes" in page


def test_sweeps_run_with_data_and_a_builder_made_in_the_script(toy_npz, tmp_path):
    code = f"""
        import bnlab, sweeps
        from keras import layers

        def tiny(block, input_shape):  # defined here, in __main__: Ray ships it by value
            return [layers.Flatten(), *block.dense(16)]

        bnlab.register_arch("tiny_mlp", tiny)
        study = sweeps.run(data={str(toy_npz)!r}, archs=["tiny_mlp"], val_size=100,
                           placements=["none", "before_activation"], lrs=[0.1], seeds=range(2),
                           epochs=1, quiet=True, no_report=True, output_dir={str(tmp_path)!r},
                           name="api")
        print(sorted(set(study.trials["arch"])), sorted(set(study.trials["status"])), len(study.trials))
    """
    done = _python(textwrap.dedent(code))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "['tiny_mlp'] ['completed'] 4"
    spec = json.loads((tmp_path / "api" / "sweep_spec.json").read_text())
    assert spec["val_size"] == 100 and spec["data_sizes"] == [500, 100, 300]
