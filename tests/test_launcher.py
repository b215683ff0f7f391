"""The ``beamlabel`` launcher as a user runs it: help, --data, --demo, its job worker."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import psutil
import tifffile

from settings import SETTINGS_TABLE
from tests.browser import ROOT, free_port


def launch(args, home: Path, roots: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(os.environ, BEAMLABEL_HOME=str(home), BEAMLABEL_DATA_ROOTS=str(roots))
    process = subprocess.Popen([sys.executable, "-m", "app", "--port", str(port), *args],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    return process, port


def first_line_and_stop(process: subprocess.Popen) -> str:
    try:
        return process.stdout.readline()
    finally:
        process.terminate()
        process.wait(timeout=20)


def get_json(port: int, path: str):
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
                return json.load(answer)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_help_documents_every_flag_and_setting():
    result = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    for flag in ("--host", "--port", "--data", "--demo", "serve"):
        assert flag in result.stdout
    for variable, flag, _meaning, _default in SETTINGS_TABLE:
        assert variable in result.stdout and flag in result.stdout


def test_data_flag_registers_the_folder_and_opens_it(tmp_path):
    folder = tmp_path / "beamtime"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"img_{i}.tif", np.full((16, 16), i, dtype=np.uint16))
    process, port = launch(["--data", str(folder)], tmp_path / "home", tmp_path / "elsewhere")
    try:
        datasets = get_json(port, "/api/v1/datasets")["datasets"]
        assert [(d["name"], d["item_count"]) for d in datasets] == [("beamtime", 3)]
    finally:
        line = first_line_and_stop(process)
    assert f"http://127.0.0.1:{port}/label?dataset={datasets[0]['id']}" in line


def test_demo_flag_creates_the_demo_data_set(tmp_path):
    process, port = launch(["--demo", "--demo-size", "30"], tmp_path / "home", tmp_path)
    try:
        datasets = get_json(port, "/api/v1/datasets")["datasets"]
    finally:
        first_line_and_stop(process)
    assert [(d["name"], d["item_count"]) for d in datasets] == [("demo", 30)]
    truth = (tmp_path / "home" / "demo" / "truth.csv").read_text().splitlines()
    assert truth[0] == "path,label" and len(truth) == 31


def test_folder_outside_the_roots_is_refused_before_start(tmp_path):
    result = subprocess.run([sys.executable, "-m", "app", "--data", str(tmp_path / "missing")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, BEAMLABEL_HOME=str(tmp_path / "home")))
    assert result.returncode == 2 and "does not exist" in result.stderr


def _worker_processes(launcher_pid: int) -> list:
    workers = []
    for child in psutil.Process(launcher_pid).children(recursive=True):
        try:
            if "celery" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.Error:  # gone, or a killed process nobody has reaped yet
            continue
    return workers


def _post_json(port: int, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def _job_when(port: int, job_id: int, done, seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    while not done(job := get_json(port, f"/api/v1/jobs/{job_id}")):
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    return job


def _launched_on_images(tmp_path: Path, count: int, side: int) -> tuple[subprocess.Popen, int, int]:
    """``beamlabel --data`` on a folder of ``count`` TIFFs: (launcher, port, data set id)."""
    folder = tmp_path / "beamtime"
    folder.mkdir()
    for i in range(count):
        tifffile.imwrite(folder / f"img_{i:02d}.tif", np.full((side, side), i, dtype=np.uint16))
    process, port = launch(["--data", str(folder)], tmp_path / "home", tmp_path)
    return process, port, get_json(port, "/api/v1/datasets")["datasets"][0]["id"]


def test_the_launcher_runs_jobs_on_its_own_worker_and_stops_it(tmp_path):
    process, port, dataset_id = _launched_on_images(tmp_path, 3, 16)
    try:
        workers = _worker_processes(process.pid)
        assert workers, "beamlabel started no worker"
        job_id = _post_json(port, "/api/v1/jobs", {"kind": "dataset_stats",
                                                   "dataset_id": dataset_id})["id"]
        job = _job_when(port, job_id, lambda job: job["status"] not in ("queued", "running"))
        assert job["status"] == "succeeded" and job["result"]["items"] == 3
    finally:
        first_line_and_stop(process)
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, f"worker processes left behind: {alive}"


def test_no_worker_flag_starts_none(tmp_path):
    process, port = launch(["--no-worker"], tmp_path / "home", tmp_path)
    try:
        get_json(port, "/api/v1/datasets")
        assert _worker_processes(process.pid) == []
    finally:
        first_line_and_stop(process)


def _start(tmp_path: Path, port: int, *args: str) -> subprocess.Popen:
    """``beamlabel ARGS`` on ``port``, set up as a shared server may be."""
    env = dict(os.environ, BEAMLABEL_HOME=str(tmp_path / "home"),
               BEAMLABEL_DATA_ROOTS=str(tmp_path), BEAMLABEL_SECRET_KEY="k" * 40,
               BEAMLABEL_SECURE_COOKIES="0")
    return subprocess.Popen([sys.executable, "-m", "app", *args, "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _answers(port: int) -> bool:
    """Whether a server answers on ``port`` at all (a refusal is an answer too)."""
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=2).close()
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def test_serve_stops_on_sigterm_and_starts_again_on_its_port(tmp_path):
    port = free_port()
    for attempt in range(2):  # the second start must find the port free again
        server = _start(tmp_path, port, "serve", "--workers", "1")
        deadline = time.monotonic() + 60
        while not _answers(port):
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, f"serve did not answer (start {attempt + 1})"
            time.sleep(0.3)
        family = [server.pid] + [child.pid for child in
                                 psutil.Process(server.pid).children(recursive=True)]
        server.terminate()  # SIGTERM, as a service manager stops it
        server.wait(timeout=30)
        gone, alive = psutil.wait_procs([psutil.Process(pid) for pid in family
                                         if psutil.pid_exists(pid)], timeout=10)
        assert not alive, f"processes of serve left running: {alive}"
        assert not _answers(port)


def test_a_port_in_use_is_said_before_starting(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        for command in (["--no-worker"], ["serve"]):
            process = _start(tmp_path, port, *command)
            output, _ = process.communicate(timeout=60)
            assert process.returncode == 2, output
            assert f"cannot listen on 127.0.0.1:{port}" in output and "--port" in output


def test_a_killed_worker_is_replaced_and_its_job_failed_with_the_reason(tmp_path):
    process, port, dataset_id = _launched_on_images(tmp_path, 16, 32)
    try:
        long_job = _post_json(port, "/api/v1/jobs", {
            "kind": "autoencoder_train", "dataset_id": dataset_id, "params": {
                "epochs": 1000, "image_size": [32, 32], "depth": 2, "base_channels": 8,
                "latent_dim": 8, "batch_size": 4, "val_share": 0.25}})["id"]
        _job_when(port, long_job, lambda job: job["status"] == "running")
        main_process, = [worker for worker in _worker_processes(process.pid)
                         if worker.ppid() == process.pid]
        main_process.kill()  # kill -9 of the worker's main process
        failed = _job_when(port, long_job, lambda job: job["status"] != "running", seconds=30)
        assert failed["status"] == "failed"
        assert "the job worker stopped (exit code -9)" in failed["error"]
        notice = get_json(port, "/api/v1/jobs")["worker_notice"]
        assert "a new worker was started" in notice and f"#{long_job}" in notice
        next_job = _post_json(port, "/api/v1/jobs", {"kind": "dataset_stats",
                                                     "dataset_id": dataset_id})["id"]
        done = _job_when(port, next_job, lambda job: job["status"] not in ("queued", "running"))
        assert done["status"] == "succeeded"
        workers = _worker_processes(process.pid)
    finally:
        first_line_and_stop(process)
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, f"worker processes left behind: {alive}"


def _private_redis(port: int) -> subprocess.Popen:
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return redis
        except OSError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)


def _call(port: int, method: str, path: str, body=None) -> tuple[int, bytes, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Remote-User": "alice"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read(), answer.headers.get_content_type()
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get_content_type()


def test_serve_keeps_answering_while_its_redis_is_down(tmp_path):
    """Broker and cache on a private Redis that stops and starts again under `serve`:
    thumbnails are still drawn (uncached), a job says the broker is down (JSON 503, the job
    failed with the reason), and once Redis is back jobs are queued again."""
    folder = tmp_path / "beamtime"
    folder.mkdir()
    for i in range(4):
        tifffile.imwrite(folder / f"img_{i}.tif", np.full((16, 16), i, dtype=np.uint16))
    redis_port, port = free_port(), free_port()
    redis = _private_redis(redis_port)
    env = {"BEAMLABEL_AUTH": "proxy", "BEAMLABEL_PROXY_USER_HEADER": "X-Remote-User",
           "BEAMLABEL_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
           "BEAMLABEL_CACHE_URL": f"redis://127.0.0.1:{redis_port}/1"}
    os.environ.update(env)  # for the user command and serve (restored below)
    server = None
    try:
        added = subprocess.run([sys.executable, "-m", "app", "user", "--home",
                                str(tmp_path / "home"), "add", "alice", "--role", "admin",
                                "--no-password"], cwd=ROOT, capture_output=True, text=True)
        assert added.returncode == 0, added.stderr
        server = _start(tmp_path, port, "serve", "--workers", "1")
        deadline = time.monotonic() + 60
        while not _answers(port):
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "serve did not answer"
            time.sleep(0.3)
        status, body, _ = _call(port, "POST", "/api/v1/datasets", {
            "name": "run", "source": {"kind": "directory", "path": str(folder)}})
        assert status == 201, body
        dataset_id = json.loads(body)["id"]
        while json.loads(_call(port, "GET", f"/api/v1/datasets/{dataset_id}")[1])[
                "status"] == "scanning":
            time.sleep(0.2)
        items = json.loads(_call(port, "GET", f"/api/v1/datasets/{dataset_id}/items")[1])["items"]
        assert _call(port, "GET", f"/thumbs/{items[0]['id']}.png")[0] == 200  # cached now

        redis.terminate()
        redis.wait(timeout=10)
        for item in items[:2]:  # one cached before, one never: both drawn
            status, body, kind = _call(port, "GET", f"/thumbs/{item['id']}.png")
            assert (status, kind) == (200, "image/png") and body.startswith(b"\x89PNG")
        status, body, kind = _call(port, "POST", "/api/v1/jobs", {
            "kind": "dataset_stats", "dataset_id": dataset_id})
        answer = json.loads(body)
        assert (status, kind) == (503, "application/json") and "broker" in answer["error"], body
        status, body, _ = _call(port, "GET", "/api/v1/jobs")
        job, = json.loads(body)["jobs"]
        assert status == 200 and job["status"] == "failed" and "broker" in job["error"]

        redis = _private_redis(redis_port)
        status, body, _ = _call(port, "POST", "/api/v1/jobs", {
            "kind": "dataset_stats", "dataset_id": dataset_id})
        assert status == 201 and json.loads(body)["status"] == "queued", body
    finally:
        for name in env:
            os.environ.pop(name)
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        redis.terminate()
        redis.wait(timeout=10)
