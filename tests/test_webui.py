"""The web UI's backend without a browser: forms from the schema and registries, the
config layer's messages by field, YAML (plugtune's and LLaMA-Factory's) into the form,
log tailing by offset, run discovery, refusals (a busy folder, code in a config, files
outside the runs folder, a missing token), a crashed run's last lines, stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from plugtune import Session, hookimpl
from plugtune.webui.compare import config_diff
from plugtune.webui.forms import check_config, form_spec, located_errors, read_yaml
from plugtune.webui.processes import Job
from plugtune.webui.runs import RunStore
from plugtune.webui.tailing import last_lines, read_from
from tests.helpers import wait_for
from tests.webui_helpers import kill_jobs, logged_steps, tiny_config

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from plugtune.webui.app import create_app  # noqa: E402


@pytest.fixture
def runs(tmp_path: Path):
    folder = tmp_path / "runs"
    yield folder
    kill_jobs(folder)


@pytest.fixture
def client(runs: Path) -> TestClient:
    return TestClient(create_app(runs))


class MyTrainer:
    """A third-party trainer: the form must list it with its options."""

    from pydantic import BaseModel

    class Options(BaseModel):
        beta: float = 0.5


class ThirdParty:
    @hookimpl
    def register_trainers(self, register):
        register("mine", MyTrainer)


def test_the_form_lists_every_registered_component_with_its_options():
    spec = form_spec(Session(plugins=[ThirdParty()]))
    trainers = {c["name"]: c for c in spec["components"]["trainers"]}
    assert {"sft", "dpo", "grpo", "mine"} <= set(trainers)
    assert trainers["mine"]["options"]["properties"]["beta"]["default"] == 0.5
    lora = next(c for c in spec["components"]["peft"] if c["name"] == "lora")
    assert lora["options"]["properties"]["r"]["default"] == 8
    assert spec["defaults"]["training"]["learning_rate"] == 1e-4
    assert "TrainingConfig" in spec["schema"]["$defs"]


def test_the_config_layers_messages_come_back_by_field():
    session = Session()
    bad = {"training": {"learning_rate": -1}, "trainr": {}, "peft": {"type": "lora", "r": 0},
           "trainer": "sftt"}
    errors = check_config(bad, session)["errors"]
    assert errors["training.learning_rate"] == "Input should be greater than 0"
    assert errors["trainr"] == "unknown key (did you mean 'trainer'?)"
    fixed = {**bad, "training": {"learning_rate": 1e-4}}
    del fixed["trainr"]
    assert check_config(fixed, session)["errors"] == {"peft.r": "Input should be greater than 0"}
    fixed["peft"] = "lora"
    errors = check_config(fixed, session)["errors"]
    assert list(errors) == ["trainer"] and "(did you mean 'sft'?)" in errors["trainer"]
    good = check_config({"training": {"max_steps": 3}}, session)
    assert good["ok"] and yaml.safe_load(good["yaml"]) == {"training": {"max_steps": 3}}


def test_component_options_are_located_under_their_section():
    message = "peft: peft 'lora': invalid configuration\n  r: Input should be greater than 0"
    assert located_errors(message) == {"peft.r": "Input should be greater than 0"}


@pytest.mark.parametrize("config", [{"trainer": "evil.py:train"},
                                    {"rewards": ["os:system"]},
                                    {"plugins": {"paths": ["evil.py"]}}])
def test_a_form_may_not_name_code(config):
    result = check_config(config, Session())
    assert not result["ok"]
    assert "code" in " ".join(result["errors"].values())


def test_loading_llamafactory_and_plugtune_yaml_fills_the_form():
    session = Session()
    lf = read_yaml("model_name_or_path: tiny://qwen2\nstage: sft\nfinetuning_type: lora\n"
                   "lora_rank: 4\ndataset: alpaca_en\nlearning_rate: 5.0e-5\n"
                   "output_dir: saves/x\n", session)
    assert lf["trainer"] == "sft" and lf["peft"]["r"] == 4
    assert lf["training"]["learning_rate"] == 5e-5 and lf["data"]["train"] == ["alpaca_en"]
    ours = read_yaml("training: {max_steps: 7}\n", session)
    assert ours["training"]["max_steps"] == 7
    with pytest.raises(Exception, match="the YAML: invalid configuration"):
        read_yaml("trainng: {}\n", session)


def test_the_data_preview_marks_the_trained_tokens(client):
    result = client.post("/api/preview", json=tiny_config()).json()
    assert result["template"] == "qwen2"
    first = result["examples"][0]
    trained = "".join(text for text, is_trained in first["pieces"] if is_trained)
    untrained = "".join(text for text, is_trained in first["pieces"] if not is_trained)
    assert trained.startswith("LoRA trains") and "What is LoRA?" in untrained
    assert result["stats"]["train"]["records"] == 12
    refused = client.post("/api/preview", json={"trainer": "evil.py:train"})
    assert refused.status_code == 422 and "is code" in refused.text


def test_the_log_tail_reads_only_what_was_appended(tmp_path):
    log = tmp_path / "trainer_log.jsonl"
    log.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n{"step": 3, "lo')
    first = read_from(log)
    assert [e["step"] for e in first.entries] == [1, 2]
    assert first.offset == log.read_bytes().index(b'{"step": 3')  # the half line waits
    with log.open("a") as handle:
        handle.write('ss": 1.2}\n')
    second = read_from(log, first.offset)
    assert [e["step"] for e in second.entries] == [3]
    assert read_from(log, second.offset).entries == []
    log.write_text('{"step": 1}\n')  # a new run replaced the file: read from the start
    assert [e["step"] for e in read_from(log, second.offset).entries] == [1]
    assert read_from(tmp_path / "missing.jsonl", 5).offset == 0


def test_last_lines_reads_the_end_of_a_log(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(10_000)))
    assert last_lines(log, 2) == ["line 9998", "line 9999"]


def test_runs_are_found_again_from_the_folder(runs):
    trained = runs / "by-the-cli"
    trained.mkdir(parents=True)
    (trained / "run_config.yaml").write_text(yaml.safe_dump({"training": {"max_steps": 5}}))
    (trained / "all_results.json").write_text("{}")
    (trained / "trainer_log.jsonl").write_text('{"step": 5, "loss": 1.0}\n')
    (runs / "not-a-run").mkdir()
    client = TestClient(create_app(runs))  # a new server: nothing in memory
    listed = client.get("/api/runs").json()
    assert [run["name"] for run in listed] == ["by-the-cli"]
    assert listed[0]["status"] == "finished" and listed[0]["max_steps"] == 5
    assert client.get("/api/runs/by-the-cli/log?offset=0").json()["entries"][0]["loss"] == 1.0


def test_two_runs_may_not_write_one_folder(client, runs):
    store = RunStore(runs.resolve())
    busy = store.job("taken")
    busy.start(["http.server", "0", "--bind", "127.0.0.1"])  # stands for a training run
    (store.meta("taken") / "webui_config.yaml").write_text("{}")
    wait_for(lambda: busy.status() == "running", what="the job to run")
    answer = client.post("/api/runs", json={"name": "taken", "config": tiny_config()})
    assert answer.status_code == 409 and "two runs may not write one folder" in answer.text
    (runs / "full").mkdir()
    (runs / "full" / "run_config.yaml").write_text("{}")
    answer = client.post("/api/runs", json={"name": "full", "config": tiny_config()})
    assert answer.status_code == 409 and "exists already" in answer.text


def test_several_processes_launch_through_accelerate(runs, monkeypatch):
    started = []
    monkeypatch.setattr(Job, "start", lambda job, arguments: started.append(arguments))
    RunStore(runs).launch("ddp", tiny_config(), processes=2)
    config = str(runs / ".webui" / "ddp" / "webui_config.yaml")
    assert started == [["accelerate.commands.launch", "--num_processes", "2", "-m",
                        "plugtune", "train", config]]
    launched = yaml.safe_load(Path(config).read_text())
    assert launched["output"]["dir"] == str(runs / "ddp")


@pytest.mark.slow
def test_stop_interrupts_the_job_and_says_so(runs):
    job = Job(runs / ".webui" / "x", "train")
    job.start(["http.server", "0", "--bind", "127.0.0.1"])
    wait_for(lambda: "Serving HTTP" in job.log_path.read_text(), what="the job to start")
    assert job.stop()
    assert wait_for(lambda: job.status() == "stopped", what="the job to stop")
    assert json.loads(job.record_path.read_text())["returncode"] is not None
    assert not job.stop()


def _ended(client: TestClient, name: str) -> dict:
    return wait_for(lambda: (r := client.get(f"/api/runs/{name}").json())["status"]
                    != "running" and r, 180, f"run {name} to end")


@pytest.mark.slow
def test_stop_saves_a_checkpoint_where_it_stopped_and_resume_finishes_the_run(client, runs):
    from plugtune.training.run.checkpoints import latest_complete

    # Steps enough that the run cannot end before Stop; save_steps never reached, so
    # the only checkpoint is the one Stop makes.
    config = tiny_config(max_steps=500, save_steps=1000)
    assert client.post("/api/runs", json={"name": "halt", "config": config}).json()["ok"]
    folder = runs / "halt"
    wait_for(lambda: len(logged_steps(folder)) >= 3, 180, "three logged steps")
    assert client.post("/api/runs/halt/stop").json() == {"stopped": True}
    run = _ended(client, "halt")
    stopped_at = max(logged_steps(folder))
    assert run["status"] == "stopped" and 3 <= stopped_at < 500
    assert run["checkpoints"] == [f"checkpoint-{stopped_at}"]
    assert latest_complete(folder) == folder / f"checkpoint-{stopped_at}"
    assert not (folder / "all_results.json").exists()  # stopped: no final weights, no eval
    log = (runs / ".webui" / "halt" / "webui_train.log").read_text()
    assert f"stopped by SIGINT at step {stopped_at}" in log
    launched = runs / ".webui" / "halt" / "webui_config.yaml"  # a short rest to resume
    launched.write_text(launched.read_text().replace("max_steps: 500",
                                                     f"max_steps: {stopped_at + 2}"))
    assert client.post("/api/runs/halt/resume").json() == {"resumed": True}
    assert _ended(client, "halt")["status"] == "finished"
    steps = logged_steps(folder)
    assert steps[stopped_at:] == [stopped_at + 1, stopped_at + 2]  # not one step again
    assert (folder / "adapter_config.json").is_file()


@pytest.mark.slow
def test_a_run_that_crashes_shows_its_last_lines(client):
    config = tiny_config()
    config["data"]["train"] = ["/nonexistent/data.jsonl"]
    answer = client.post("/api/runs", json={"name": "crash", "config": config})
    assert answer.status_code == 200 and answer.json()["ok"]
    run = _ended(client, "crash")
    assert run["status"] == "failed"
    assert any("/nonexistent/data.jsonl" in line for line in run["last_lines"])


def test_an_invalid_launch_is_not_started(client, runs):
    answer = client.post("/api/runs", json={"name": "bad", "config": {"training": {
        "learning_rate": 0}}})
    assert answer.json()["errors"] == {"training.learning_rate": "Input should be greater than 0"}
    assert not (runs / "bad").exists() and client.get("/api/runs").json() == []


@pytest.mark.parametrize("path", ["..%2F..%2Fetc%2Fpasswd", "../../etc/passwd",
                                  "%2Fetc%2Fpasswd", "link/passwd"])
def test_no_file_outside_the_run_is_served(client, runs, path):
    run = runs / "r"
    run.mkdir()
    (run / "run_config.yaml").write_text("{}")
    (run / "link").symlink_to("/etc")
    assert client.get(f"/api/runs/r/files/{path}").status_code in (404, 422)
    assert client.get("/api/runs/..%2F..%2Fetc/files/passwd").status_code in (404, 422)
    assert client.get("/api/runs/r/files/run_config.yaml").text == "{}"


def test_a_token_guards_the_api_but_not_the_page(runs):
    guarded = TestClient(create_app(runs, token="s3cret"))
    assert guarded.get("/api/runs").status_code == 401
    assert guarded.get("/api/runs", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert guarded.get("/api/runs", headers={"Authorization": "Bearer s3cret"}).json() == []
    assert guarded.get("/").status_code == 200
    assert "<script" in guarded.get("/").text


def test_configs_are_diffed_where_they_differ():
    rows = config_diff({"a": {"training": {"seed": 1, "max_steps": 3}, "output": {"dir": "a"}},
                        "b": {"training": {"seed": 2, "max_steps": 3}, "output": {"dir": "b"},
                              "trainer": "dpo"}})
    assert rows == [{"key": "trainer", "values": {"a": None, "b": "dpo"}},
                    {"key": "training.seed", "values": {"a": 1, "b": 2}}]


def test_the_command_is_registered_and_binds_locally_by_default():
    from plugtune.cli import cli

    result = CliRunner().invoke(cli, ["webui", "--help"])
    assert result.exit_code == 0, result.output
    assert "127.0.0.1" in result.output and "--runs" in result.output


def test_the_static_files_ship_with_the_package():
    from plugtune.webui.app import STATIC

    assert {"index.html", "app.js", "chart.js", "style.css"} <= {p.name for p in STATIC.iterdir()}
