"""The composition root: the `coursegraph` command, the dev launcher, the seed command and test-infrastructure
provisioning. It imports the subgraphs and rest-compat openly; nothing imports it but its own entry points."""
