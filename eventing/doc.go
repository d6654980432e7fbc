// Package eventing holds the deployment manifests of Payment Pet Functions: Helm
// values for the OpenFaaS connectors (openfaas/), Knative Services and event sources
// (knative/), Strimzi topics (kafka/) and the CRD schemas they are validated against
// (schemas/). See docs/deploy.md.
//
// The package has no code of its own. Its tests are the single-source-of-truth
// check: every manifest must parse, match its CRD schema, and agree with stack.yml
// and with the functions' code on names, images, environment, topics, consumer
// groups, partitions and scale limits.
package eventing
