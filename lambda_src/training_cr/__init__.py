"""The training pipeline's Lambda handlers.

- `custom_resource.on_event`: the CloudFormation custom resources `Custom::DatasetImport`
  and `Custom::TrainingJob`. They start a SageMaker Processing or Training job and
  return at once; they never wait for it (a custom resource may wait one hour at most).
- `job_events.handler`: EventBridge "SageMaker … Job State Change" events. It applies
  the quality gate to a finished job and signals the CloudFormation WaitCondition that
  `cdk deploy` is waiting on (up to 12 hours).

Standard library plus boto3 only (both in the Lambda runtime), and the standard-library
`lesion_contract` package shipped beside it (the artifact's metadata reader), so the asset
needs no pip step.
"""
