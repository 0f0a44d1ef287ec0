"""Every bad value: one line naming the flag and value, exit 2, nothing started or written."""

import json

import pytest

from sweeps import bn_placement
from sweeps.spec import SPEC_FILE, parse_spec


@pytest.fixture
def out(tmp_path):
    return tmp_path / "runs"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--placements", "none,middle"], "--placements: The 'placement' parameter must be one of"),
        (["--lrs", "abc"], "--lrs: 'abc' is not a float in (0, 100]."),
        (["--lrs", "0.1,0"], "--lrs: The 'lr' parameter must be a float in (0, 100]. Got 0.0"),
        (["--lrs", "-0.1"], "Got -0.1 instead"),
        (["--epochs", "0"], "--epochs: '0' is not an int >= 1."),
        (["--seeds", "3-1"], "--seeds: range '3-1' is empty"),
        (["--seeds", "a"], "--seeds: 'a' is not a seed or range"),
        (["--batch-sizes", "0"], "--batch-sizes: The 'batch_size' parameter"),
        (["--optimizers", "rmsprop"], "--optimizers: The 'optimizer' parameter must be one of"),
        (["--hidden", "300x0"], "--hidden: The 'hidden' parameter"),
        (
            ["--subset", "5,100"],
            "--subset: 5,100 does not fit Fashion-MNIST's 55000 training and 5000 validation examples; give N_TRAIN in [10, 55000]",
        ),
        (["--gpus-per-trial", "-1"], "--gpus-per-trial: '-1' is not a number >= 0."),
        (["--cpus-per-trial", "99", "--num-cpus", "2"], "--cpus-per-trial: 99 is more than the 2"),
        (
            ["--gpus-per-trial", "1", "--num-gpus", "0"],
            "--gpus-per-trial: 1 is more than the 0 GPUs",
        ),
        (["--data-dir", "/no/such/dir"], "--data-dir: '/no/such/dir' is not a directory."),
        (["--resume", "--name", "ghost"], "--resume: no run 'ghost' in"),
        (["--name", "a/b"], "--name: 'a/b' must be letters"),
    ],
)
def test_bad_values_exit_2_with_one_line(flags, message, out, capsys):
    code = bn_placement.main([*flags, "--output-dir", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_output_dir_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "runs"
    target.write_text("")
    assert bn_placement.main(["--output-dir", str(target)]) == 2
    assert "--output-dir: " in capsys.readouterr().err and target.read_text() == ""


def test_resume_with_a_different_grid_is_refused(out, capsys):
    stored = parse_spec(["--output-dir", str(out), "--name", "r1", "--lrs", "0.1"])
    (out / "r1").mkdir(parents=True)
    (out / "r1" / SPEC_FILE).write_text(json.dumps(stored.to_dict()))
    code = bn_placement.main(["--output-dir", str(out), "--resume", "--name", "r1", "--lrs", "0.2"])
    err = capsys.readouterr().err
    assert code == 2 and "--lrs 0.1 -> 0.2" in err
    assert sorted(p.name for p in (out / "r1").iterdir()) == [SPEC_FILE]


def test_default_study_and_seed_syntax(out):
    spec = parse_spec(["--output-dir", str(out)])
    assert spec.placements == ("none", "after_activation", "before_activation")
    assert spec.lrs == (1e-3, 1e-2, 1e-1, 1.0, 3.0) and spec.seeds == (0, 1, 2)
    assert spec.epochs == 10 and len(spec.trial_configs()) == 45
    assert parse_spec(["--seeds", "0-2,7", "--output-dir", str(out)]).seeds == (0, 1, 2, 7)


def test_quick_preset_and_explicit_flags_win(out):
    quick = parse_spec(["--quick", "--output-dir", str(out)])
    assert (quick.subset, quick.epochs, quick.seeds) == ((2000, 500), 2, (0, 1))
    assert parse_spec(["--quick", "--epochs", "3", "--output-dir", str(out)]).epochs == 3


def test_every_cell_uses_the_same_seeds(out):
    spec = parse_spec(["--lrs", "0.1,0.01", "--seeds", "0-3", "--output-dir", str(out)])
    cells = {}
    for config in spec.trial_configs():
        cells.setdefault((config.placement, config.lr), []).append(config.seed)
    assert all(seeds == [0, 1, 2, 3] for seeds in cells.values())


def test_dry_run_prints_the_plan_and_writes_nothing(out, capsys):
    assert bn_placement.main(["--dry-run", "--lrs", "0.1", "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("9 trials on embedded local Ray")
    assert "before_activation" in printed and not out.exists()


def test_dry_run_shows_each_model_in_one_line_with_its_parameters(out, capsys):
    flags = ["--dry-run", "--archs", "mlp,cnn", "--norms", "batch,layer", "--lrs", "0.1"]
    assert bn_placement.main([*flags, "--seeds", "0", "--output-dir", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    models = [line for line in lines if line.startswith("m")]
    assert len(models) == 10  # per arch: none, and 2 placements x 2 norm kinds
    assert models[0] == (
        "m1    mlp 300x100, none, relu, input none: Flatten -> Dense(300) -> ReLU -> Dense(100) "
        "-> ReLU -> Dense(10, softmax); 266,610 parameters"
    )
    assert any(
        "cnn 32x64, before_activation layer, relu, input none: Reshape(28x28x1) -> "
        "Conv3x3(32, no bias) -> LN -> ReLU -> MaxPool2" in line
        for line in models
    )
    assert lines[0].startswith("10 trials")


def test_the_seed_preset_gives_the_notebooks_three_models(out, capsys):
    assert bn_placement.main(["--dry-run", "--preset", "seed", "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "m1    mlp 300x100, none, leaky_relu, input none, preset seed: Flatten -> Dense(300) -> LeakyReLU" in printed  # fmt: skip
    assert "; 271,346 parameters (2,368 non-trainable)" in printed
    assert "; 270,946 parameters (2,368 non-trainable)" in printed
    assert "; 266,610 parameters\n" in printed


def test_unused_axis_values_collapse_and_every_cell_keeps_the_seeds(out):
    spec = parse_spec(
        ["--norms", "batch,layer,group", "--archs", "mlp,cnn", "--lrs", "0.1", "--seeds", "0-1",
         "--activations", "relu,elu", "--output-dir", str(out)]
    )  # fmt: skip
    configs = spec.trial_configs()
    assert (
        len(configs) == len(set(configs)) == 2 * 2 * (1 + 2 * 3) * 2
    )  # arch x act x models x seeds
    cells = {}
    for c in configs:
        cells.setdefault(c.replace(seed=0), []).append(c.seed)
    assert all(seeds == [0, 1] for seeds in cells.values())
    assert {c.norm for c in configs if c.placement == "none"} == {"none"}


def test_help_documents_flags_with_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bn_placement.main(["--help"])
    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    for flag in [
        "--placements",
        "--lrs",
        "--seeds",
        "--address",
        "--resume",
        "--quick",
        "--dry-run",
    ]:
        assert flag in text
    assert "(default: 0-2)" in " ".join(text.split())
    assert "(default: None)" not in text


def test_a_run_held_by_a_live_sweep_is_refused_as_in_use_before_its_state_is_read(out):
    """Its Tune state may be half-written by the sweep that holds it: 'in use', not 'damaged'."""
    from sweeps.run_folder import run_lock
    from sweeps.spec import SpecError

    held = out / "busy"
    (held / "mlp-none-relu-lr0.1-s0_5e3c0_00000").mkdir(parents=True)  # a trial, no Tune state
    (held / SPEC_FILE).write_text("{}")
    with run_lock(held), pytest.raises(SpecError, match="is in use by another sweep"):
        parse_spec(["--name", "busy", "--output-dir", str(out)])


def test_a_file_where_ray_needs_a_folder_is_named_in_the_one_line(tmp_path):
    import errno

    from sweeps.startup import explain

    (tmp_path / "afile").write_text("")
    err = NotADirectoryError(errno.ENOTDIR, "Not a directory", str(tmp_path / "afile" / "ray"))
    line = explain(err)
    assert f"{str(tmp_path / 'afile')!r} is a file, not a folder" in line and "$TMPDIR" in line
    elsewhere = str(tmp_path / "gone" / "ray")  # no file in the way found: the path as given
    assert f"{elsewhere!r} is a file" in explain(NotADirectoryError(errno.ENOTDIR, "", elsewhere))
