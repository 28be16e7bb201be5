"""Buckets without Dagster: a local folder, OSS through oss2, S3 through boto3, behind one
interface (`base.Bucket`), and the copy between two of them (`replication.py`).

The Dagster resources in `focus_assets/resources/stores.py` configure these; the Function Compute
handler in `deploy/function_compute/` uses them directly, so both copy with the same code. Import
the module you need (`storage.oss`, `storage.s3`, ...): each pulls in only its own client.
"""
