"""The data loader: real file, verified download with cache, offline generator."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from bentokit import contract, data
from bentokit.cache import CACHE_ENV
from bentokit.synthetic import generate_raw


def test_real_file_is_cleaned_as_the_course_does(real_csv):
    credit = data.load(real_csv)
    frame = credit.frame
    assert credit.sha256 == data.COURSE_SHA256
    assert len(frame) == 4454  # the one row of unknown status is dropped
    assert (frame.status == "default").sum() == 1254
    assert set(frame.columns) == {"status", *contract.FIELD_TYPES}
    for column, labels in contract.CATEGORIES.items():
        assert set(frame[column].unique()) <= set(labels)
    assert frame.income.isna().sum() == 34  # 99999999 became missing
    assert frame.income.max() < 1e6


def test_environment_variable_is_the_default_source(real_csv, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(real_csv))
    assert data.load().source == f"file {real_csv}"
    monkeypatch.delenv(data.DATA_ENV)
    assert data.load().source.startswith("generated")


def test_generator_is_deterministic_and_shaped_like_the_course_data():
    first, second = data.generated(), data.generated()
    assert first.sha256 == second.sha256
    assert first.frame.equals(second.frame)
    assert data.generated(seed=7).sha256 != first.sha256
    frame = first.frame
    assert len(frame) == 4454
    assert 0.2 < (frame.status == "default").mean() < 0.35
    for column, labels in contract.CATEGORIES.items():
        values = set(frame[column].unique())
        assert set(labels) - {"unk"} <= values <= set(labels)  # every label, nothing else
    assert frame.age.between(18, 68).all()
    assert frame.income.isna().any() and frame.assets.isna().any()


@pytest.fixture
def file_server(tmp_path):
    """A static HTTP server on 127.0.0.1 serving ``tmp_path/www``; yields its base URL."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_is_verified_cached_and_reused(file_server, tmp_path, monkeypatch):
    www, base = file_server
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    content = generate_raw(rows=50).to_csv(index=False).encode()
    (www / "CreditScoring.csv").write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()

    path = data.download(f"{base}/CreditScoring.csv", sha256=digest)
    assert path.read_bytes() == content and path.parent == tmp_path / "cache"
    (www / "CreditScoring.csv").unlink()  # a second call must not need the network
    assert data.download(f"{base}/CreditScoring.csv", sha256=digest) == path


def test_download_with_wrong_checksum_is_refused_and_not_cached(file_server, tmp_path, monkeypatch):
    www, base = file_server
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    (www / "CreditScoring.csv").write_text("Status,Seniority\n1,2\n")
    with pytest.raises(data.DataError, match="sha256.*not cached"):
        data.download(f"{base}/CreditScoring.csv")
    assert not any(cache.iterdir())


def test_download_failure_says_what_to_do(file_server, tmp_path, monkeypatch):
    _, base = file_server
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(data.DataError, match=data.DATA_ENV):
        data.download(f"{base}/missing.csv")


def test_download_source_uses_the_url_variable(file_server, tmp_path, monkeypatch, real_csv):
    www, base = file_server
    (www / "CreditScoring.csv").write_bytes(Path(real_csv).read_bytes())
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(data.URL_ENV, f"{base}/CreditScoring.csv")
    credit = data.load("download")
    assert credit.sha256 == data.COURSE_SHA256 and len(credit.frame) == 4454


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(data.DataError, match="no data file"):
        data.load(tmp_path / "nope.csv")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(data.DataError, match="columns"):
        data.load(other)
