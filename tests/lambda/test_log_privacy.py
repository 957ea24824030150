"""No per-request result in the Lambda's logs (docs/security.md, "Logs").

A log line that holds the request id beside the label or the score would let anyone who can
read the logs rebuild "request X (user Y in the access log) was told malignant 0.83". The
label is counted by the Predictions metric instead, whose lines carry no request id.
"""

from __future__ import annotations

import json

from . import imagegen
from .conftest import invoke, make_event

# Scores no other number in the output would match by chance.
P_BENIGN, P_MALIGNANT = 0.172839, 0.827161


def _records(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_a_prediction_logs_neither_its_label_nor_its_scores(lambda_app, sagemaker, captured_output):
    # GIVEN an endpoint that answers malignant with recognisable scores
    sagemaker.state.scores = (P_BENIGN, P_MALIGNANT)
    event = make_event(imagegen.jpeg((96, 96)))

    # WHEN one image is classified
    answer = invoke(lambda_app, event)
    output = captured_output()

    # THEN the client got the label and the scores...
    assert answer.status == 200 and answer.body["label"] == "malignant", answer.body
    records = _records(output)
    logs = [r for r in records if "_aws" not in r]
    assert any(r.get("message") == "prediction" for r in logs), "no prediction log: proves nothing"
    # ...and no log record carries them
    for record in logs:
        text = json.dumps(record)
        for leaked in ('"label"', "malignant", "probabilities", "confidence", "0.827", "0.172"):
            assert leaked not in text, f"{leaked} in log record {record.get('message')!r}"


def test_the_label_metric_carries_no_request_id(lambda_app, sagemaker, captured_output):
    sagemaker.state.scores = (P_BENIGN, P_MALIGNANT)
    event = make_event(imagegen.jpeg((96, 96)))
    request_id = event["requestContext"]["requestId"]

    invoke(lambda_app, event)
    blobs = [r for r in _records(captured_output()) if "_aws" in r]

    labelled = [b for b in blobs if b.get("label") == "malignant"]
    assert labelled, "the Predictions metric was not emitted: the test would prove nothing"
    for blob in labelled:
        text = json.dumps(blob)
        assert request_id not in text
        assert "0.827" not in text and "0.172" not in text
