# The CDK's standard-test hooks: they turn acceptance-test-config.yml into test scenarios.
pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]
