"""The local stack: the same system as the AWS deployment, on localhost, with no AWS account.

- `model_server`: answers the SageMaker container contract and the SageMaker runtime API
  around a `model.tar.gz`, running the artifact's own `code/inference.py`.
- `idp`: moto's cognito-idp in server mode with a user pool, an app client and a demo user.
- `gateway`: API Gateway REST stand-in: Cognito JWT authorizer, proxy events, the real
  Lambda handler in-process, API Gateway's size and timeout behaviour.
- `webserver`: serves `web/dist` with a local `config.json`.
- `up`: starts everything, waits until a prediction succeeds, writes `.local/stack.json`.
"""
