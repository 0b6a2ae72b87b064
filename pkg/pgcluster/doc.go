// Package pgcluster runs a private PostgreSQL cluster from the server's own
// binaries: initdb into a directory when it is empty, then the postmaster as
// a child process on a loopback port. It runs them as the postgres user when
// the caller is root (initdb refuses root), and asks the kernel to stop the
// server when the process that started it dies, so a killed test binary or
// local stack leaves no server behind.
//
// It is for tests (pkg/testkit) and the local stack (make run). Production
// databases are provisioned by their operators, never by this package.
package pgcluster
