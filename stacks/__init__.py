"""The CDK app's stack, its constructs and its typed configuration."""
