"""An S3 static website: a bucket (tagged) whose objects everyone may read, and nothing else.

>>> url = publish_website(lab, "alice-frontend-123456789012",                    # doctest: +SKIP
...                       {"index.html": (b"<html>...", "text/html; charset=utf-8", "no-cache")})
'http://alice-frontend-123456789012.s3-website-us-east-1.amazonaws.com/'
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from helpers.aws.common import error_code, error_message, partition
from helpers.core.lab import Lab

__all__ = ["WebsiteFile", "publish_website", "website_url"]

# S3 website endpoints use "s3-website-<region>" in these regions, "s3-website.<region>" elsewhere.
# https://docs.aws.amazon.com/general/latest/gr/s3.html#s3_website_region_endpoints
_DASH_WEBSITE_REGIONS = frozenset(
    {
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "eu-west-1",
        "sa-east-1",
        "us-gov-west-1",
    }
)
WebsiteFile = tuple[bytes, str, str]  # (body, Content-Type, Cache-Control)


def website_url(lab: Lab, bucket: str) -> str:
    """The page's address: the bucket's S3 website endpoint on AWS (http only); on another
    endpoint (the local cloud, LocalStack) the object URL of ``index.html``."""
    if lab.target.is_aws:
        separator = "-" if lab.region in _DASH_WEBSITE_REGIONS else "."
        suffix = "amazonaws.com.cn" if lab.region.startswith("cn-") else "amazonaws.com"
        return f"http://{bucket}.s3-website{separator}{lab.region}.{suffix}/"
    return f"{str(lab.target.endpoint_url).rstrip('/')}/{bucket}/index.html"


def _public_read_policy(lab: Lab, bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicReadForTheOrderPage",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:{partition(lab.region)}:s3:::{bucket}/*",  # the objects, not the bucket
            }
        ],
    }


def _ensure_bucket(lab: Lab, bucket: str) -> None:
    s3 = lab.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as error:
        if error_code(error) not in ("404", "NoSuchBucket", "NotFound"):
            if error_code(error) in ("403", "AccessDenied"):
                raise RuntimeError(
                    f"Bucket {bucket} exists but this account cannot use it ({error_message(error)})"
                ) from error
            raise
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if lab.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": lab.region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as error:
        if error_code(error) == "BucketAlreadyOwnedByYou":
            return
        if error_code(error) == "BucketAlreadyExists":
            raise RuntimeError(f"The bucket name {bucket} is taken by another AWS account") from error
        raise


def publish_website(lab: Lab, bucket: str, files: dict[str, WebsiteFile]) -> str:
    """Serve ``files`` (``{key: (body, content type, cache control)}``) from the static-website bucket
    ``bucket``; return its URL.

    Converges on every call: bucket (tagged), Block Public Access relaxed for bucket *policies*
    only (ACLs stay blocked), website hosting with ``index.html``, a bucket policy allowing
    ``s3:GetObject`` on the objects to everyone (nothing else: no listing, no writes), then the files.
    """
    s3 = lab.client("s3")
    _ensure_bucket(lab, bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in lab.tags.items()]})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    try:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(_public_read_policy(lab, bucket)))
    except ClientError as error:
        if error_code(error) == "AccessDenied":
            raise RuntimeError(
                f"S3 refused the public-read policy on {bucket}: the account's Block Public Access setting "
                "probably forbids public bucket policies (S3 console → Block Public Access settings for this "
                f"account). {error_message(error)}"
            ) from error
        raise
    for key, (body, content_type, cache_control) in files.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, CacheControl=cache_control)
    return website_url(lab, bucket)
