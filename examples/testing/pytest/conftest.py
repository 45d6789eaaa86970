"""Fixtures for testing an AWS IoT application against Thicket.

Start the server once (in CI, before the tests):
    npx thicket serve --test-mode --dev --data-dir .thicket-test
It writes its admin key to .thicket-test/credentials (AWS credentials-file format) on first start.
"""
import json
import os
import urllib.request

import boto3
import pytest

ENDPOINT = os.environ.get("THICKET_ENDPOINT", "http://127.0.0.1:8080")
os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.path.join(os.environ.get("THICKET_DATA_DIR", ".thicket-test"), "credentials"))


@pytest.fixture(scope="session")
def iot():
    """The control plane, through the official SDK."""
    return boto3.client("iot", endpoint_url=ENDPOINT, region_name="us-east-1")


@pytest.fixture(autouse=True)
def fresh_thicket():
    """Every test starts from an empty server: no things, certificates, policies, sessions or retained messages."""
    with urllib.request.urlopen(urllib.request.Request(f"{ENDPOINT}/_thicket/reset", method="POST")) as res:
        assert json.load(res)["reset"] is True
    yield
