"""The Celery app's configuration follows the settings (a real broker round trip comes with jobs)."""
from settings import Settings
from worker import VISIBILITY_TIMEOUT_SECONDS, make_celery


def test_local_broker_lives_in_the_data_home(tmp_path):
    app = make_celery(Settings(home=tmp_path))
    options = app.conf.broker_transport_options
    assert app.conf.broker_url == "filesystem://"
    assert options["data_folder_in"] == options["data_folder_out"] == \
        str(tmp_path / "broker" / "queue")
    assert (tmp_path / "broker" / "control").is_dir()
    assert app.conf.worker_prefetch_multiplier == 1 and app.conf.task_acks_late


def test_redis_broker_gets_a_visibility_timeout_above_the_longest_job(tmp_path):
    app = make_celery(Settings(home=tmp_path, broker_url="redis://127.0.0.1:6379/0"))
    assert app.conf.broker_transport_options == {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS}
    assert app.conf.task_routes["beamlabel.gpu_job"] == {"queue": "gpu"}
