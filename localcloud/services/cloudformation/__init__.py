"""CloudFormation: stacks built and refused as AWS builds and refuses them (see docs/infrastructure-as-code.md)."""
