"""Tests of data_scripts/download_datasets.py (offline: a local port, hand-placed archives)."""

import zipfile

import pytest

from tests.datasets.scripts import load_script

download_datasets = load_script("download_datasets")


# ----------------------------------------------------------------------------- downloader


def test_download_fails_at_once_offline_with_instructions(tmp_path, monkeypatch):
    spec = dict(download_datasets.DATASETS["nerf_synthetic"], url="http://127.0.0.1:9/x.zip")
    monkeypatch.setitem(download_datasets.DATASETS, "nerf_synthetic", spec)
    with pytest.raises(download_datasets.DownloadError) as err:
        download_datasets.fetch("nerf_synthetic", tmp_path / "data", timeout=1.0)
    message = str(err.value)
    assert "Cannot reach http://127.0.0.1:9/x.zip" in message
    assert "by hand" in message
    assert str((tmp_path / "data" / "nerf_synthetic.zip").resolve()) in message
    with pytest.raises(SystemExit, match="by hand"):
        download_datasets.main(["--root", str(tmp_path / "data"), "--datasets", "nerf_synthetic",
                                "--timeout", "1"])


def _offline(*args, **kwargs):
    raise AssertionError("the network must not be used")


def _fake_archive(path, name, scenes):
    marker = download_datasets.DATASETS[name]["marker"]
    with zipfile.ZipFile(path, "w") as zf:
        for s in scenes:
            zf.writestr(f"{name}/{s}/{marker}", "{}")
        zf.writestr("__MACOSX/._junk", "x")


def test_download_skips_a_complete_dataset_and_unpacks_a_hand_placed_zip(tmp_path, monkeypatch):
    monkeypatch.setattr(download_datasets, "check_online", _offline)
    monkeypatch.setattr(download_datasets, "_download", _offline)
    scenes = download_datasets.DATASETS["nerf_llff_data"]["scenes"]
    _fake_archive(tmp_path / "nerf_llff_data.zip", "nerf_llff_data", scenes)
    out = download_datasets.fetch("nerf_llff_data", tmp_path)
    assert download_datasets.is_complete(tmp_path, "nerf_llff_data")
    assert not (tmp_path / "__MACOSX").exists()
    assert (tmp_path / "nerf_llff_data.zip").exists()  # placed by hand: kept
    (tmp_path / "nerf_llff_data.zip").unlink()
    assert download_datasets.fetch("nerf_llff_data", tmp_path) == out  # idempotent: skipped
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_download_rejects_incomplete_or_corrupt_archives(tmp_path, monkeypatch):
    monkeypatch.setattr(download_datasets, "check_online", _offline)
    _fake_archive(tmp_path / "nerf_synthetic.zip", "nerf_synthetic", ["lego"])
    with pytest.raises(download_datasets.DownloadError, match=r"scene folder\(s\) \['chair'"):
        download_datasets.fetch("nerf_synthetic", tmp_path)
    (tmp_path / "nerf_synthetic.zip").write_bytes(b"<html>quota exceeded</html>")
    with pytest.raises(download_datasets.DownloadError, match="is not a zip archive"):
        download_datasets.fetch("nerf_synthetic", tmp_path)
