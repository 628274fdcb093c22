// Package scaletest drives boot requests by the hundred through the real
// `tuxboot controller` with its Kubernetes executor, a real kube-apiserver
// and kube-scheduler, nodes simulated by kwok, and an embedded NATS
// server, while faults are injected: the controller killed and restarted,
// NATS restarted, pods deleted, a node removed, a burst of requests. A
// stand-in for the runner plays each pod's part: it streams a recorded
// console, its events and heartbeats, and publishes a result, the way
// `tuxboot runner` does, after a configurable boot time.
//
// It counts what matters: requests lost, duplicate final results, boots
// run more than once without a fault to cause it, pods left behind; and
// measures scheduling latency, controller CPU and memory, API server
// requests and NATS messages per boot.
//
// `go test ./controller/scaletest` runs a CI-sized run; hack/scale.sh runs
// the full one (`-boots 500 -nodes 50`) and prints the report.
package scaletest
