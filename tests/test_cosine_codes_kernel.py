"""The compiled scoring kernel (ml.cosine_kernel) against numpy's product of the stored
vectors, the numpy and BLAS way it falls back to, and its compilation where no folder for
numba's cache can be written."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ml import cosine_codes
from ml.cosine_codes import encode, nearest_scores

TOLERANCE = 1e-6
KERNEL_SOURCE = Path(cosine_codes.__file__).with_name("cosine_kernel.py")


@pytest.fixture(autouse=True)
def small_blocks_and_tasks(monkeypatch):
    monkeypatch.setattr(cosine_codes, "BLOCK_VALUES", 128 * 16)
    monkeypatch.setattr(cosine_codes, "TASK_BLOCKS", 4)
    monkeypatch.setattr(cosine_codes, "THREADS", 2)


def unit(vectors):
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def coded_vectors(n, dim, seed=0):
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    vectors[::7] = 0  # zero rows score 0
    return encode(vectors)


def products(coded, queries):
    """Every row's highest cosine with a query, by numpy in float64."""
    return (coded.decode().astype(np.float64) @ queries.T.astype(np.float64)).max(axis=1)


@pytest.mark.parametrize("dim", [1, 13, 256, 500])
@pytest.mark.parametrize("queries", [1, 3, cosine_codes.FEW_QUERIES])
def test_compiled_scores_equal_the_products_of_the_stored_vectors(dim, queries):
    assert cosine_codes._kernel() is not None
    coded = coded_vectors(1001, dim)
    query = unit(np.random.default_rng(1).standard_normal((queries, dim)))
    scored = nearest_scores(coded, query)
    assert scored.dtype == np.float32
    assert np.allclose(scored, products(coded, query), atol=TOLERANCE)
    assert not scored[::7].any()


def test_equal_codes_score_equally_wherever_they_are():
    """Copies at the start, inside and at the ends of tasks and at the very end."""
    coded = coded_vectors(2100, 256)
    copies = np.array([0, 1, 63, 64, 511, 512, 1000, 2047, 2048, 2099])
    coded.codes[copies] = coded.codes[5]
    coded.scales[copies] = coded.scales[5]
    for queries in (1, 2, 5):
        query = unit(np.random.default_rng(queries).standard_normal((queries, 256)))
        scored = nearest_scores(coded, query)
        assert len(set(scored[copies].tolist())) == 1 and scored[copies[0]] == scored[5]


def test_queries_of_another_dimension_are_refused():
    coded = coded_vectors(10, 8)
    for queries in (np.ones((1, 9)), np.ones((2, 7)), np.ones(8), np.ones((1, 1, 8))):
        with pytest.raises(ValueError, match="features"):
            nearest_scores(coded, queries)


def test_numpy_and_blas_score_alike_where_the_kernel_cannot_be_compiled(monkeypatch):
    coded = coded_vectors(1001, 64)
    query = unit(np.random.default_rng(2).standard_normal((2, 64)))
    compiled = nearest_scores(coded, query)
    monkeypatch.setattr(cosine_codes, "_compiled", None)
    monkeypatch.setattr(cosine_codes, "_compile_failed", True)
    assert cosine_codes._kernel() is None
    assert np.allclose(nearest_scores(coded, query), compiled, atol=TOLERANCE)


FORK_WHILE_COMPILING = textwrap.dedent("""
    import os
    import signal
    import threading
    import numpy as np
    from ml import cosine_codes
    compiling = threading.Thread(target=cosine_codes._kernel)
    compiling.start()
    child = os.fork()
    if child == 0:
        signal.alarm(60)  # a child waiting for ever ends, failing the test
        coded = cosine_codes.encode(np.eye(3, dtype=np.float32))
        os._exit(0 if cosine_codes.scores(coded, np.eye(3)[1]).tolist() == [0, 1, 0] else 3)
    compiling.join()
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    child = os.fork()  # whose forks wait on its own lock, not the one its parent held
    if child == 0:
        signal.alarm(60)
        grandchild = os.fork()
        if grandchild == 0:
            os._exit(0)
        os.waitpid(grandchild, 0)
        os._exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
""")


def test_a_child_forked_while_the_kernel_compiles_compiles_it_too():
    """numba's compiler lock, held by a thread at the fork, would stop the child's compile."""
    root = Path(cosine_codes.__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", FORK_WHILE_COMPILING], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def read_only_mounts_work():
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "-m", "true"], capture_output=True,
                              timeout=30).returncode == 0
    except OSError:
        return False


COMPILE_AND_SCORE = textwrap.dedent("""
    import sys
    import numpy as np
    import cosine_kernel
    kernel = cosine_kernel.compile_kernel()
    codes = np.arange(12, dtype=np.int16).reshape(3, 4)
    out = np.empty(3, dtype=np.float32)
    kernel(codes, np.full(3, 0.5, np.float32), np.ones((1, 4), np.float32),
           np.empty(0, np.int32), out, 0, 3)
    assert out.tolist() == [3, 11, 19], out
    print(sum(kernel.stats.cache_hits.values()))
""")


@pytest.mark.skipif(not read_only_mounts_work(), reason="needs a mount namespace (root)")
def test_the_kernel_compiles_where_its_folder_and_the_users_cache_are_read_only(tmp_path):
    """Where the module's folder is read-only, numba caches the kernel in the user's cache
    folder; where that is read-only too, it is compiled each time, without a cache."""
    package, cache = tmp_path / "package", tmp_path / "cache"
    package.mkdir()
    cache.mkdir()
    shutil.copy(KERNEL_SOURCE, package)
    (package / "check.py").write_text(COMPILE_AND_SCORE)
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUMBA_")}
    env.update(XDG_CACHE_HOME=str(cache), PYTHONPATH=str(package))

    def run_read_only(*folders):
        mounts = "".join(f"mount --bind {f} {f} && mount -o remount,ro,bind {f} && "
                         for f in folders)
        done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                               f"{mounts}{sys.executable} {package / 'check.py'}"],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        return int(done.stdout.split()[-1])

    assert run_read_only(package, cache) == 0
    assert not any(cache.iterdir())
    assert run_read_only(package) == 0  # compiled, and cached in the user's folder
    assert any(cache.rglob("*.nbi")) and not (package / "__pycache__").exists()
    assert run_read_only(package) == 1  # loaded from there
