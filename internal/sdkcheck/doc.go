// Package sdkcheck holds the tests that run the Go SDK (module
// github.com/astro-runner/astro-runner/sdk/go) against a real server: the
// API handler over a real store, with workers that run the executions. The
// tests live here, in the main module, because the SDK must not import
// anything under internal/ and so cannot start a server itself.
//
// The package has no code besides its tests.
package sdkcheck
