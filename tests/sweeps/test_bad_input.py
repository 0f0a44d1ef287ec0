"""Hostile input: every bad value or folder ends in one line and exit 2, nothing written."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sweeps import bn_placement
from sweeps.spec import SpecError, parse_spec
from tests.storage import CREDENTIALS

ROOT = Path(__file__).resolve().parents[2]

BAD = [
    (["--gpus-per-trial", "nan"], "--gpus-per-trial: 'nan' is not a number >= 0."),
    (["--gpus-per-trial", "inf"], "--gpus-per-trial: 'inf' is not a number >= 0."),
    (["--num-gpus", "0.5"], "--num-gpus: '0.5' is not a whole number >= 0."),
    (["--num-gpus", "inf"], "--num-gpus: 'inf' is not a whole number >= 0."),
    (["--num-gpus", "nan"], "--num-gpus: 'nan' is not a whole number >= 0."),
    (["--num-cpus", "1e9999"], "--num-cpus: '1e9999' is not an int >= 1."),
    (["--seeds", "0-9999999", "--dry-run"], "--seeds: '0-9999999' names 10000000 seeds; the most is 1000."),
    (["--seeds", "0-" + "9" * 40, "--dry-run"], "seeds; the most is 1000."),
    (["--seeds", "0-999", "--lrs", ",".join(f"0.0{i}" for i in range(1, 10)), "--dry-run"], "the grid has up to 27000 trials (3 placements x 9 learning rates x 1000 seeds"),
    (["--lrs", "1e400"], "--lrs: The 'lr' parameter must be a float in (0, 100]. Got inf instead."),
    (["--lrs", "nan"], "Got nan instead."),
    (["--address", "garbage"], "--address: 'garbage' is not 'auto' or HOST:PORT"),
    (["--address", "127.0.0.1:99999"], "--address: '127.0.0.1:99999' is not 'auto' or HOST:PORT"),
    (["--address", "http://x:1"], "is not 'auto' or HOST:PORT"),
    (["--name", "n" * 300], "--name: 'nnnnnnnnnnnnnnnnnnnn'... is 300 characters; the most is 100."),
    (["--name", ".hidden"], "--name: '.hidden' must be letters, digits"),
    (["--name", "../up"], "--name: '../up' must be letters"),
    (["--bogus"], "unrecognized arguments: --bogus (see --help)"),
    (["--epochs"], "argument --epochs: expected one argument (see --help)"),
    (["--hidden", "300x"], "--hidden: '300x' is not sizes like 300x100."),
    (["--subset", "500,500,500"], "--subset: '500,500,500' is not N_TRAIN,N_VALIDATION"),
    (["--max-concurrent", "-1"], "--max-concurrent: '-1' is not an int >= 0."),
    (["--report-dir", "/etc/passwd"], "--report-dir: '/etc/passwd' is a file"),
    (["--report-dir", "/etc/passwd/report"], "--report-dir: '/etc/passwd' is a file, so '/etc/passwd/report' cannot be made."),
    (["--progress-seconds", "0"], "--progress-seconds: '0' is not seconds in [1, 86400]."),
    (["--progress-seconds", "nan"], "--progress-seconds: 'nan' is not seconds in [1, 86400]."),
    (["--progress-seconds", "1e6"], "--progress-seconds: '1e6' is not seconds in [1, 86400]."),
    (["--checkpoint-seconds", "-1"], "--checkpoint-seconds: '-1' is not seconds in [0, 86400]."),
    (["--checkpoint-seconds", "inf"], "--checkpoint-seconds: 'inf' is not seconds in [0, 86400]."),
    (["--checkpoint-seconds", "10s"], "--checkpoint-seconds: '10s' is not seconds in [0, 86400]."),
    (["--output-dir", "foo://x/y"], "--output-dir: 'foo://x/y' is not a storage URI pyarrow can open"),
    (["--output-dir", "s3://b/r?bogus=1"], "Unexpected query parameter in S3 URI: 'bogus'"),
    (["--output-dir", "s3://"], "--output-dir: 's3://' names no bucket or folder"),
    (["--output-dir", "s3://b/runs?endpoint_override=127.0.0.1:1&scheme=http"], "--output-dir: cannot list 's3://b/runs/"),
    (["--activations", "relu,tanh"], "--activations: The 'activation' parameter must be one of ['elu', 'gelu', 'leaky_relu', 'relu', 'selu']. Got 'tanh' instead."),
    (["--norms", "instance"], "--norms: The 'norm' parameter must be one of ['batch', 'batch_renorm', 'group', 'layer']. Got 'instance' instead."),
    (["--norms", "none"], "--norms: The 'norm' parameter must be one of ['batch', 'batch_renorm', 'group', 'layer']. Got 'none' instead."),
    (["--input-norm", "layer"], "--input-norm: The 'input_norm' parameter must be one of ['batch', 'none']. Got 'layer' instead."),
    (["--archs", "mlp,rnn"], "--archs: The 'arch' parameter must be one of ['cnn', 'mlp']. Got 'rnn' instead."),
    (["--archs", "cnn", "--conv", "32xabc"], "--conv: '32xabc' is not sizes like 32x64."),
    (["--archs", "cnn", "--conv", "32x"], "--conv: '32x' is not sizes like 32x64."),
    (["--archs", "cnn", "--conv", "8x8x8x8x8"], "--conv: The 'conv' parameter must be 1 to 4 filter counts, each in [1, 4096]. Got (8, 8, 8, 8, 8) instead."),
    (["--archs", "cnn", "--conv", "32x0"], "--conv: The 'conv' parameter must be 1 to 4 filter counts"),
    (["--norms", "group", "--groups", "7"], "--groups: 7 does not divide 300, a width of --hidden 300x100; use a divisor of every width (1, 2, 4, 5, 10, 20, 25, 50, 100)."),
    (["--norms", "group", "--archs", "cnn", "--conv", "32x48", "--groups", "32"], "--groups: 32 does not divide 48, a width of --conv 32x48; use a divisor of every width (1, 2, 4, 8, 16)."),
    (["--groups", "0"], "--groups: '0' is not an int >= 1."),
    (["--groups", "nan"], "--groups: 'nan' is not an int >= 1."),
    (["--preset", "notebook"], "--preset: 'notebook' is not one of ['seed']."),
    (["--preset", "seed", "--activations", "elu"], "--activations: preset 'seed' sets each placement's activation; drop --activations or --preset."),
    (["--preset", "seed", "--input-norm", "batch"], "--input-norm: preset 'seed' sets each placement's input_norm; drop --input-norm or --preset."),
    (["--activations", "relu,relu"], "--activations: 'relu,relu' repeats a value; give each value once."),
    (["--output-dir", "/tmp/" + "a" * 300, "--dry-run"], "--output-dir: 'aaaaaaaaaaaaaaaaaaaa'... is a folder name of 300 characters; this system allows 255."),
    (["--hidden", "x".join(["16384"] * 16), "--dry-run"], "do not fit in this machine's"),
    (["--seeds", "0-999", "--activations", "relu,elu,selu,gelu,leaky_relu", "--norms", "batch,layer", "--dry-run"], "the grid has up to 150000 trials (3 placements x 5 learning rates x 1000 seeds x 5 activations x 2 norm kinds)"),
    (["--settle", "--max-seeds", "3", "--seeds", "0-1", "--lrs", "0.01", "--placements", "none"], "--settle: the grid has one placement (none), so there is nothing to compare"),
    (["--archs", "cnn", "--hidden", "64"], "--hidden: it sizes the mlp, which --archs cnn does not include; drop --hidden or add mlp to --archs."),
    (["--conv", "16x32"], "--conv: it sizes the cnn, which --archs mlp does not include"),
    (["--groups", "2"], "--groups: only the group norm uses it, and no model of the grid has one"),
    (["--batch-sizes", "50000", "--subset", "500,100"], "--batch-sizes: 50000 is more than the 500 training examples of --subset 500,100; use at most 500."),
    (["--report-dir", "."], "--report-dir: '.' holds the current folder, which a report must not replace"),
]  # fmt: skip


@pytest.mark.parametrize(("flags", "message"), BAD)
def test_bad_flags_exit_2_with_one_line(flags, message, tmp_path, capsys, monkeypatch):
    for key, value in CREDENTIALS.items():  # the URI cases: no real AWS account is asked
        monkeypatch.setenv(key, value)
    out = tmp_path / "runs"
    flags = flags if "--output-dir" in flags else [*flags, "--output-dir", str(out)]
    code = bn_placement.main(flags)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and not out.exists()


def _cli(*flags, shell_redirect="", **kwargs) -> subprocess.CompletedProcess:
    command = " ".join([sys.executable, "-m", "sweeps.bn_placement", *flags])
    return subprocess.run(
        f"{command} {shell_redirect}", shell=True, capture_output=True, text=True, cwd=ROOT,
        timeout=120, **kwargs,
    )  # fmt: skip


def test_the_report_dir_is_never_the_output_folder_or_a_folder_of_the_user_s(tmp_path, capsys):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("mine")
    for report, message in [(thesis, "is not a report written by this tool"), (tmp_path / "runs", "which a report must not replace")]:  # fmt: skip
        code = bn_placement.main(["--output-dir", str(tmp_path / "runs"), "--report-dir", str(report)])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["thesis"]
    assert (thesis / "thesis.tex").read_text() == "mine"


def test_a_plan_that_cannot_be_written_is_one_line_and_exit_2(tmp_path):
    done = _cli("--dry-run", "--quick", "--output-dir", str(tmp_path), shell_redirect="> /dev/full")  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr == "error: the plan could not be shown: standard output could not be written (No space left on device).\n"  # fmt: skip


@pytest.mark.parametrize("module", ["sweeps.bn_placement", "reports"])
def test_help_that_cannot_be_shown_is_one_line_and_exit_2(module):
    done = subprocess.run(
        f"{sys.executable} -m {module} --help > /dev/full", shell=True, capture_output=True,
        text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == "error: the help could not be shown: standard output could not be written (No space left on device).\n"  # fmt: skip


def test_a_bad_flag_with_standard_error_closed_still_exits_2():
    assert _cli("--lrs", "abc", shell_redirect="2>&-").returncode == 2
    assert _cli("--lrs", "abc", shell_redirect="2>&- 1>&-").returncode == 2


def test_a_plan_with_standard_output_closed_is_one_line_and_exit_2(tmp_path):
    done = _cli("--dry-run", "--quick", "--output-dir", str(tmp_path), shell_redirect="1>&-")
    assert done.returncode == 2
    assert done.stderr == "error: the plan could not be shown: standard output was closed.\n"


def test_batch_norm_on_batches_of_one_is_warned_of(tmp_path):
    done = _cli("--dry-run", "--batch-sizes", "1", "--output-dir", str(tmp_path))
    assert done.returncode == 0
    assert done.stderr.startswith("warning: --batch-sizes 1 with batch norm") and done.stderr.count("\n") == 1  # fmt: skip


def test_a_valid_subset_may_repeat_a_number(tmp_path):
    assert parse_spec(["--subset", "500,500", "--output-dir", str(tmp_path)]).subset == (500, 500)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: (t / "file").write_text("") or (t / "file" / "sub"), "cannot be created: "),
        (lambda t: (t / "runs").mkdir() or (t / "runs" / "taken").write_text("") or (t / "runs"), "exists and is a file"),
    ],
    ids=["output-under-a-file", "run-name-is-a-file"],
)  # fmt: skip
def test_output_folders_that_cannot_hold_a_run(make, message, tmp_path, capsys):
    out = make(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert bn_placement.main(["--output-dir", str(out), "--name", "taken"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.fixture
def read_only_dir(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_output_folder(read_only_dir, capsys):
    assert bn_placement.main(["--output-dir", str(read_only_dir / "runs")]) == 2
    err = capsys.readouterr().err
    assert "is not writable (read-only filesystem or no permission)" in err and err.count("\n") == 1


def test_an_explicit_data_dir_without_the_files(tmp_path, capsys):
    empty = tmp_path / "data"
    empty.mkdir()
    out = tmp_path / "runs"
    assert bn_placement.main(["--data-dir", str(empty), "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{empty}: missing train-images-idx3-ubyte" in err and err.count("\n") == 1
    assert not out.exists()


def _stored_run(out, name="r1", **changes):
    spec = parse_spec(["--output-dir", str(out), "--name", name, "--lrs", "0.1"]).to_dict()
    spec.update(changes)
    (out / name).mkdir(parents=True)
    (out / name / "sweep_spec.json").write_text(json.dumps(spec))
    (out / name / "run_trial_0").mkdir()
    return out / name


def _damage_spec(run, how):
    path = run / "sweep_spec.json"
    spec = json.loads(path.read_text())
    if how == "cut":
        path.write_text(path.read_text()[:40])
    elif how == "missing key":
        del spec["lrs"]
        path.write_text(json.dumps(spec))
    elif how == "unknown key":
        path.write_text(json.dumps({**spec, "learning": 1}))
    elif how == "bad value":
        path.write_text(json.dumps({**spec, "placements": ["sideways"]}))
    elif how == "not an object":
        path.write_text("[]")
    elif how == "deleted":
        path.unlink()


SPEC_DAMAGE = {
    "cut": "is damaged (",
    "missing key": "is damaged (missing fields ['lrs'])",
    "unknown key": "is damaged (unknown fields ['learning'])",
    "bad value": "is damaged (The 'placement' parameter must be one of",
    "not an object": "is damaged (not a JSON object)",
    "deleted": "holds results but its sweep_spec.json is missing",
}


@pytest.mark.parametrize("how", sorted(SPEC_DAMAGE))
@pytest.mark.parametrize("resume", [True, False], ids=["--resume", "same --name"])
def test_a_damaged_or_missing_sweep_spec_is_refused(how, resume, tmp_path, capsys):
    run = _stored_run(tmp_path / "runs")
    _damage_spec(run, how)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    flags = ["--output-dir", str(tmp_path / "runs"), "--name", "r1", "--lrs", "0.3"]
    assert bn_placement.main([*flags, *(["--resume"] if resume else [])]) == 2
    err = capsys.readouterr().err
    assert SPEC_DAMAGE[how] in err and err.count("\n") == 1
    assert err.startswith("error: --resume:" if resume else "error: --name:")
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_resume_takes_the_grid_from_the_stored_spec(tmp_path):
    run = _stored_run(tmp_path / "runs", seeds=[3, 4], epochs=4)
    spec = parse_spec(["--output-dir", str(run.parent), "--name", "r1", "--resume"])
    assert (spec.lrs, spec.seeds, spec.epochs, spec.resume) == ((0.1,), (3, 4), 4, True)
    same = parse_spec(
        ["--output-dir", str(run.parent), "--name", "r1", "--resume", "--seeds", "3-4"]
    )
    assert same.seeds == (3, 4)


def test_trial_config_with_numpy_numbers_is_json_ready():
    from bnlab import TrialConfig

    config = TrialConfig(
        seed=np.int64(3), epochs=np.int32(2), batch_size=np.int64(16), lr=np.float64(0.1)
    )
    assert json.loads(json.dumps(config.to_dict()))["seed"] == 3
    assert TrialConfig.from_dict(config.to_dict()) == config


def test_checking_the_flags_loads_no_statistics_plotting_ray_or_tensorflow():
    """A mistake is answered in a fraction of a second: the CLI module imports only what the
    checks need; Ray, TensorFlow and the report's stack load once a sweep really starts."""
    heavy = ("ray", "tensorflow", "scipy", "seaborn", "matplotlib", "statsmodels", "rich")
    code = f"import sys, sweeps.bn_placement; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_relative_data_dir_is_stored_absolute_so_the_resume_command_works_anywhere(tmp_path, fmnist, monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to("/usr/share/datasets/fashion-mnist")
    spec = parse_spec(["--data-dir", "data", "--output-dir", "runs", "--dry-run"])
    assert Path(spec.data_dir).is_absolute() and Path(spec.data_dir).samefile(tmp_path / "data")


def test_an_s3_run_is_locked_by_its_canonical_uri():
    from reports import storage

    a = storage.canonical("s3://b/runs/r?scheme=http&endpoint_override=127.0.0.1:9")
    b = storage.canonical("s3://b/runs/r/?endpoint_override=127.0.0.1:9&scheme=http")
    assert a == b


@pytest.mark.parametrize("damage", ['{"design": {"alpha": 0.05, "looks', "[1, 2]"])
def test_a_damaged_settle_record_is_refused_on_resume_and_ignored_by_reports(damage, tmp_path, capsys):  # fmt: skip
    from reports.settling import read_looks

    run = _stored_run(tmp_path / "runs", settle=True)
    (run / "settle.json").write_text(damage)
    code = bn_placement.main(["--output-dir", str(run.parent), "--name", "r1", "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "settle.json' is damaged, so the looks of this settling run cannot be continued" in err
    assert read_looks(run) is None  # the report judges the run at the seeds it has


def test_a_settling_run_whose_record_was_deleted_after_its_looks_is_refused(tmp_path, capsys):
    """Without settle.json its later looks would be planned again from look 0's seeds alone."""
    run = _stored_run(tmp_path / "runs", settle=True)
    (run / "look-1").mkdir()
    code = bn_placement.main(["--output-dir", str(run.parent), "--name", "r1", "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "settle.json' is missing though the run has 1 looks, so they cannot be continued" in err


@pytest.mark.parametrize("flag", ["--output-dir", "--report-dir"])
def test_a_folder_through_a_symlink_loop_is_one_line(flag, tmp_path, capsys):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    flags = {"--output-dir": str(tmp_path / "runs"), flag: str(tmp_path / "a" / "r")}
    assert bn_placement.main([x for pair in flags.items() for x in pair]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag}: ") and "loop" in err and err.count("\n") == 1


def _data_cases(tmp_path, toy):
    features = tmp_path / "features.npz"
    rng = np.random.default_rng(0)
    np.savez(features, x_train=rng.normal(size=(50, 6)), y_train=np.arange(50) % 2,
             x_test=rng.normal(size=(10, 6)), y_test=np.arange(10) % 2)  # fmt: skip
    (tmp_path / "text.npz").write_text("no zip")
    return [
        (["--data", str(tmp_path / "none.npz")], f"--data: '{tmp_path / 'none.npz'}' does not exist; give an .npz file"),
        (["--data", str(tmp_path / "text.npz")], "is not an .npz file; give an .npz file (numpy.savez) with x_train, y_train, x_test, y_test"),
        (["--data", str(toy), "--data-dir", str(tmp_path)], "--data: give --data (your .npz) or --data-dir (Fashion-MNIST's folder), not both."),
        (["--val-size", "0.2"], "--val-size: it splits --data's training arrays; add --data."),
        (["--data", str(toy), "--val-size", "1.5"], "--val-size: '1.5' is not a fraction in (0, 1) or a count >= 1."),
        (["--data", str(toy), "--val-size", "600"], "leaves no validation or no training split"),
        (["--data", str(features), "--archs", "cnn"], "--archs: cnn (none, none, relu) cannot be built for 6, 2 classes: The 'conv' parameter has 2 blocks; the cnn takes at most images"),
        (["--data", str(toy), "--subset", "1000,10"], "--subset: 1000,10 does not fit the data's 540 training and 60 validation examples; give N_TRAIN in [3, 540]"),
        (["--data", str(toy), "--batch-sizes", "541"], "--batch-sizes: 541 is more than the 540 training examples of the data; use at most 540."),
        (["--batch-sizes", "60000"], "--batch-sizes: 60000 is more than the 55000 training examples of Fashion-MNIST; use at most 55000."),
        (["--arch-module", "no_such_module_here"], "--arch-module: cannot import 'no_such_module_here' (ModuleNotFoundError"),
        (["--archs", "two_block_cnnn", "--arch-module", "tests.user_archs"], "--archs: The 'arch' parameter must be one of ['cnn', 'mlp', 'two_block_cnn']. Got 'two_block_cnnn' instead."),
    ]  # fmt: skip


@pytest.mark.parametrize("case", range(12))
def test_bad_data_and_architectures_are_one_line_before_anything_starts(case, tmp_path, toy_npz, capsys):  # fmt: skip
    flags, message = _data_cases(tmp_path, toy_npz)[case]
    out = tmp_path / "runs"
    assert bn_placement.main([*flags, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_resume_with_other_data_is_refused(tmp_path, toy_npz):
    data = tmp_path / "mine.npz"
    shutil.copyfile(toy_npz, data)
    out = tmp_path / "runs"
    spec = parse_spec(["--data", str(data), "--output-dir", str(out), "--name", "r1", "--lrs", "0.1"])  # fmt: skip
    assert spec.data == str(data) and len(spec.data_fingerprint) == 64 and spec.num_classes == 3
    (out / "r1").mkdir(parents=True)
    (out / "r1" / "sweep_spec.json").write_text(json.dumps(spec.to_dict()))
    resumed = parse_spec(["--output-dir", str(out), "--name", "r1", "--resume"])
    assert (resumed.data, resumed.data_shape, resumed.data_sizes) == (str(data), (8, 8), (540, 60, 300))  # fmt: skip
    arrays = dict(np.load(data))
    arrays["x_test"][0, 0, 0] ^= 1  # one pixel
    np.savez(data, **arrays)
    with pytest.raises(SpecError, match=r"--resume: the data at .* changed since run 'r1' started"):
        parse_spec(["--output-dir", str(out), "--name", "r1", "--resume"])
    with pytest.raises(SpecError, match=r"--resume: run 'r1' was started with another grid \(--data "):  # fmt: skip
        parse_spec(["--output-dir", str(out), "--name", "r1", "--resume", "--data", str(toy_npz)])
