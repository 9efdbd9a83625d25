"""IAM: response shapes, and policy enforcement when the cloud runs with AUTH."""
