// Package gateway is directsms's only HTTP package: the router, its middleware (recovery,
// request logs, metrics, body limits, bearer authentication), the one table that maps domain
// errors to statuses, the handlers by resource, and, in its sub-packages, each carrier's webhook
// decoding, signature checks and send client. It calls the domain packages and is imported only
// by cmd.
package gateway
