import json


def test_a_thing_and_its_policy(iot):
    iot.create_thing(thingName="lamp", attributePayload={"attributes": {"room": "kitchen"}})
    assert [t["thingName"] for t in iot.list_things()["things"]] == ["lamp"]

    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/lamp/*"}],
    }
    iot.create_policy(policyName="lamp-policy", policyDocument=json.dumps(policy))
    assert iot.get_policy(policyName="lamp-policy")["defaultVersionId"] == "1"


def test_each_test_starts_empty(iot):
    assert iot.list_things()["things"] == []
