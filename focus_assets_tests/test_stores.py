"""The shape of the stores: `storage.base.Bucket` is an abstract interface every bucket implements
in full, and the Dagster resources only hold settings and hand out a bucket (`get_bucket()`)."""

import pytest
from dagster_aws.s3 import S3Resource

from focus_assets.resources.stores import LocalFolderStore, ObjectStore, OssStore, S3Store
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


def test_a_store_must_say_which_bucket_it_hands_out():
    with pytest.raises(TypeError, match="get_bucket"):
        ObjectStore()

    class NoBucket(ObjectStore):
        root: str

    with pytest.raises(TypeError, match="get_bucket"):
        NoBucket(root="x")


def test_each_store_hands_out_its_plain_bucket(tmp_path):
    oss = OssStore(endpoint="http://127.0.0.1:1", bucket="export", access_key_id="LTAI-x", access_key_secret="x")
    s3 = S3Store(s3=S3Resource(region_name="us-east-1"), bucket="raw", prefix="alibaba/")
    buckets = [LocalFolderStore(root=str(tmp_path)).get_bucket(), oss.get_bucket(), s3.get_bucket()]
    assert [type(b) for b in buckets] == [LocalFolder, OssBucket, S3Bucket]
    assert s3.get_bucket() is buckets[2]  # one client for the resource's life
    assert buckets[2].location("a.csv") == "s3://raw/alibaba/a.csv"
    assert oss.storage_options() is None and s3.storage_options()["aws_region"] == "us-east-1"
