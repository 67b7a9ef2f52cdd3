"""The store's key pairs after an r2_keys rotation and the revoke hook: the new pair lists
the repository, the old one is refused.

Run by the r2_keys rotation fault from the controller. Environment: PGFLEET_S3_ENDPOINT
(host or address of the store), PGFLEET_S3_CA (its CA file), PGFLEET_BUCKET,
PGFLEET_PREFIX (the repository path), and the files holding each pair: PGFLEET_NEW_KEY,
PGFLEET_NEW_SECRET, PGFLEET_OLD_KEY, PGFLEET_OLD_SECRET.
"""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("PGFLEET_S3_ENDPOINT", "")

pytestmark = pytest.mark.skipif(not ENDPOINT, reason="needs a lab store (PGFLEET_S3_ENDPOINT)")


def client(key_var: str, secret_var: str):
    return boto3.client(
        "s3",
        endpoint_url=f"https://{ENDPOINT}",
        region_name="auto",
        aws_access_key_id=Path(os.environ[key_var]).read_text().strip(),
        aws_secret_access_key=Path(os.environ[secret_var]).read_text().strip(),
        verify=os.environ["PGFLEET_S3_CA"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def listing(s3):
    prefix = os.environ.get("PGFLEET_PREFIX", "").strip("/") + "/"
    return s3.list_objects_v2(Bucket=os.environ["PGFLEET_BUCKET"], Prefix=prefix, MaxKeys=5)


def test_the_new_pair_lists_the_repository():
    assert listing(client("PGFLEET_NEW_KEY", "PGFLEET_NEW_SECRET")).get("KeyCount", 0) > 0


def test_the_old_pair_is_refused():
    with pytest.raises(ClientError) as refused:
        listing(client("PGFLEET_OLD_KEY", "PGFLEET_OLD_SECRET"))
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] in (401, 403)
