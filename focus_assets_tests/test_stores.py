"""The shape of the stores: `storage.base.Bucket` is an abstract interface every bucket implements in full."""

import pytest

from focus_assets.storage.base import Bucket, StorageError
from focus_assets.storage.local import LocalFolder
from focus_assets.storage.oss import OssBucket
from focus_assets.storage.s3 import S3Bucket

ABSTRACT = {"list_objects", "list_folders", "head", "local_copy", "upload", "delete", "describe", "location"}


def test_a_bucket_missing_a_method_of_the_interface_cannot_be_made():
    assert Bucket.__abstractmethods__ == ABSTRACT

    class ListingOnly(Bucket):
        def list_objects(self, prefix="", etags=True):
            return []

    with pytest.raises(TypeError, match="abstract method"):
        ListingOnly()


def test_every_bucket_implements_the_interface(tmp_path):
    buckets = [LocalFolder(tmp_path), OssBucket("http://127.0.0.1:1", "export", "LTAI-x", "x"), S3Bucket(None, "raw")]
    assert all(isinstance(b, Bucket) for b in buckets)
    assert buckets[1].location("a.csv") == "oss://export/a.csv"
    with pytest.raises(StorageError, match="only read"):  # Alibaba's export bucket: never deleted from
        buckets[1].delete("a.csv")
