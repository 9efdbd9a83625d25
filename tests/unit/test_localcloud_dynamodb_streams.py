"""DynamoDB Streams records of the local cloud: SizeBytes as AWS computes it."""

from __future__ import annotations

from ministack.services.dynamodb import _item_size_bytes

from localcloud.services.dynamodb.streams import record_size_bytes


def test_size_bytes_matches_the_lambda_guide_example_records():
    """https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html: the INSERT is 26 bytes, the MODIFY 59."""
    keys = {"Id": {"N": "101"}}
    insert = {"Keys": keys, "NewImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}}}
    modify = {
        "Keys": keys,
        "OldImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}},
        "NewImage": {"Message": {"S": "This item has changed"}, "Id": {"N": "101"}},
    }
    assert record_size_bytes(insert, _item_size_bytes) == 26
    assert record_size_bytes(modify, _item_size_bytes) == 59


def test_keys_only_record_counts_the_keys():
    assert record_size_bytes({"Keys": {"orderId": {"S": "o-1"}}, "SequenceNumber": "1"}, _item_size_bytes) == 10
