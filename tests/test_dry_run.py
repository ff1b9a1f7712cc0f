"""The dry run's checks of what a run will read: data files, the model path, the reward function.

Each case edits one key of the packaged config (composed by hydra) and calls the check the dry run calls.
"""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from abc_grpo_verl.validation import ConfigError, check_resources
from tests.hydra_apps import compose, write_dataset


@pytest.fixture
def config(tmp_path):
    """A config whose data files, model directory and reward function all exist."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    train, val = write_dataset(tmp_path / "train.parquet"), write_dataset(tmp_path / "val.parquet")
    return compose("abc_grpo_trainer", [f"data.train_files=[{train}]", f"data.val_files={val}",
                                        f"actor_rollout_ref.model.path={model}",
                                        "reward.custom_reward_function.path=pkg://abc_grpo_verl.reward"])


def checked(config, **changes):
    """check_resources after setting each ``a__b=value`` as ``a.b`` (changes stay in `config`)."""
    for key, value in changes.items():
        OmegaConf.update(config, key.replace("__", "."), value, force_add=True)
    return check_resources(config)


def test_a_complete_config_passes_with_no_notice(config):
    assert checked(config) == []


def test_missing_data_file_names_the_key_and_the_path(config, tmp_path):
    with pytest.raises(ConfigError, match=rf"data.val_files: {tmp_path}/nope/val.parquet does not exist \(no "
                                          rf"directory {tmp_path}/nope\)"):
        checked(config, data__val_files=str(tmp_path / "nope" / "val.parquet"))


@pytest.mark.parametrize("key", ["data__train_files", "data__val_files", "actor_rollout_ref__model__path"])
def test_a_home_relative_path_is_refused_because_verl_does_not_expand_it(config, tmp_path, monkeypatch, key):
    """`~/...` names a directory called `~` for verl, even where the file exists under $HOME."""
    monkeypatch.setenv("HOME", str(tmp_path))
    value = "~/model" if "model" in key else "~/train.parquet"
    with pytest.raises(ConfigError) as error:
        checked(config, **{key: value})
    assert str(error.value) == (f"{key.replace('__', '.')}: {value} starts with ~, which verl does not expand (it "
                                "opens the path as written); give the full path (in the shell, $HOME/... is expanded "
                                "before verl sees it)")


def test_columns_verl_needs(config, tmp_path):
    path = write_dataset(tmp_path / "partial.parquet", columns={"prompt", "data_source"})
    with pytest.raises(ConfigError) as error:
        checked(config, data__train_files=[str(path)])
    assert str(error.value) == (f"data.train_files: {path} lacks the column(s) verl needs: reward_model (a struct "
                                "with ground_truth, read by verl's reward managers); it has ['data_source', 'prompt']")
    # a reward model scores without a ground truth
    assert checked(config, data__train_files=[str(path)], reward__reward_model__enable=True) == []


def test_the_prompt_key_is_configurable_and_must_hold_messages(config, tmp_path):
    with pytest.raises(ConfigError, match="lacks the column\\(s\\) verl needs: question \\(data.prompt_key"):
        checked(config, data__prompt_key="question")
    path = tmp_path / "flat.parquet"
    pq.write_table(pa.table({"prompt": ["What is 1 + 1?"], "data_source": ["x"],
                             "reward_model": [{"ground_truth": "2"}]}), path)
    with pytest.raises(ConfigError, match="column 'prompt' must hold a list of chat messages"):
        checked(config, data__train_files=[str(path)], data__prompt_key="prompt")


def test_ground_truth_inside_reward_model(config, tmp_path):
    path = tmp_path / "no_truth.parquet"
    pq.write_table(pa.table({"prompt": [[{"role": "user", "content": "hi"}]], "data_source": ["x"],
                             "reward_model": [{"style": "rule"}]}), path)
    with pytest.raises(ConfigError, match="lacks the column\\(s\\) verl needs: reward_model.ground_truth"):
        checked(config, data__train_files=[str(path)])


def test_unreadable_and_unsupported_files(config, tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not a parquet file")
    with pytest.raises(ConfigError, match=f"data.train_files: {broken} is not readable as parquet: "):
        checked(config, data__train_files=[str(broken)])
    csv = tmp_path / "data.csv"
    csv.write_text("a,b\n")
    with pytest.raises(ConfigError, match=r"is not a file verl's RLHFDataset reads \(valid: .parquet, .json, .jsonl\)"):
        checked(config, data__train_files=[str(csv)])
    with pytest.raises(ConfigError, match="data.train_files is empty"):
        checked(config, data__train_files=[])


def test_json_lines(config, tmp_path):
    good = tmp_path / "rows.jsonl"
    good.write_text(json.dumps({"prompt": [{"role": "user", "content": "hi"}], "data_source": "x",
                                "reward_model": {"ground_truth": "1"}}) + "\n")
    assert checked(config, data__train_files=[str(good)]) == []
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(ConfigError, match=f"{bad} is not readable as jsonl"):
        checked(config, data__train_files=[str(bad)])


def test_what_cannot_be_checked_from_here_is_a_notice(config, tmp_path):
    notices = checked(config, data__train_files=["hdfs://cluster/data/train.parquet"],
                      actor_rollout_ref__model__path="Qwen/Qwen3-8B", data__custom_cls__path=str(tmp_path / "ds.py"),
                      reward__custom_reward_function__path=None)
    assert notices == [
        f"data.custom_cls.path={tmp_path / 'ds.py'}: the data files' columns are not checked",
        "data.train_files: hdfs://cluster/data/train.parquet is remote; not checked from here",
        "actor_rollout_ref.model.path=Qwen/Qwen3-8B is not a local path: loaded from the Hugging Face hub (or its "
        "cache), not checked",
        "reward.custom_reward_function.path=null: verl's built-in scorer, chosen by each row's data_source",
    ]


def test_model_path(config, tmp_path):
    with pytest.raises(ConfigError, match=f"actor_rollout_ref.model.path={tmp_path}/missing does not exist"):
        checked(config, actor_rollout_ref__model__path=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=f"actor_rollout_ref.model.path={tmp_path} is not a Hugging Face model "
                                          "directory \\(no config.json in it\\)"):
        checked(config, actor_rollout_ref__model__path=str(tmp_path))


def test_reward_function(config, tmp_path):
    with pytest.raises(ConfigError, match=f"reward.custom_reward_function.path={tmp_path}/score.py with "
                                          "name=compute_score does not load: FileNotFoundError"):
        checked(config, reward__custom_reward_function__path=str(tmp_path / "score.py"))
    with pytest.raises(ConfigError, match="name=score does not load: AttributeError"):
        checked(config, reward__custom_reward_function__path="pkg://abc_grpo_verl.reward",
                reward__custom_reward_function__name="score")
    script = tmp_path / "constant.py"
    script.write_text("compute_score = 1.0\n")
    with pytest.raises(ConfigError, match=f"compute_score in {script} is a float, not a function"):
        checked(config, reward__custom_reward_function__path=str(script),
                reward__custom_reward_function__name="compute_score")


@pytest.mark.parametrize("key", ["data__train_files", "data__val_files"])
@pytest.mark.parametrize(("name", "content"), [("empty.parquet", None), ("empty.jsonl", "\n"), ("empty.json", "[]"),
                                              ("spaced.json", "[ ]"), ("split.json", "[\n]\n")])
def test_a_data_file_without_rows_is_refused(config, tmp_path, key, name, content):
    path = tmp_path / name
    if content is None:
        pq.write_table(pa.table({"prompt": pa.array([], pa.list_(pa.struct([("role", pa.string())]))),
                                 "data_source": pa.array([], pa.string())}), path)
    else:
        path.write_text(content)
    with pytest.raises(ConfigError) as error:
        checked(config, **{key: str(path)})
    what = "train on" if key == "data__train_files" else "validate on"
    assert str(error.value) == f"{key.replace('__', '.')}: {path} holds no rows: verl would have nothing to {what}"
