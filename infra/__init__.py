"""The CDK app's constructs, one per concern, composed by `infra.stack.RetailEtlStack`."""
