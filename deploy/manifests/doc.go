// Package manifests checks linkcredit's deployments without a cluster or a
// container engine, the way the tools that would apply them read them:
//
//   - Build renders a kustomize directory (k8s/overlays/*) with kustomize's
//     own library, as `kubectl apply -k` would;
//   - Decoder decodes every built-in object strictly into the Kubernetes Go
//     types (an unknown or duplicate field is an error) and validates every
//     custom resource against its upstream CRD: the structural schema,
//     pruning (unknown fields), defaults, and the CEL rules, as the API
//     server does;
//   - LoadCompose loads docker-compose.yml with compose-go, as
//     `docker compose` does;
//   - PodEnv and ComposeEnv work out the exact environment a container gets,
//     and Start runs a linkcredit binary with it (in a network namespace of
//     its own where the kernel allows, so nothing it dials is reachable);
//   - ParseDockerfile reads deploy/Dockerfile, so its go build can be run
//     with the same flags.
//
// What none of this checks: that images pull, that operators reconcile the
// resources, that pods schedule, that a NetworkPolicy is enforced, or that
// the containers in docker-compose.yml start. docs/operations.md says so.
//
// The CRDs are vendored, byte for byte, under testdata/crds (see its
// README for the upstream versions and blob ids).
package manifests
