// Package oidc verifies JWTs minted by external OpenID Connect issuers
// (Kubernetes service-account tokens, GitHub Actions tokens, …) that are
// presented to wif's token service as client assertions.
//
// It has two halves:
//
//   - [KeySets] fetches and caches issuers' signing keys through OIDC
//     discovery. It is the only part that does I/O: bounded responses and
//     timeouts, single-flight refreshes, Cache-Control within bounds, a
//     rate-limited refetch on an unknown key id, and stale keys kept across an
//     issuer outage.
//   - [Parse], [Assertion.Verify] and [CheckTime] are pure: they decode a
//     compact JWS with go-jose against an algorithm allow-list, check its
//     signature with a given key and check its time claims against an
//     injected "now". wif's own access tokens are verified through them too
//     (package token).
//
// Audience, issuer and subject policy is not decided here; callers match the
// verified [Claims] against their federated credentials.
//
// Errors carry sentinels ([ErrFetch], [ErrKeyNotFound], [ErrMalformed], …) for
// callers to branch on with errors.Is. Error text never contains the token.
package oidc
