// Package layout holds the test that enforces the dependency rules of
// docs/architecture.md: reconciler, nodeagent, proxy, dns and gitsync never
// import each other or the state store; cmd connects them.
package layout
